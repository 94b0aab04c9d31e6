import RelayWire
import UVNet

/// Sessions, members, tokens and bindings: the relay's only shared state.
///
/// Loop-bound to the relay's loop. The per-datagram lookup is one dictionary probe keyed by the
/// header's `(session, member)`.
final class SessionRegistry {
    private(set) var sessions: [SessionID: Session] = [:]
    private var byLow32: [UInt32: Session] = [:]
    private var byCode: [JoinCode: Session] = [:]
    private var members: [UInt64: Member] = [:]
    private var random: any RandomNumberGenerator

    /// Creates an empty registry drawing ids, codes and tokens from `random`, which must be a
    /// cryptographic source in production.
    init(random: any RandomNumberGenerator = SystemRandomNumberGenerator()) {
        self.random = random
    }

    /// The number of members across all sessions.
    var memberCount: Int { members.count }

    /// The number of members with a UDP binding.
    var boundMemberCount: Int { members.values.reduce(0) { $0 + ($1.binding == nil ? 0 : 1) } }

    /// Creates a session whose low 32 id bits and join code are unique among live sessions.
    func createSession(capacity: Int, creator: ControlConnection?, source: SocketAddress? = nil, nowNanos: UInt64) -> Session {
        var id = SessionID.random(using: &random)
        while byLow32[id.low32] != nil { id = SessionID.random(using: &random) }
        var code = JoinCode.random(using: &random)
        while byCode[code] != nil { code = JoinCode.random(using: &random) }
        let session = Session(id: id, code: code, capacity: capacity, createdAt: nowNanos, creator: creator, creatorSource: source)
        sessions[id] = session
        byLow32[id.low32] = session
        byCode[code] = session
        return session
    }

    /// The session with this id text (case-insensitive); nil for a malformed or unknown id.
    func session(idText: String) -> Session? {
        SessionID(hex: idText).flatMap { sessions[$0] }
    }

    /// The session with this join code (case-insensitive); nil for a malformed or unknown code.
    func session(code: String) -> Session? {
        JoinCode(normalizing: code).flatMap { byCode[$0] }
    }

    /// Adds a new member to `session`, which the caller checked is not full.
    func join(_ session: Session, name: String, connection: ControlConnection?, config: RelayConfig, nowNanos: UInt64) -> Member {
        let member = Member(id: session.allocateMemberID(), name: name, token: MemberToken.random(using: &random),
                            session: session, connection: connection, config: config, nowNanos: nowNanos)
        session.add(member)
        members[member.key] = member
        return member
    }

    /// Revokes a membership: its token and binding die at once. Returns the new owner's id when
    /// ownership moved, and whether the session, now empty, was deleted.
    func remove(_ member: Member) -> (newOwner: UInt16?, sessionDeleted: Bool) {
        member.isLive = false
        member.binding = nil
        member.connection = nil
        members[member.key] = nil
        let session = member.session
        let newOwner = session.remove(member)
        if session.members.isEmpty {
            delete(session)
            return (nil, true)
        }
        return (newOwner, false)
    }

    /// Deletes a session and everything in it.
    func delete(_ session: Session) {
        for member in session.members {
            member.isLive = false
            member.binding = nil
            member.connection = nil
            members[member.key] = nil
        }
        sessions[session.id] = nil
        byLow32[session.id.low32] = nil
        byCode[session.code] = nil
        session.creator?.sessionDeleted()
        session.creator = nil
    }

    /// The live membership a datagram header names, if any: the data plane's one lookup.
    @inline(__always)
    func member(session: UInt32, member: UInt16) -> Member? {
        members[Member.key(session: session, member: member)]
    }

    /// The member with this key (``Member/key``), if live.
    func member(key: UInt64) -> Member? {
        members[key]
    }

    /// Every member, for the idle sweep.
    var allMembers: Dictionary<UInt64, Member>.Values { members.values }
}
