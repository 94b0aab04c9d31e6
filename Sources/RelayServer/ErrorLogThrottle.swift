/// Keeps warnings about errors that peers can cause (shed connections, failed accepts, receive
/// errors) to one per kind per interval, so a flood can't turn the log into a second flood. The
/// counters in `/metrics` carry the full count.
struct ErrorLogThrottle {
    /// What a warning is about.
    enum Kind: Int, CaseIterable {
        case shed, accept, receive
    }

    /// The shortest time between two warnings of one kind.
    static let interval: UInt64 = 10_000_000_000
    private var lastLogged = [UInt64](repeating: 0, count: Kind.allCases.count)
    /// The UDP receive error count the last warning reported.
    var reportedReceiveErrors: UInt64 = 0

    /// Whether a warning of `kind` may be logged now; if so, the interval starts again.
    mutating func allow(_ kind: Kind, nowNanos: UInt64) -> Bool {
        let last = lastLogged[kind.rawValue]
        guard last == 0 || nowNanos &- last >= Self.interval else { return false }
        lastLogged[kind.rawValue] = nowNanos
        return true
    }
}
