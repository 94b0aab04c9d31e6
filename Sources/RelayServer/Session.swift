import RelayWire
import UVNet

/// A relay session as its owner loop keeps it: ids, capacity, members in join order, the
/// owning member, and the routes its datagrams take.
///
/// Loop-bound to the data-plane loop that owns the session; no other loop holds a reference.
final class Session {
    /// The 64-bit id; its low 32 bits address the session in datagrams.
    let id: SessionID
    /// The short code players type to join.
    let code: JoinCode
    /// The most members the session holds at once.
    let capacity: Int
    /// When the session was created (monotonic nanoseconds), for the empty-session timeout.
    let createdAt: UInt64
    /// The aggregation rate in Hz of a tick session (PROTOCOL.md §8); nil when every datagram
    /// is forwarded at once.
    let tickRate: Int?
    /// The number of the last tick run: +1 every tick, ticks that send nothing included, wrapping.
    @exclusivity(unchecked) var tickNumber: UInt32 = 0
    /// Whether a member's pending state arrived since the last tick, so a tick with nothing new
    /// skips the scan.
    @exclusivity(unchecked) var hasChangedStates = false
    /// The timer that runs the ticks, on the owner loop; closed when the session ends. It is
    /// armed only while a pending state waits, so a session with nothing to send costs its loop
    /// nothing.
    private(set) var tickTimer: UVNet.Timer?
    /// When tick 0 was due (monotonic nanoseconds): tick k falls at `tickEpoch + k · period`, a
    /// fixed schedule, so libuv's whole-millisecond timers don't drift the rate and the tick
    /// number counts the ticks that sent nothing without running them.
    var tickEpoch: UInt64 = 0
    /// The tick the armed timer runs; meaningful while ``isTickArmed``.
    var armedTick: UInt64 = 0
    /// The last tick run (its place on the schedule), so a timer that fired a little early is
    /// never armed for the same tick again.
    var lastTick: UInt64 = 0
    /// Whether the tick timer is armed.
    @exclusivity(unchecked) var isTickArmed = false
    /// What the tick timer runs, made once so re-arming it allocates nothing.
    var tickHandler: (() -> Void)?
    /// Each source's budget of joins into this session (PROTOCOL.md §1.5), so one client's churn
    /// can't use up the member ids.
    private var joinBudgets: [SocketAddress: TokenBucket] = [:]

    /// Members in join order: the first is the longest-standing.
    private(set) var members: [Member] = []
    /// Each member's id and endpoint, in the order of ``members``. The fan-out reads these
    /// plain values, so forwarding to N receivers touches no reference count;
    /// ``bindingChanged(_:)`` keeps them current. Only the owner loop touches them, so the
    /// per-datagram dynamic exclusivity check is switched off.
    @exclusivity(unchecked) private(set) var routes: [Route] = []

    /// Where one member's datagrams go.
    struct Route {
        /// The member's id.
        let member: UInt16
        /// Where it receives, nil while it has no proven endpoint.
        var endpoint: Endpoint?
    }
    /// The next member id to hand out; ids count up from 1 and are never reused.
    private var nextMemberID: UInt32 = 1
    /// Whether anyone has ever joined; a session that was never joined expires on a timer.
    private(set) var everJoined = false
    /// The owner's member id.
    private(set) var ownerID: UInt16?

    init(id: SessionID, code: JoinCode, capacity: Int, createdAt: UInt64, tickRate: Int? = nil) {
        self.id = id
        self.code = code
        self.capacity = capacity
        self.createdAt = createdAt
        self.tickRate = tickRate
    }

    /// Hands the session its tick timer, not yet armed.
    func startTicking(_ timer: UVNet.Timer) {
        tickTimer = timer
    }

    /// Closes the tick timer, if any.
    ///
    /// - Returns: Whether a timer was open.
    func stopTicking() -> Bool {
        tickHandler = nil
        isTickArmed = false
        guard let timer = tickTimer else { return false }
        timer.close()
        tickTimer = nil
        return true
    }

