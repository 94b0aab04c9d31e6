import CLibSSL

/// Certificates made in memory with OpenSSL for tests that need more than ``TestCertificates``'
/// one good chain: expired, not yet valid or misnamed leaves, unknown roots, intermediates that
/// are not CAs, revocation lists. P-256 keys; nothing is written to disk.
@_spi(Testing)
public final class TestPKI: @unchecked Sendable {
    private let certificate: OpaquePointer
    private let key: OpaquePointer
    /// The serial number the certificate was issued with.
    public let serial: Int

    private init(certificate: OpaquePointer, key: OpaquePointer, serial: Int) {
        self.certificate = certificate
        self.key = key
        self.serial = serial
    }

    deinit {
        X509_free(certificate)
        EVP_PKEY_free(key)
    }

    /// A self-signed root CA valid from an hour ago for twenty years.
    public static func root(_ commonName: String = "GameRelay test root CA") -> TestPKI {
        make(commonName, issuer: nil, isCA: true, alternativeNames: nil, serial: 1, validity: (-3600, 20 * 365 * 86_400))
    }

    /// A certificate signed by this one.
    ///
    /// - Parameters:
    ///   - isCA: Whether it may sign others; a leaf (false) is for TLS servers only.
    ///   - alternativeNames: OpenSSL's syntax, `"IP:127.0.0.1,DNS:localhost"`.
    ///   - validity: notBefore and notAfter, in seconds from now.
    public func issue(_ commonName: String, isCA: Bool = false, alternativeNames: String? = "IP:127.0.0.1,IP:::1,DNS:localhost",
                      serial: Int, validity: (from: Int, to: Int) = (-3600, 10 * 365 * 86_400)) -> TestPKI {
        Self.make(commonName, issuer: self, isCA: isCA, alternativeNames: alternativeNames, serial: serial, validity: validity)
    }

    private static func make(_ commonName: String, issuer: TestPKI?, isCA: Bool, alternativeNames: String?,
                             serial: Int, validity: (from: Int, to: Int)) -> TestPKI {
        guard let key = cssl_make_p256_key(),
              let certificate = cssl_make_certificate(commonName, key, issuer?.certificate, issuer?.key, isCA ? 1 : 0,
                                                      alternativeNames, serial, validity.from, validity.to) else {
            preconditionFailure("OpenSSL could not make a test certificate")
        }
        return TestPKI(certificate: certificate, key: key, serial: serial)
    }

    /// The certificate, PEM.
    public var pem: [UInt8] { Self.take(cssl_pem_certificate(certificate)) }
    /// The certificate, DER.
    public var der: [UInt8] {
        var bytes: UnsafeMutablePointer<UInt8>?
        let count = cssl_x509_der(certificate, &bytes)
        guard count > 0, let bytes else { preconditionFailure("OpenSSL could not encode a certificate") }
        defer { cssl_free(bytes) }
        return Array(UnsafeBufferPointer(start: bytes, count: Int(count)))
    }
    /// The private key, PEM.
    public var keyPEM: [UInt8] { Self.take(cssl_pem_key(key)) }

    /// The certificate with one bit of its signature flipped, PEM: it parses and matches its
    /// key, but no issuer's signature verifies.
    public var pemWithBrokenSignature: [UInt8] {
        var bytes = der
        bytes[bytes.count - 1] ^= 0x01
        let body = base64(bytes)
        var text = "-----BEGIN CERTIFICATE-----\n"
        var index = body.startIndex
        while index < body.endIndex {
            let end = body.index(index, offsetBy: 64, limitedBy: body.endIndex) ?? body.endIndex
            text += body[index..<end] + "\n"
            index = end
        }
        text += "-----END CERTIFICATE-----\n"
        return Array(text.utf8)
    }

    /// A revocation list signed by this CA revoking `serials`: DER and PEM.
    public func revocationList(revoking serial: Int) -> (der: [UInt8], pem: [UInt8]) {
        guard let list = cssl_make_crl(certificate, key, serial) else { preconditionFailure("OpenSSL could not make a CRL") }
        defer { X509_CRL_free(list) }
        var bytes: UnsafeMutablePointer<UInt8>?
        let count = cssl_crl_der(list, &bytes)
        guard count > 0, let bytes else { preconditionFailure("OpenSSL could not encode a CRL") }
        defer { cssl_free(bytes) }
        return (Array(UnsafeBufferPointer(start: bytes, count: Int(count))), Self.take(cssl_pem_crl(list)))
    }

    /// The bytes written to a memory BIO, which is then freed (shared with ``TestCertificates``).
    static func take(_ bio: OpaquePointer?) -> [UInt8] {
        guard let bio else { preconditionFailure("OpenSSL could not write PEM") }
        defer { BIO_free(bio) }
        var data: UnsafePointer<CChar>?
        let count = cssl_bio_contents(bio, &data)
        guard count > 0, let data else { return [] }
        return Array(UnsafeRawBufferPointer(start: data, count: count))
    }

    private func base64(_ bytes: [UInt8]) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
        var out = ""
        var index = 0
        while index < bytes.count {
            let chunk = bytes[index..<min(index + 3, bytes.count)]
            var value = 0
            for (offset, byte) in chunk.enumerated() { value |= Int(byte) << (16 - 8 * offset) }
            for position in 0..<4 {
                out.append(position <= chunk.count ? alphabet[(value >> (18 - 6 * position)) & 63] : "=")
            }
            index += 3
        }
        return out
    }
}
