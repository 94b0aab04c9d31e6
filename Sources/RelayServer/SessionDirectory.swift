import RelayWire
import UVNet

/// The control loop's index of live sessions: which data-plane loop owns each one, its join code,
/// and who created it. It holds no member state; the owner holds that.
///
/// Loop-bound to the control loop. An entry goes when the owner reports the session deleted, so
/// for a moment after a deletion the directory still names the session; a `join` sent then is
/// answered `not_found` by the owner.
final class SessionDirectory {
    /// One live session.
    struct Entry {
        /// The session's id.
        let id: SessionID
        /// Its join code.
        let code: JoinCode
        /// The index of the data-plane loop that owns it.
        let owner: Int
        /// The connection that created it, whose live-session count it holds; nil once that closed.
        weak var creator: ControlConnection?
        /// The source address that created it, whose live-session count it holds until it is deleted.
        let creatorSource: SocketAddress?
    }

    private var entries: [SessionID: Entry] = [:]
    private var lows: Set<UInt32> = []
    private var byCode: [JoinCode: SessionID] = [:]
    /// Live sessions per owner loop, to place each new session on the least loaded.
    private(set) var sessionsPerLoop: [Int]
    private var random: any RandomNumberGenerator

    /// An empty directory for `loops` data-plane loops, drawing ids and codes from `random`.
    init(loops: Int, random: any RandomNumberGenerator) {
        sessionsPerLoop = Array(repeating: 0, count: max(1, loops))
        self.random = random
    }

    /// Sets the number of data-plane loops sessions are spread over, before any session exists.
    func setLoopCount(_ loops: Int) {
        precondition(entries.isEmpty, "the loop count changes only before the first session")
        sessionsPerLoop = Array(repeating: 0, count: max(1, loops))
    }

    /// The number of live sessions.
    var count: Int { entries.count }

    /// Draws a new session for the least loaded loop: its id's low 32 bits are unique among live
    /// sessions and, taken modulo the loop count, name the owner (the kernel steers datagrams by
    /// them); its code is unique among live sessions.
    func create(creator: ControlConnection?, source: SocketAddress?) -> Entry {
        let loops = UInt32(sessionsPerLoop.count)
        let owner = sessionsPerLoop.indices.min { sessionsPerLoop[$0] < sessionsPerLoop[$1] }!
        var id = drawID(owner: UInt32(owner), loops: loops)
        while lows.contains(id.low32) { id = drawID(owner: UInt32(owner), loops: loops) }
        var code = JoinCode.random(using: &random)
        while byCode[code] != nil { code = JoinCode.random(using: &random) }
        let entry = Entry(id: id, code: code, owner: owner, creator: creator, creatorSource: source)
        entries[id] = entry
        lows.insert(id.low32)
        byCode[code] = id
        sessionsPerLoop[owner] += 1
        return entry
    }

    /// A random id whose low word, modulo `loops`, is `owner`.
    private func drawID(owner: UInt32, loops: UInt32) -> SessionID {
        while true {
            let drawn = SessionID.random(using: &random).rawValue
            let low = UInt32(truncatingIfNeeded: drawn)
            // Round the low word down to a multiple of the loop count, then add the owner's index;
            // the top multiple may leave no room, and then another draw is taken.
            let (steered, overflow) = (low - low % loops).addingReportingOverflow(owner)
            if !overflow { return SessionID(rawValue: drawn & 0xFFFF_FFFF_0000_0000 | UInt64(steered)) }
        }
    }

    /// The session a `join` names, by id text (case-insensitive) or code; nil when none is live.
    func find(_ target: JoinTarget) -> Entry? {
        switch target {
        case .session(let text): SessionID(hex: text).flatMap { entries[$0] }
        case .code(let text): JoinCode(normalizing: text).flatMap { byCode[$0] }.flatMap { entries[$0] }
        }
    }

    /// Forgets a session its owner deleted; returns its entry if it was live.
    func remove(_ id: SessionID) -> Entry? {
        guard let entry = entries.removeValue(forKey: id) else { return nil }
        lows.remove(id.low32)
        byCode[entry.code] = nil
        sessionsPerLoop[entry.owner] -= 1
        return entry
    }

    /// Draws a member token (the control loop's generator serves the whole relay).
    func newToken() -> MemberToken {
        MemberToken.random(using: &random)
    }
}
