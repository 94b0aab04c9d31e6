/// A control-channel failure: the code and human-readable message of a
/// `{"ok":false,"error":{…}}` reply.
public struct ControlError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The machine-readable code.
    public let code: ControlErrorCode
    /// Human-readable text, naming the offending field where there is one.
    public let message: String

    /// Creates an error with a code and message.
    public init(_ code: ControlErrorCode, _ message: String) {
        self.code = code
        self.message = message
    }

    /// `code: message`.
    public var description: String { "\(code.name): \(message)" }

    /// A `bad_request` with `message`.
    public static func badRequest(_ message: String) -> ControlError {
        ControlError(.badRequest, message)
    }

    /// The reply to a frame over `maxControlMessage`.
    public static func messageTooLarge(maxMessageSize: Int) -> ControlError {
        ControlError(.messageTooLarge, "message longer than \(maxMessageSize) bytes")
    }
}
