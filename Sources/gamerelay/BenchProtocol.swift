import ArgumentParser

/// The protocol `gamerelay bench` speaks to the relay under test (`--protocol`).
enum BenchProtocol: String, ExpressibleByArgument, CaseIterable, Sendable {
    /// GameRelay's own protocol: a control connection per member, DATA fanned out by the relay.
    case gamerelay
    /// TURN over UDP (RFC 8656): an allocation per member and one ChannelData per receiver.
    case turn
}

/// Where a TURN sender's channels lead (`--turn-peers`): how many times each delivery crosses the server.
enum TurnPeers: String, ExpressibleByArgument, CaseIterable, Sendable {
    /// To each receiver's plain UDP socket: the server relays each datagram once (one receive,
    /// one send), as when the receiving peer is reachable directly.
    case direct
    /// To each receiver's own relayed address: every delivery crosses the server twice (the
    /// sender's allocation to the receiver's, then out to the receiver), as when both peers
    /// are behind TURN.
    case relayed
}
