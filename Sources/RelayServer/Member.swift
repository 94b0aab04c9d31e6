import RelayWire
import UVNet

/// One membership of a session: its id, token, UDP binding and per-sender forwarding state.
///
/// Loop-bound to the relay's loop. The replay window, LATEST filter and rate limiter live here so
/// the per-datagram path needs one lookup.
final class Member {
    /// The 16-bit id, unique and never reused within the session.
    let id: UInt16
    /// The name given at join (at most 64 UTF-8 bytes).
    let name: String
    /// The secret that authorises BINDs for this membership.
    let token: MemberToken
    /// The session this membership belongs to.
    unowned let session: Session
    /// The control connection that joined; receives this member's events (nil in benchmarks).
    ///
    /// Strong, not weak: a weak reference would give every connection a side table. The registry
    /// clears it when it revokes the membership, which every close of a member's connection does
    /// first, so the connection ↔ member cycle never outlives the membership.
    var connection: ControlConnection?

    // The per-datagram state below is touched only while holding the registry lock (by whichever
    // loop took it); its dynamic exclusivity checks cost more than the rest of the bookkeeping,
    // so they are off.

    /// The proven UDP address, or nil before the first BIND and after an idle unbind.
    var binding: SocketAddress? {
        didSet { session.bindingChanged(self) }
    }
    /// When a datagram last refreshed the binding (monotonic nanoseconds).
    @exclusivity(unchecked) var lastSeen: UInt64 = 0
    /// Sequences forwarded recently (PROTOCOL.md §2.3, `duplicate`).
    @exclusivity(unchecked) var replay = ReplayWindow()
    /// The newest LATEST sequence forwarded (`stale`).
    @exclusivity(unchecked) var latest = LatestFilter()
    /// The member's packet and byte buckets.
    @exclusivity(unchecked) var limiter: MemberRateLimiter
    /// Cookie-carrying BIND_ACKs sent recently: at most 10 in any second.
    var cookieAnswers = SlidingWindowLimit(windowNanos: 1_000_000_000)
    /// False once the membership has been revoked; a revoked member never forwards or receives.
    var isLive = true

    init(id: UInt16, name: String, token: MemberToken, session: Session, connection: ControlConnection?,
         config: RelayConfig, nowNanos: UInt64) {
        self.id = id
        self.name = name
        self.token = token
        self.session = session
        self.connection = connection
        limiter = MemberRateLimiter(packetsPerSecond: Double(config.memberPacketRate),
                                    bytesPerSecond: Double(config.memberByteRate), nowNanos: nowNanos)
    }

    /// The registry key: the session's low 32 bits and the member id, as in the datagram header.
    var key: UInt64 { Member.key(session: session.id.low32, member: id) }

    /// Packs a datagram's `(session, member)` into one dictionary key.
    @inline(__always)
    static func key(session: UInt32, member: UInt16) -> UInt64 {
        UInt64(session) << 16 | UInt64(member)
    }
}