    /// Whether `source` may join now: its budget for this session has a join left.
    func mayJoin(from source: SocketAddress, nowNanos: UInt64) -> Bool {
        joinBudgets[source]?.hasRoom(for: 1, nowNanos: nowNanos) ?? true
    }

    /// Spends one join of `source`'s budget for this session (`rate` joins per second, `burst`).
    func joined(from source: SocketAddress, rate: Double, burst: Double, nowNanos: UInt64) {
        if joinBudgets[source] == nil, joinBudgets.count >= Self.maxJoinBudgets {
            // Many sources have joined over the session's life: forget those whose budget refilled.
            joinBudgets = joinBudgets.filter { !$0.value.hasRoom(for: burst, nowNanos: nowNanos) }
        }
        joinBudgets[source, default: TokenBucket(ratePerSecond: rate, burst: burst, nowNanos: nowNanos)].take(1, nowNanos: nowNanos)
    }

    /// Sources whose join budgets a session keeps before it forgets the refilled ones.
    static let maxJoinBudgets = 1024

    /// Whether a join would be refused with `full`: at capacity or out of member ids (0xFFFF is reserved).
    var isFull: Bool { members.count >= capacity || nextMemberID >= 0xFFFF }

    /// Takes the next member id. The caller checked ``isFull``.
    func allocateMemberID() -> UInt16 {
        defer { nextMemberID += 1 }
        return UInt16(nextMemberID)
    }

    /// Adds a member; the first member becomes the owner.
    func add(_ member: Member) {
        members.append(member)
        routes.append(Route(member: member.id, endpoint: member.endpoint))
        everJoined = true
        if ownerID == nil { ownerID = member.id }
    }

    /// Removes a member; returns the new owner's id when ownership moved.
    func remove(_ member: Member) -> UInt16? {
        members.removeAll { $0 === member }
        routes.removeAll { $0.member == member.id }
        guard ownerID == member.id else { return nil }
        ownerID = members.first?.id
        return ownerID
    }

    /// The member with `id`, if present.
    func member(id: UInt16) -> Member? {
        members.first { $0.id == id }
    }

    /// The endpoint of member `id`; nil when it is not a member or has no endpoint.
    @inline(__always)
    func endpoint(of id: UInt16) -> Endpoint? {
        for route in routes where route.member == id { return route.endpoint }
        return nil
    }

    /// Whether a member other than `id` has an endpoint: a broadcast from `id` has a target.
    @inline(__always)
    func hasBoundMember(otherThan id: UInt16) -> Bool {
        for route in routes where route.member != id && route.endpoint != nil { return true }
        return false
    }

    /// The time between two ticks, in nanoseconds; meaningful only in a tick session.
    var tickPeriodNanos: UInt64 { 1_000_000_000 / UInt64(max(1, tickRate ?? 1)) }

    /// Brings `member`'s route up to date with its binding.
    func bindingChanged(_ member: Member) {
        guard let index = routes.firstIndex(where: { $0.member == member.id }) else { return }
        routes[index].endpoint = member.endpoint
    }

    /// The members as the control loop needs them for a `join` reply and events.
    var summaries: [MemberSummary] {
        members.map { MemberSummary(id: $0.id, name: $0.name, connection: $0.connection) }
    }
}

/// Where a member receives the session's datagrams. Forwarding is written once against it.
enum Endpoint: Equatable {
    /// A UDP address the member proved with its token (BIND).
    case udp(SocketAddress)
    /// The WebSocket the member joined on (PROTOCOL.md §7), a connection of the control loop:
    /// copies cross to it in batches (``StreamOutbox``).
    case stream(ConnectionID)
}

/// A member as the control loop sees it: what a `join` reply lists and where its events go.
struct MemberSummary: Sendable {
    /// The member id.
    let id: UInt16
    /// The name given at join.
    let name: String
    /// The control connection that holds the membership.
    let connection: ConnectionID
}
