import CLibSSL

/// Why a TLS handshake or an established TLS stream failed: a ``Reason`` to count by (a metric
/// label) and OpenSSL's text, for a debug log.
public struct TLSFailure: Error, Hashable, Sendable, CustomStringConvertible {
    /// A failure's class, stable enough to label a metric with.
    public struct Reason: Hashable, Sendable, CustomStringConvertible {
        /// The reason's stable name (a metric label value).
        public let name: String
        private init(_ name: String) { self.name = name }

        /// The peer offered no protocol version this side accepts (TLS 1.2 and 1.3 only).
        public static let version = Reason("version")
        /// No cipher suite, group or signature algorithm in common.
        public static let cipher = Reason("cipher")
        /// The peer sent a fatal alert.
        public static let alert = Reason("alert")
        /// The peer's certificate did not verify (client side).
        public static let certificate = Reason("certificate")
        /// Bytes that are not TLS, or TLS that breaks the protocol.
        public static let `protocol` = Reason("protocol")
        /// The peer closed the connection before the handshake finished.
        public static let closed = Reason("closed")
        /// The handshake did not finish in time.
        public static let timeout = Reason("timeout")

        /// Every reason, for metrics that show zero counts too.
        public static let all: [Reason] = [.version, .cipher, .alert, .certificate, .protocol, .closed, .timeout]

        public var description: String { name }
    }

    /// The failure's class.
    public var reason: Reason
    /// OpenSSL's text, or a description of the event.
    public var message: String

    /// Creates a failure.
    public init(_ reason: Reason, _ message: String) {
        self.reason = reason
        self.message = message
    }

    public var description: String { "\(reason): \(message)" }

    /// Classifies the error OpenSSL queued for the call that just failed, and empties the queue.
    static func fromErrorQueue(verifyResult: Int) -> TLSFailure {
        let code = ERR_peek_error()
        var text = ""
        if code != 0, let reason = ERR_reason_error_string(code) { text = String(cString: reason) }
        ERR_clear_error()
        // A chain that did not verify can queue a library's error (a signature check's) before
        // OpenSSL's "certificate verify failed": the verification result is the better reason.
        if verifyResult != 0 {
            return TLSFailure(.certificate, String(cString: X509_verify_cert_error_string(verifyResult)))
        }
        guard code != 0 else { return TLSFailure(.protocol, "TLS failed without a reason") }
        // Reason codes are numbered per library: an ASN.1 error in a certificate ("invalid
        // utf8string", 134) shares its number with SSL's "certificate verify failed".
        guard ERR_GET_LIB(code) == ERR_LIB_SSL else { return TLSFailure(.protocol, text) }
        let reason = Int32(ERR_GET_REASON(code))
        switch reason {
        case SSL_R_UNSUPPORTED_PROTOCOL, SSL_R_WRONG_VERSION_NUMBER, SSL_R_VERSION_TOO_LOW,
             SSL_R_UNKNOWN_PROTOCOL, SSL_R_TLSV1_ALERT_PROTOCOL_VERSION:
            return TLSFailure(.version, text)
        case SSL_R_NO_SHARED_CIPHER, SSL_R_NO_SUITABLE_SIGNATURE_ALGORITHM, SSL_R_NO_SHARED_GROUPS,
             SSL_R_NO_CIPHERS_AVAILABLE:
            return TLSFailure(.cipher, text)
        case SSL_R_CERTIFICATE_VERIFY_FAILED:
            let detail = verifyResult != 0 ? String(cString: X509_verify_cert_error_string(verifyResult)) : text
            return TLSFailure(.certificate, detail)
        default:
            // Alerts received are reasons 1000 + the alert's number; reasons with a common
            // flag set (say, "EVP lib") are larger still and are not alerts.
            if reason >= SSL_AD_REASON_OFFSET, reason < SSL_AD_REASON_OFFSET + 256 { return TLSFailure(.alert, text) }
            return TLSFailure(.protocol, text)
        }
    }
}
