/// A control request whose fields passed the checks that need no server state
/// (PROTOCOL.md §1.2 checks 3 and 4).
public enum ControlOperation: Hashable, Sendable {
    /// `hello` with protocol 1 and the optional client description.
    case hello(client: String?)
    /// `create` with the capacity asked for, or the default, and the aggregation rate in Hz of a
    /// tick session (PROTOCOL.md §8), nil for a session that forwards every datagram at once.
    case create(capacity: Int, tick: Int?)
    /// `join` by id or code, with the name (`""` when absent).
    case join(JoinTarget, name: String)
    /// `leave`.
    case leave
    /// `kick` of a member id; kicking oneself is the caller's check.
    case kick(member: UInt16)
    /// `ping`.
    case ping
}
