/// Why a member left, as carried by the `left` event (PROTOCOL.md §1.4).
public enum LeaveReason: String, Hashable, Sendable, CaseIterable {
    /// The member sent `leave`.
    case leave
    /// The member's control connection closed.
    case disconnect
    /// The owner kicked the member.
    case kick
    /// The member's control connection was idle for `controlIdleTimeout`.
    case timeout
}
