import CLibUV

/// The one error type of UVNet: a ``Code`` with the flash.net meaning, the operation that failed,
/// and libuv's own code and text when libuv said no.
///
/// A struct with a code rather than a public enum, so new codes can be added without breaking
/// callers that switch over them (the style of swift-system's `Errno`).
public struct SocketError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong, in flash.net terms (`RangeError`, `ArgumentError`, `IOError`, `EOFError`).
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// The code's stable name, as printed in messages.
        public let name: String

        private init(_ name: String) { self.name = name }

        /// A port number outside 0…65535 (flash.net `RangeError`).
        public static let portOutOfRange = Code("portOutOfRange")
        /// An address that is not a valid IPv4 or IPv6 literal (flash.net `ArgumentError`).
        public static let invalidAddress = Code("invalidAddress")
        /// The local address and port are already taken by another socket.
        public static let addressInUse = Code("addressInUse")
        /// `bind` called on a socket that is already bound.
        public static let alreadyBound = Code("alreadyBound")
        /// An operation that needs a bound socket (such as `listen` or `receive`) before `bind`.
        public static let notBound = Code("notBound")
        /// `connect` called on a socket that is already connected.
        public static let alreadyConnected = Code("alreadyConnected")
        /// An operation that needs a connected socket, or a destination, without one.
        public static let notConnected = Code("notConnected")
        /// A datagram larger than the socket's `maxDatagramSize`: it would not fit one packet.
        public static let datagramTooLarge = Code("datagramTooLarge")
        /// A message larger than the configured maximum (``XMLSocket``).
        public static let messageTooLarge = Code("messageTooLarge")
        /// A read past the end of the available bytes (flash.net `EOFError`).
        public static let endOfFile = Code("endOfFile")
        /// An argument out of its documented range, other than a port.
        public static let invalidArgument = Code("invalidArgument")
        /// The socket is closed.
        public static let closed = Code("closed")
        /// The operation did not complete within the socket's `timeout`.
        public static let timedOut = Code("timedOut")
        /// A TLS handshake or record failed (``TLSFailure`` says why).
        public static let tls = Code("tls")
        /// Any other failure reported by the operating system (flash.net `IOError`).
        public static let io = Code("io")

        public var description: String { name }
    }

    /// What went wrong.
    public var code: Code
    /// The operation that failed, such as `"bind"` or `"send"`.
    public var operation: String
    /// libuv's error code (a negative errno), when libuv reported the failure.
    public var uvErrorCode: Int32?
    /// A human-readable explanation.
    public var message: String
    /// Why a ``SecureSocket`` refused the server's certificate, when it did.
    public var certificateStatus: CertificateStatus?

    /// Creates an error with an explicit code and message.
    public init(_ code: Code, operation: String, message: String, uvErrorCode: Int32? = nil) {
        self.code = code
        self.operation = operation
        self.message = message
        self.uvErrorCode = uvErrorCode
    }

    /// Creates an error from a libuv return code, mapping the codes with a flash.net meaning.
    public init(uvError: Int32, operation: String) {
        let name = String(cString: uv_err_name(uvError))
        let text = String(cString: uv_strerror(uvError))
        let code: Code
        switch uvError {
        case Int32(UV_EADDRINUSE.rawValue): code = .addressInUse
        case Int32(UV_EADDRNOTAVAIL.rawValue), Int32(UV_EAFNOSUPPORT.rawValue): code = .invalidAddress
        case Int32(UV_EISCONN.rawValue): code = .alreadyConnected
        case Int32(UV_ENOTCONN.rawValue), Int32(UV_EDESTADDRREQ.rawValue): code = .notConnected
        case Int32(UV_EMSGSIZE.rawValue): code = .datagramTooLarge
        case Int32(UV_ETIMEDOUT.rawValue): code = .timedOut
        case Int32(UV_EOF.rawValue): code = .endOfFile
        case Int32(UV_EBADF.rawValue), Int32(UV_ECANCELED.rawValue): code = .closed
        case Int32(UV_EINVAL.rawValue): code = .invalidArgument
        default: code = .io
        }
        self.init(code, operation: operation, message: "\(text) (\(name))", uvErrorCode: uvError)
    }

    public var description: String {
        "\(operation): \(message) [\(code)]"
    }
}

extension SocketError {
    /// The one funnel from libuv return codes to Swift errors: returns non-negative results,
    /// throws for negative ones.
    @discardableResult
    @inline(__always)
    static func check(_ result: Int32, _ operation: @autoclosure () -> String) throws(SocketError) -> Int32 {
        if result < 0 { throw SocketError(uvError: result, operation: operation()) }
        return result
    }
}
