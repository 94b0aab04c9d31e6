import CLibSSL

/// Why a ``TLSContext`` could not be made: a file that can't be read, PEM that holds no
/// certificate or key, a key that doesn't match its certificate, or OpenSSL refusing a setting.
///
/// The ``message`` is one line meant for an operator, naming the file at fault.
public struct TLSError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The kind of failure.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// The code's stable name.
        public let name: String
        private init(_ name: String) { self.name = name }

        /// A file could not be read.
        public static let unreadableFile = Code("unreadableFile")
        /// The certificate PEM holds no certificate OpenSSL can parse.
        public static let invalidCertificate = Code("invalidCertificate")
        /// The key PEM holds no private key OpenSSL can parse.
        public static let invalidKey = Code("invalidKey")
        /// The private key does not belong to the certificate.
        public static let keyMismatch = Code("keyMismatch")
        /// Trust roots that hold no certificate.
        public static let invalidTrustRoots = Code("invalidTrustRoots")
        /// OpenSSL refused a setting.
        public static let configuration = Code("configuration")

        public var description: String { name }
    }

    /// What went wrong.
    public var code: Code
    /// One line for an operator.
    public var message: String

    /// Creates an error with a code and a message.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }

    /// The reason OpenSSL queued last, as text (and the queue emptied), for a message's tail.
    static func openSSLReason() -> String {
        let code = ERR_peek_last_error()
        defer { ERR_clear_error() }
        guard code != 0, let reason = ERR_reason_error_string(code) else { return "" }
        return String(cString: reason)
    }
}
