import CLibSSL

/// Why a server certificate was accepted or refused, with flash.net's `CertificateStatus` names
/// (``SecureSocket/serverCertificateStatus``).
///
/// A struct with stable names rather than a public enum, as ``SocketError/Code`` is. OpenSSL
/// stops at the first problem it finds in a chain, so a certificate with several problems
/// reports one of them.
public struct CertificateStatus: Hashable, Sendable, CustomStringConvertible {
    /// The status's flash.net name (`"trusted"`, `"principalMismatch"`, …).
    public let name: String

    private init(_ name: String) { self.name = name }

    /// The certificate chains to a trusted root, is valid now, is not revoked and names the host.
    public static let trusted = CertificateStatus("trusted")
    /// A certificate of the chain is past its notAfter date.
    public static let expired = CertificateStatus("expired")
    /// A certificate of the chain is before its notBefore date.
    public static let notYetValid = CertificateStatus("notYetValid")
    /// The certificate is unusable: a bad signature, a malformed field, the wrong purpose.
    public static let invalid = CertificateStatus("invalid")
    /// The chain is broken: an issuer that is not a CA, or a path longer than a CA allows.
    public static let invalidChain = CertificateStatus("invalidChain")
    /// The certificate names neither the host name nor the address connected to.
    public static let principalMismatch = CertificateStatus("principalMismatch")
    /// A revocation list given to the client revokes a certificate of the chain.
    public static let revoked = CertificateStatus("revoked")
    /// The chain leads to no trusted root (an unknown CA, a self-signed certificate).
    public static let untrustedSigners = CertificateStatus("untrustedSigners")
    /// Not validated (yet): before the handshake, or when it failed before the certificate.
    public static let unknown = CertificateStatus("unknown")

    /// Every status, in flash.net's order.
    public static let all: [CertificateStatus] = [.trusted, .expired, .notYetValid, .invalid, .invalidChain,
                                                  .principalMismatch, .revoked, .untrustedSigners, .unknown]

    public var description: String { name }

    /// The status for an OpenSSL verification result (`X509_V_OK` or an `X509_V_ERR_*` code).
    public init(verifyResult: Int) {
        switch Int32(verifyResult) {
        case X509_V_OK:
            self = .trusted
        case X509_V_ERR_CERT_HAS_EXPIRED:
            self = .expired
        case X509_V_ERR_CERT_NOT_YET_VALID:
            self = .notYetValid
        case X509_V_ERR_HOSTNAME_MISMATCH, X509_V_ERR_IP_ADDRESS_MISMATCH, X509_V_ERR_EMAIL_MISMATCH:
            self = .principalMismatch
        case X509_V_ERR_CERT_REVOKED:
            self = .revoked
        case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT, X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY,
             X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE, X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT,
             X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN, X509_V_ERR_CERT_UNTRUSTED, X509_V_ERR_CERT_REJECTED:
            self = .untrustedSigners
        case X509_V_ERR_INVALID_CA, X509_V_ERR_PATH_LENGTH_EXCEEDED, X509_V_ERR_CERT_CHAIN_TOO_LONG,
             X509_V_ERR_KEYUSAGE_NO_CERTSIGN, X509_V_ERR_INVALID_NON_CA, X509_V_ERR_PROXY_PATH_LENGTH_EXCEEDED,
             X509_V_ERR_PERMITTED_VIOLATION, X509_V_ERR_EXCLUDED_VIOLATION, X509_V_ERR_SUBTREE_MINMAX,
             X509_V_ERR_PATH_LOOP:
            self = .invalidChain
        default:
            self = .invalid
        }
    }
}
