/// What ``WebSocketFrameDecoder`` found next in a WebSocket byte stream: a whole message, a
/// control frame, or the reason to stop reading.
public enum WebSocketFrameEvent: Hashable, Sendable {
    /// A complete text message, reassembled from its fragments; its bytes are valid UTF-8.
    case text([UInt8])
    /// A complete binary message, reassembled from its fragments.
    case binary([UInt8])
    /// A ping with its payload (at most 125 bytes): answer with a pong carrying the same bytes.
    case ping([UInt8])
    /// A pong with its payload (at most 125 bytes).
    case pong([UInt8])
    /// The peer's close frame, with its status code (`nil` when the payload was empty) and
    /// reason: answer with a close and end the connection. The decoder yields nothing more.
    case close(code: WebSocketCloseCode?, reason: String)
    /// A text message would grow past `maxText` bytes; none of it was kept. The relay answers
    /// `message_too_large` and closes with 1009. The decoder yields nothing more.
    case textTooLarge
    /// A binary message would grow past `maxBinary` bytes. The decoder skips the rest of it
    /// without keeping any and goes on with the next frame; the relay drops and counts it.
    case binaryTooLarge
    /// The peer broke RFC 6455: close with `code` (1002, or 1007 for invalid UTF-8) and end the
    /// connection. `reason` says what was wrong, short enough for a close frame. The decoder
    /// yields nothing more.
    case protocolError(WebSocketCloseCode, reason: String)
}
