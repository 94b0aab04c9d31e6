/// Which end of a WebSocket (RFC 6455) a codec speaks for, which decides the masking rule.
///
/// Clients mask every frame they send and servers mask none (§5.1); a frame that breaks the rule
/// for its sender is a protocol error (close 1002).
public enum WebSocketRole: Hashable, Sendable {
    /// The relay's end: it reads masked client frames and writes unmasked ones.
    case server
    /// A client's end: it reads unmasked server frames and writes masked ones.
    case client
}
