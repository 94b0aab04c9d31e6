import RelayWire
import UVNet

/// The control connection a membership reports to, by its number (``ControlConnection/id``):
/// data-plane loops never hold a control loop's object. 0 means none (benchmarks, fuzzers).
typealias ConnectionID = UInt64

/// One membership of a session: its id, token, UDP binding and per-sender forwarding state.
///
/// Loop-bound to the session's owner loop, like everything its datagrams touch. The replay
/// window, LATEST filter and rate limiter live here so the per-datagram path needs one lookup.
final class Member {
    /// The 16-bit id, unique and never reused within the session.
    let id: UInt16
    /// The name given at join (at most 64 UTF-8 bytes).
    let name: String
    /// The secret that authorises BINDs for this membership.
    let token: MemberToken
    /// The session this membership belongs to.
    unowned let session: Session
    /// The control connection that joined, which receives this member's events.
    let connection: ConnectionID
    /// Whether the member joined over a WebSocket, which is its endpoint for good (PROTOCOL.md
    /// §7): it never has a UDP ``binding``, and a datagram naming it over UDP is a mismatch.
    let isStream: Bool

    // Per-datagram state, touched only by the owner loop; its dynamic exclusivity checks would
    // cost more than the rest of the bookkeeping, so they are off.

    /// The proven UDP address, or nil before the first BIND and after an idle unbind. Set it
    /// through ``SessionTable/setBinding(_:to:)``, which keeps the routes and the count current.
    var binding: SocketAddress?
    /// When a datagram last refreshed the binding (the owner loop's clock, nanoseconds).
    @exclusivity(unchecked) var lastSeen: UInt64 = 0
    /// Sequences forwarded recently (PROTOCOL.md §2.3, `duplicate`).
    @exclusivity(unchecked) var replay = ReplayWindow()
    /// The newest LATEST sequence forwarded (`stale`).
    @exclusivity(unchecked) var latest = LatestFilter()
    /// The member's packet and byte buckets.
    @exclusivity(unchecked) var limiter: MemberRateLimiter
    /// Cookie-carrying BIND_ACKs sent recently: at most 10 in any second.
    var cookieAnswers = SlidingWindowLimit(windowNanos: 1_000_000_000)
    /// The member's state waiting for the next tick, in a tick session (PROTOCOL.md §8); nil in
    /// a session that forwards every datagram at once. Made at join, so it lives and dies with
    /// the membership.
    let pending: PendingState?

    init(id: UInt16, name: String, token: MemberToken, session: Session, connection: ConnectionID,
         isStream: Bool = false, config: RelayConfig, nowNanos: UInt64) {
        self.isStream = isStream
        self.id = id
        self.name = name
        self.token = token
        self.session = session
        self.connection = connection
        pending = session.tickRate == nil ? nil : PendingState(capacity: config.maxAggregatedState)
        limiter = MemberRateLimiter(packetsPerSecond: Double(config.memberPacketRate),
                                    bytesPerSecond: Double(config.memberByteRate), nowNanos: nowNanos)
    }

    /// Where the member receives: its WebSocket, or its proven UDP address (nil before a BIND).
    var endpoint: Endpoint? {
        isStream ? .stream(connection) : binding.map(Endpoint.udp)
    }

    /// The table key: the session's low 32 bits and the member id, as in the datagram header.
    var key: UInt64 { Member.key(session: session.id.low32, member: id) }

    /// Packs a datagram's `(session, member)` into one dictionary key.
    @inline(__always)
    static func key(session: UInt32, member: UInt16) -> UInt64 {
        UInt64(session) << 16 | UInt64(member)
    }
}
