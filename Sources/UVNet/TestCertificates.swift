import CLibSSL

/// A throwaway PKI for tests and fuzzing, made with OpenSSL in memory: a root CA, an
/// intermediate CA under it, and leaves for 127.0.0.1, ::1 and localhost signed by the
/// intermediate. P-256 keys; nothing is written to disk.
@_spi(Testing)
public struct TestCertificates: Sendable {
    /// The root CA certificate (PEM): the only thing a client should trust.
    public let rootPEM: [UInt8]
    /// The intermediate CA certificate (PEM).
    public let intermediatePEM: [UInt8]
    /// The leaf certificate (PEM).
    public let leafPEM: [UInt8]
    /// The leaf followed by the intermediate (PEM): what a server should send.
    public var chainPEM: [UInt8] { leafPEM + intermediatePEM }
    /// The leaf's private key (PEM).
    public let leafKeyPEM: [UInt8]
    /// A key that matches no certificate here (PEM).
    public let otherKeyPEM: [UInt8]
    /// The leaf's key encrypted with the passphrase `secret` (PEM): what a server must refuse
    /// rather than ask for a passphrase.
    public let encryptedLeafKeyPEM: [UInt8]

    /// Makes a fresh PKI; `leafValidity` is the leaf's notBefore…notAfter, in seconds from now.
    public init(leafValidity: (from: Int, to: Int) = (-3600, 10 * 365 * 86_400)) {
        let rootKey = cssl_make_p256_key()!
        let intermediateKey = cssl_make_p256_key()!
        let leafKey = cssl_make_p256_key()!
        let otherKey = cssl_make_p256_key()!
        defer { [rootKey, intermediateKey, leafKey, otherKey].forEach { EVP_PKEY_free($0) } }
        let root = cssl_make_certificate("GameRelay test root CA", rootKey, nil, nil, 1, nil, 1, -3600, 20 * 365 * 86_400)!
        let intermediate = cssl_make_certificate("GameRelay test intermediate CA", intermediateKey, root, rootKey, 1, nil, 2, -3600, 20 * 365 * 86_400)!
        let leaf = cssl_make_certificate("GameRelay test relay", leafKey, intermediate, intermediateKey, 0,
                                         "IP:127.0.0.1,IP:::1,DNS:localhost", 3, leafValidity.from, leafValidity.to)!
        defer { [root, intermediate, leaf].forEach { X509_free($0) } }
        rootPEM = Self.pem(cssl_pem_certificate(root))
        intermediatePEM = Self.pem(cssl_pem_certificate(intermediate))
        leafPEM = Self.pem(cssl_pem_certificate(leaf))
        leafKeyPEM = Self.pem(cssl_pem_key(leafKey))
        otherKeyPEM = Self.pem(cssl_pem_key(otherKey))
        encryptedLeafKeyPEM = Self.pem(cssl_pem_key_encrypted(leafKey, "secret"))
    }

    private static func pem(_ bio: OpaquePointer?) -> [UInt8] { TestPKI.take(bio) }
}
