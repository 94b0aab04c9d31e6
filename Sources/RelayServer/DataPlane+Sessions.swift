import RelayWire
import UVNet

/// A membership as the control loop names it: the session, the member id, and the data-plane
/// loop that owns the session.
struct MembershipRef: Sendable, Equatable {
    /// The session.
    let session: SessionID
    /// The member's id in it.
    let member: UInt16
    /// The index of the owner among the relay's data-plane loops.
    let owner: Int
}

/// The owner's answer to a `join`.
enum JoinAnswer: Sendable {
    /// Joined: the new member's id, the members before it, and the session's owning member.
    case joined(member: UInt16, others: [MemberSummary], owner: UInt16)
    /// Refused with a PROTOCOL.md error.
    case refused(ControlError)
}

/// What removing a member did, for the control loop to tell the others (`left`, `owner`).
struct MemberRemoval: Sendable {
    /// The member that is gone.
    let member: UInt16
    /// Why, as `left` reports it.
    let reason: LeaveReason
    /// Its session.
    let session: SessionID
    /// The connections of the members that remain.
    let remaining: [ConnectionID]
    /// The new owning member, when ownership moved.
    let newOwner: UInt16?
    /// Whether the session, now empty, was deleted.
    let sessionDeleted: Bool
}

/// The owner's answer to a `kick`.
enum KickAnswer: Sendable {
    /// Kicked: the target's connection, and the removal to announce.
    case kicked(target: ConnectionID, removal: MemberRemoval)
    /// Refused with a PROTOCOL.md error.
    case refused(ControlError)
}

/// The session operations the control loop sends to a session's owner loop (with
/// `EventLoop.execute`), each answered with a value the control loop acts on. Messages from one
/// loop to another run in the order they were sent, so every session sees its changes in the order
/// the control loop decided them, and their answers come back in the order they were made.
extension DataPlane {
    /// Adds a session the control loop created; a tick session (`tick` Hz) gets its tick timer
    /// on this loop.
    func createSession(id: SessionID, code: JoinCode, capacity: Int, tick: Int? = nil) {
        let session = table.createSession(id: id, code: code, capacity: capacity, tick: tick, nowNanos: now)
        if tick != nil, let loop = socket?.loop { prepareTicks(session, on: loop) }
        publish()
    }

    // MARK: Ticks

    /// Gives `session` its tick timer: one `UVNet.Timer` per tick session, on the owner loop,
    /// which ends with the session. The timer is armed by the first pending state after a tick
    /// (``armTick(_:)``), not kept running: a session whose members send nothing, or that has
    /// no members at all, costs the loop nothing however many of them a client creates.
    ///
    /// Sessions created together (a match server opening its rooms) would tick together and
    /// send all their AGGREGATEs in one burst, which fills receive queues and delays the last
    /// receivers of the burst. So each new session's phase is placed by the golden ratio: the
    /// k-th tick session of a loop starts its schedule at frac(k · 0.618…) of a period after its
    /// creation, and any number of sessions spread about evenly over the period.
    private func prepareTicks(_ session: Session, on loop: EventLoop) {
        let timer = UVNet.Timer(loop: loop)
        let offset = Double(tickSessionsCreated) * 0.618_033_988_749_894_8
        tickSessionsCreated &+= 1
        let phase = UInt64((offset - offset.rounded(.down)) * Double(session.tickPeriodNanos))
        // Tick 1 falls `phase` after now; tick 0, the epoch, is then a little in the past, which
        // the schedule's arithmetic (time since the epoch) needs.
        session.tickEpoch = MonotonicClock.nanoseconds &+ phase &- session.tickPeriodNanos
        let handler = { [unowned self, unowned session] in self.tickFired(session) }
        session.tickHandler = handler
        table.startTicking(session, timer: timer)
    }

    /// Arms `session`'s timer for its next tick on the fixed schedule: a pending state arrived
    /// and none was waiting. One timer start per session and tick, paid for by a datagram that
    /// passed the rate limits.
    ///
    /// libuv's timers count whole milliseconds and ``UVNet/Timer`` never fires early, so a timer
    /// armed for the exact time runs 0–2 ms late, and every state waits that much longer. Armed
    /// for a millisecond before, the tick runs within about a millisecond of its time, either side.
    func armTick(_ session: Session) {
        guard let timer = session.tickTimer, let handler = session.tickHandler else { return }
        let period = session.tickPeriodNanos
        let now = MonotonicClock.nanoseconds
        let next = max((now &- session.tickEpoch) / period &+ 1, session.lastTick &+ 1)
        session.armedTick = next
        session.isTickArmed = true
        table.armedTickCount += 1
        let delay = session.tickEpoch &+ next &* period &- now
        timer.start(after: .nanoseconds(Int64(delay > Self.tickLead ? delay - Self.tickLead : 0)), handler)
    }

    /// How much before its time a tick timer is armed (see ``armTick(_:)``).
    static let tickLead: UInt64 = 1_000_000

    /// The tick timer fired: runs the tick it was armed for. Its number is the tick's place on
    /// the schedule, so the ticks that sent nothing (and were never run) count; a loop that
    /// stalled past whole periods runs the latest tick due, not the missed ones back to back.
    private func tickFired(_ session: Session) {
        session.isTickArmed = false
        table.armedTickCount -= 1
        let due = (MonotonicClock.nanoseconds &- session.tickEpoch) / session.tickPeriodNanos
        session.lastTick = max(session.armedTick, due)
        runTick(session, number: UInt32(truncatingIfNeeded: session.lastTick))
    }

