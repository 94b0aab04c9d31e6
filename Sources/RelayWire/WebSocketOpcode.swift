/// The frame opcodes RFC 6455 defines (§5.2); every other value is a protocol error, since no
/// extension is negotiated.
public enum WebSocketOpcode: UInt8, Hashable, Sendable {
    /// Continues the data message a text or binary frame without FIN started.
    case continuation = 0x0
    /// Starts a text (UTF-8) message.
    case text = 0x1
    /// Starts a binary message.
    case binary = 0x2
    /// Closes the connection, with an optional status code and reason.
    case close = 0x8
    /// Asks the peer for a pong carrying the same payload.
    case ping = 0x9
    /// Answers a ping, or serves as an unsolicited heartbeat.
    case pong = 0xA

    /// Whether this is a control frame (close, ping, pong): at most 125 payload bytes, never
    /// fragmented, and allowed between the fragments of a data message.
    public var isControl: Bool { rawValue & 0x8 != 0 }
}
