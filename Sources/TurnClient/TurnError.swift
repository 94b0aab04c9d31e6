import UVNet

/// The one error type of TurnClient: a code, a message, and the server's ERROR-CODE or the socket
/// error underneath when there is one.
///
/// A struct with a code rather than an enum, so codes can be added without breaking callers.
public struct TurnError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// The code's stable name.
        public let name: String
        private init(_ name: String) { self.name = name }

        /// Bytes that are not a well-formed STUN message or ChannelData frame.
        public static let malformed = Code("malformed")
        /// The server answered with an error response; ``TurnError/stunError`` says which.
        public static let rejected = Code("rejected")
        /// The server wants credentials (401) and none were given, or it refused them.
        public static let unauthorized = Code("unauthorized")
        /// No response after every retransmission.
        public static let timedOut = Code("timedOut")
        /// The operation needs an allocation first.
        public static let notAllocated = Code("notAllocated")
        /// The server's answer lacked an attribute the operation needs, or failed its integrity check.
        public static let protocolViolation = Code("protocolViolation")
        /// An argument outside what the protocol allows (such as a channel outside 0x4000…0x4FFF).
        public static let invalidArgument = Code("invalidArgument")
        /// The allocation is closed.
        public static let closed = Code("closed")
        /// A socket error (see ``TurnError/socketError``).
        public static let io = Code("io")

        /// The code's name.
        public var description: String { name }
    }

    /// What went wrong.
    public var code: Code
    /// A human-readable explanation.
    public var message: String
    /// The server's ERROR-CODE, for ``Code/rejected`` and ``Code/unauthorized``.
    public var stunError: StunErrorCode?
    /// The socket error, for ``Code/io``.
    public var socketError: SocketError?

    /// Creates an error.
    public init(_ code: Code, _ message: String, stunError: StunErrorCode? = nil, socketError: SocketError? = nil) {
        self.code = code
        self.message = message
        self.stunError = stunError
        self.socketError = socketError
    }

    /// Wraps a socket error as ``Code/io``.
    public init(_ error: SocketError) {
        self.init(.io, error.description, socketError: error)
    }

    /// `code: message`, with the server's error code when there is one.
    public var description: String {
        stunError.map { "\(code) (\($0)): \(message)" } ?? "\(code): \(message)"
    }
}
