/// A limit of PROTOCOL.md §1.5 that held across connections: what a refusal counts against.
public enum RelayLimit: Int, CaseIterable, Sendable {
    /// Control connections in all (`--max-connections`, or the descriptors left for them).
    case connections
    /// Control connections from one source address (`--max-connections-per-source`).
    case connectionsPerSource
    /// Live sessions in all (`--max-sessions`).
    case sessions
    /// Live sessions one source created (`--max-sessions-per-source`).
    case sessionsPerSource
    /// Failed joins from one source: code and id guessing (`--join-failure-rate`).
    case joinFailures
    /// Joins into one session from one source: member-id churn (`--session-join-rate`).
    case sessionJoins

    /// The `limit` label of `gamerelay_limit_refusals_total`.
    public var name: String {
        switch self {
        case .connections: "connections"
        case .connectionsPerSource: "connections_per_source"
        case .sessions: "sessions"
        case .sessionsPerSource: "sessions_per_source"
        case .joinFailures: "join_failures"
        case .sessionJoins: "session_joins"
        }
    }
}
