/// A WebSocket close status code (RFC 6455 §7.4), as carried in the first two bytes of a close
/// frame's payload.
///
/// A struct rather than an enum, since applications may use any code from 3000 to 4999.
public struct WebSocketCloseCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The code as sent on the wire.
    public let rawValue: UInt16

    /// Wraps a code as received or to send.
    public init(rawValue: UInt16) {
        self.rawValue = rawValue
    }

    /// 1000: the purpose of the connection has been fulfilled.
    public static let normalClosure = WebSocketCloseCode(rawValue: 1000)
    /// 1001: the endpoint is going away (a server shutting down, a page navigated away).
    public static let goingAway = WebSocketCloseCode(rawValue: 1001)
    /// 1002: the peer broke the framing rules.
    public static let protocolError = WebSocketCloseCode(rawValue: 1002)
    /// 1003: a message of a type the endpoint cannot accept.
    public static let unsupportedData = WebSocketCloseCode(rawValue: 1003)
    /// 1007: a text message or close reason that is not valid UTF-8.
    public static let invalidPayload = WebSocketCloseCode(rawValue: 1007)
    /// 1008: a message that violates the endpoint's policy.
    public static let policyViolation = WebSocketCloseCode(rawValue: 1008)
    /// 1009: a message too big to process (the relay's answer to a text message over
    /// `maxControlMessage`).
    public static let messageTooBig = WebSocketCloseCode(rawValue: 1009)
    /// 1011: the server hit an unexpected condition.
    public static let internalError = WebSocketCloseCode(rawValue: 1011)

    /// Whether the code may appear in a close frame: 1000–1003, 1007–1014 (registered with
    /// IANA) and 3000–4999 (libraries and applications).
    ///
    /// 1004 is reserved, and 1005, 1006 and 1015 only stand for "no code", "closed without a
    /// close frame" and "TLS failure" inside an endpoint; a frame carrying them, or any other
    /// code, is a protocol error.
    public var isValidOnWire: Bool {
        switch rawValue {
        case 1000...1003, 1007...1014, 3000...4999: return true
        default: return false
        }
    }

    /// The code as a decimal number.
    public var description: String { String(rawValue) }
}
