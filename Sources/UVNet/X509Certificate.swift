import CLibSSL

/// A certificate as flash.security's `X509Certificate` shows it: the DER bytes and the fields a
/// program reads to show or pin it (``SecureSocket/serverCertificate``).
public struct X509Certificate: Hashable, Sendable {
    /// The certificate's DER encoding (flash.net `encoded`).
    public let encoded: [UInt8]
    /// The subject's distinguished name, RFC 2253 text (`CN=relay.example.net,O=…`).
    public let subject: String
    /// The issuer's distinguished name, RFC 2253 text.
    public let issuer: String
    /// The serial number, upper-case hexadecimal.
    public let serialNumber: String
    /// The start of the validity period, in seconds since 1970 (flash.net `validNotBefore`).
    public let validNotBefore: Int64
    /// The end of the validity period, in seconds since 1970 (flash.net `validNotAfter`).
    public let validNotAfter: Int64

    /// Parses a DER certificate; nil when `der` is not exactly one.
    public init?(der: [UInt8]) {
        let parsed = der.withUnsafeBytes { cssl_x509_from_der($0.baseAddress?.assumingMemoryBound(to: UInt8.self), $0.count) }
        guard let parsed else { return nil }
        defer { X509_free(parsed) }
        encoded = der
        subject = Self.text { cssl_x509_subject(parsed, $0, $1) }
        issuer = Self.text { cssl_x509_issuer(parsed, $0, $1) }
        serialNumber = Self.text { cssl_x509_serial_hex(parsed, $0, $1) }
        validNotBefore = Int64(cssl_x509_not_before(parsed))
        validNotAfter = Int64(cssl_x509_not_after(parsed))
    }

    /// A name is at most a few hundred bytes in practice; longer ones are cut at 4 KiB.
    private static func text(_ fill: (UnsafeMutablePointer<CChar>, Int32) -> Int32) -> String {
        withUnsafeTemporaryAllocation(of: CChar.self, capacity: 4096) { buffer in
            let length = fill(buffer.baseAddress!, Int32(buffer.count))
            return String(decoding: UnsafeRawBufferPointer(start: buffer.baseAddress!, count: Int(max(0, length))), as: UTF8.self)
        }
    }
}
