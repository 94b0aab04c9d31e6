import ArgumentParser

/// The protocol `gamerelay bench` speaks to the relay under test (`--protocol`).
enum BenchProtocol: String, ExpressibleByArgument, CaseIterable, Sendable {
    /// GameRelay's own protocol: a control connection per member, DATA fanned out by the relay.
    case gamerelay
    /// TURN over UDP (RFC 8656): an allocation per member and one ChannelData per receiver.
    case turn
}
