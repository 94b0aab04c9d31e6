/// Why the relay closes a connection on its own, the `reason` of the `closing` event (PROTOCOL.md §1.4).
public enum ClosingReason: String, Hashable, Sendable {
    /// The connection completed no message for `controlIdleTimeout`.
    case idle
    /// The drain timeout passed with the connection still open.
    case drain
}
