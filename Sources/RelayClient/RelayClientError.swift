import RelayWire
import UVNet

/// The one error type of ``RelayClient``: a code, a message, and the relay's own error code
/// when the relay refused a request.
public struct RelayClientError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// The code's stable name.
        public let name: String
        private init(_ name: String) { self.name = name }

        /// The relay answered `ok: false`; ``RelayClientError/relayCode`` says why.
        public static let refused = Code("refused")
        /// No answer within the client's timeout.
        public static let timedOut = Code("timedOut")
        /// The operation needs a joined session.
        public static let notJoined = Code("notJoined")
        /// A DATA payload that would make a datagram larger than the relay's `maxDatagram`.
        public static let datagramTooLarge = Code("datagramTooLarge")
        /// The relay sent something the client could not read.
        public static let protocolViolation = Code("protocolViolation")
        /// The connection is closed.
        public static let closed = Code("closed")
        /// The TLS handshake with the relay failed: a certificate that did not verify, a name
        /// that did not match, or a relay that does not speak TLS on the port.
        public static let tls = Code("tls")
        /// The relay answered the WebSocket upgrade with an HTTP status other than 101;
        /// ``RelayClientError/httpStatus`` holds it (403: an origin the relay does not accept,
        /// or a plain upgrade to a relay that requires TLS).
        public static let upgradeRefused = Code("upgradeRefused")
        /// A socket error (see ``RelayClientError/socketError``).
        public static let io = Code("io")

        public var description: String { name }
    }

    /// What went wrong.
    public var code: Code
    /// A human-readable explanation.
    public var message: String
    /// The relay's error code (`not_found`, `full`, …) when ``code`` is ``Code/refused``.
    public var relayCode: String?
    /// The socket error underneath, when ``code`` is ``Code/io`` (or a TLS connect failed).
    public var socketError: SocketError?
    /// Why the relay's certificate was refused (flash.net's status names), when ``code`` is
    /// ``Code/tls`` because of its certificate.
    public var certificateStatus: CertificateStatus?
    /// The relay's HTTP status when ``code`` is ``Code/upgradeRefused``.
    public var httpStatus: Int?

    /// Creates an error.
    public init(_ code: Code, _ message: String, relayCode: String? = nil, socketError: SocketError? = nil) {
        self.code = code
        self.message = message
        self.relayCode = relayCode
        self.socketError = socketError
    }

    /// Wraps a socket error.
    public init(_ error: SocketError) {
        self.init(.io, error.description, socketError: error)
    }

    public var description: String {
        relayCode.map { "\(code) (\($0)): \(message)" } ?? "\(code): \(message)"
    }
}