    /// Adds a member to session `id`, applying the per-source join budget and `full`.
    /// A member joining over a WebSocket (`isStream`) is bound to it from now on (PROTOCOL.md §7).
    func join(session id: SessionID, name: String, token: MemberToken, connection: ConnectionID,
              source: SocketAddress?, isStream: Bool = false) -> JoinAnswer {
        let now = self.now
        guard let session = table.session(id) else { return .refused(ControlError(.notFound, "no such session")) }
        if let source, !session.mayJoin(from: source, nowNanos: now) {
            return .refused(ControlError(.rateLimited, "too many joins into this session from this address (\(config.sessionJoinRate) per second)"))
        }
        guard !session.isFull else { return .refused(ControlError(.full, "the session is full")) }
        if let source { session.joined(from: source, rate: config.sessionJoinRate, burst: config.sessionJoinBurst, nowNanos: now) }
        let others = session.summaries
        let member = table.join(session, name: name, token: token, connection: connection, isStream: isStream, config: config, nowNanos: now)
        publish()
        return .joined(member: member.id, others: others, owner: session.ownerID ?? member.id)
    }

    /// Ends membership `ref` with `reason`; nil when it had already ended (a kick or a sweep won).
    func leave(_ ref: MembershipRef, reason: LeaveReason) -> MemberRemoval? {
        guard let member = member(ref) else { return nil }
        return remove(member, reason: reason)
    }

    /// Removes member `target` of `ref`'s session on behalf of `ref`, which must own the session.
    func kick(_ target: UInt16, by ref: MembershipRef) -> KickAnswer {
        guard let kicker = member(ref) else { return .refused(ControlError(.notJoined, "this connection is not a member of a session")) }
        guard kicker.session.ownerID == kicker.id else { return .refused(ControlError(.forbidden, "only the session owner may kick")) }
        guard let victim = kicker.session.member(id: target) else { return .refused(ControlError(.notFound, "no member \(target) in this session")) }
        return .kicked(target: victim.connection, removal: remove(victim, reason: .kick))
    }

    private func member(_ ref: MembershipRef) -> Member? {
        guard let session = table.session(ref.session) else { return nil }
        return table.member(session: session.id.low32, member: ref.member)
    }

    private func remove(_ member: Member, reason: LeaveReason) -> MemberRemoval {
        let session = member.session
        let (newOwner, deleted) = table.remove(member)
        publish()
        return MemberRemoval(member: member.id, reason: reason, session: session.id,
                             remaining: deleted ? [] : session.members.map(\.connection),
                             newOwner: newOwner, sessionDeleted: deleted)
    }

    // MARK: The sweep

    /// How late a sweep may run before it is taken for a stall of the loop rather than load:
    /// busy iterations take microseconds to milliseconds, a pause that times peers out seconds.
    static let stallTolerance: UInt64 = 250_000_000

    /// The sweep period: half the slack PROTOCOL.md §4 allows the tightest timer (max(50 ms, 10 %)).
    static func sweepInterval(_ config: RelayConfig) -> Duration {
        let tightest = [config.idleTimeout, config.controlIdleTimeout, config.emptySessionTimeout]
            .map { max(Duration.milliseconds(50), $0 / 10) }
            .min()!
        return min(max(tightest / 2, .milliseconds(5)), .milliseconds(500))
    }

    /// The sweep timer's tick: skips one sweep after a stall of this loop (libuv runs due timers
    /// before it polls, so what peers sent during the stall is still unread), else sweeps.
    func sweepTick() {
        let now = self.now
        let interval = Self.sweepInterval(config).nanoseconds
        let late = now &- lastSweepTime > interval + Self.stallTolerance
        lastSweepTime = now
        if late { return }
        sweep(now: now)
    }

    /// Unbinds members idle for the idle timeout and deletes sessions nobody joined within the
    /// empty-session timeout, as of `now` on this loop's clock; tells the control loop.
    ///
    /// Every stamp this compares with was made on this loop from the same clock, before this call
    /// or after it, never concurrently: a `lastSeen` newer than `now` can't happen here, and is
    /// treated as fresh if a caller passes a stale `now` anyway.
    func sweep(now: UInt64) {
        let idle = config.idleTimeout.nanoseconds
        var unbound: [ConnectionID] = []
        for member in table.allMembers where member.binding != nil && now >= member.lastSeen && now - member.lastSeen >= idle {
            table.setBinding(member, to: nil)
            counters.idleUnbinds &+= 1
            if member.connection != 0 { unbound.append(member.connection) }
        }
        let emptyTimeout = config.emptySessionTimeout.nanoseconds
        var expired: [SessionID] = []
        for session in table.sessions.values where !session.everJoined && now >= session.createdAt && now - session.createdAt >= emptyTimeout {
            expired.append(session.id)
        }
        for id in expired {
            if let session = table.session(id) { table.delete(session) }
        }
        guard !unbound.isEmpty || !expired.isEmpty else { return }
        publish()
        if !unbound.isEmpty { notify(.unbound(unbound)) }
        if !expired.isEmpty { notify(.expired(expired)) }
    }
}
