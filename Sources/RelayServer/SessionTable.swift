import RelayWire
import UVNet

/// The sessions one data-plane loop owns, with their members, tokens and bindings.
///
/// Loop-bound to that loop, and shared with no other: the control loop asks for changes with
/// messages (``DataPlane``'s session operations) and learns their outcome the same way. The
/// per-datagram lookup is one dictionary probe keyed by the header's `(session, member)`.
final class SessionTable {
    /// The sessions, by the low 32 bits of their ids (unique across the relay).
    private(set) var sessions: [UInt32: Session] = [:]
    private var members: [UInt64: Member] = [:]
    /// The number of members with a UDP binding; ``setBinding(_:to:)`` keeps it.
    private(set) var boundMemberCount = 0
    /// The number of sessions with a tick timer open (PROTOCOL.md §8).
    private(set) var tickingSessionCount = 0
    /// The number of those whose timer is armed; the data plane counts its arming and firing,
    /// and closing a timer here uncounts it.
    var armedTickCount = 0

    init() {}

    /// The number of members across the table's sessions.
    var memberCount: Int { members.count }

    /// Adds a session the control loop created (it chose the id and code, unique relay-wide).
    @discardableResult
    func createSession(id: SessionID, code: JoinCode, capacity: Int, tick: Int? = nil, nowNanos: UInt64) -> Session {
        let session = Session(id: id, code: code, capacity: capacity, createdAt: nowNanos, tickRate: tick)
        sessions[id.low32] = session
        return session
    }

    /// The session with this full id, if this table has it.
    func session(_ id: SessionID) -> Session? {
        guard let session = sessions[id.low32], session.id == id else { return nil }
        return session
    }

    /// Adds a new member to `session`, which the caller checked is not full.
    func join(_ session: Session, name: String, token: MemberToken, connection: ConnectionID,
              isStream: Bool = false, config: RelayConfig, nowNanos: UInt64) -> Member {
        let member = Member(id: session.allocateMemberID(), name: name, token: token, session: session,
                            connection: connection, isStream: isStream, config: config, nowNanos: nowNanos)
        session.add(member)
        members[member.key] = member
        return member
    }

    /// Revokes a membership: its token and binding die at once. Returns the new owner's id when
    /// ownership moved, and whether the session, now empty, was deleted.
    func remove(_ member: Member) -> (newOwner: UInt16?, sessionDeleted: Bool) {
        if member.binding != nil { setBinding(member, to: nil) }
        members[member.key] = nil
        let session = member.session
        let newOwner = session.remove(member)
        if session.members.isEmpty {
            delete(session)
            return (nil, true)
        }
        return (newOwner, false)
    }

    /// Deletes a session and everything in it; its tick timer closes.
    func delete(_ session: Session) {
        for member in session.members {
            if member.binding != nil { setBinding(member, to: nil) }
            members[member.key] = nil
        }
        sessions[session.id.low32] = nil
        stopTicking(session)
    }

    /// Hands `session` its tick timer and counts it.
    func startTicking(_ session: Session, timer: UVNet.Timer) {
        precondition(session.tickTimer == nil, "a session has one tick timer")
        session.startTicking(timer)
        tickingSessionCount += 1
    }

    private func stopTicking(_ session: Session) {
        if session.isTickArmed { armedTickCount -= 1 }
        if session.stopTicking() { tickingSessionCount -= 1 }
    }

    /// Closes every session's tick timer: the loop is stopping.
    func stopTicking() {
        for session in sessions.values { stopTicking(session) }
    }

    /// The live membership a datagram header names, if any: the data plane's one lookup.
    @inline(__always)
    func member(session: UInt32, member: UInt16) -> Member? {
        members[Member.key(session: session, member: member)]
    }

    /// Sets or clears `member`'s proven address, and with it its route and the bound count.
    func setBinding(_ member: Member, to address: SocketAddress?) {
        precondition(!member.isStream, "a WebSocket member's endpoint never moves")
        let wasBound = member.binding != nil
        member.binding = address
        // A pending state dies with the binding (PROTOCOL.md §8); a move to a new address keeps it.
        if address == nil { member.pending?.discard() }
        member.session.bindingChanged(member)
        boundMemberCount += (address != nil ? 1 : 0) - (wasBound ? 1 : 0)
    }

    /// Every member, for the idle sweep.
    var allMembers: Dictionary<UInt64, Member>.Values { members.values }
}
