import CLibSSL

#if canImport(Glibc)
import Glibc
#endif

/// The settings TLS connections are made from: OpenSSL's `SSL_CTX`, in server mode (a
/// certificate chain and its key) or client mode (trust roots), TLS 1.2 and 1.3 only.
///
/// Immutable once made, so one context serves connections on any loop (OpenSSL makes `SSL`
/// objects from a configured `SSL_CTX` from any thread); replacing a server's certificate means
/// making a new context, which connections accepted after it use while open ones keep theirs.
public final class TLSContext: @unchecked Sendable {
    /// Which side of the handshake connections made from this context play.
    public enum Role: Sendable { case server, client }

    let pointer: OpaquePointer
    /// Which side connections made from this context play.
    public let role: Role
    /// Whether a client checks the server's certificate and name.
    public let verifiesPeer: Bool
    /// When the leaf certificate expires (seconds since 1970), for a server; 0 for a client.
    /// Set while the context is made, never after.
    public private(set) var certificateNotAfter: Int64 = 0

    /// The largest PEM file read: certificate chains and keys are a few KiB.
    static let maxFileSize = 1 << 20

    private init(role: Role, verifiesPeer: Bool) throws(TLSError) {
        guard let pointer = SSL_CTX_new(role == .server ? TLS_server_method() : TLS_client_method()) else {
            throw TLSError(.configuration, "OpenSSL could not make a context: \(TLSError.openSSLReason())")
        }
        self.pointer = pointer
        self.role = role
        self.verifiesPeer = verifiesPeer
        guard cssl_ctx_set_protocol_range(pointer, cssl_tls12(), cssl_tls13()) == 1 else {
            throw TLSError(.configuration, "OpenSSL refused the TLS 1.2–1.3 range: \(TLSError.openSSLReason())")
        }
        // Idle connections hold no record buffers; renegotiation (a cheap way to make a server
        // work hard) and compression (CRIME) are off.
        _ = cssl_ctx_set_mode(pointer, Int(SSL_MODE_RELEASE_BUFFERS))
        cssl_ctx_set_common_options(pointer)
    }

    /// The chain-building certificates of a client context, which its verify callback reads.
    private var chainCertificates: OpaquePointer?

    deinit {
        SSL_CTX_free(pointer)
        if let chainCertificates { cssl_cert_stack_free(chainCertificates) }
    }

    /// A server context from PEM text: `certificateChain` holds the leaf first, then the CA
    /// certificates sent with it; `privateKey` the leaf's unencrypted key. An expired
    /// certificate is taken as it is.
    ///
    /// - Parameter names: How the two inputs are named in error messages (their files).
    /// - Throws: ``TLSError`` `.invalidCertificate` (no leaf, or a certificate in the chain that
    ///   does not parse), `.invalidKey`, `.keyMismatch`, `.configuration`.
    public static func server(certificateChain: [UInt8], privateKey: [UInt8],
                              names: (certificate: String, key: String) = ("the certificate", "the key")) throws(TLSError) -> TLSContext {
        let context = try TLSContext(role: .server, verifiesPeer: false)
        let ctx = context.pointer
        // Long-lived control connections gain nothing from resumption; no tickets means a
        // TLS 1.3 handshake writes less and keeps no ticket key to rotate.
        _ = cssl_ctx_set_session_cache_mode(ctx, Int(SSL_SESS_CACHE_OFF))
        cssl_ctx_set_no_tickets(ctx)
        cssl_ctx_enable_server_alpn(ctx)
        let taken = certificateChain.withUnsafeBytes { cssl_ctx_use_chain_pem(ctx, $0.baseAddress, Int32($0.count)) }
        guard taken > 0 else {
            throw TLSError(.invalidCertificate, "\(names.certificate) holds no valid PEM certificate chain (\(TLSError.openSSLReason()))")
        }
        let keyTaken = privateKey.withUnsafeBytes { cssl_ctx_use_key_pem(ctx, $0.baseAddress, Int32($0.count)) }
        guard keyTaken == 1 else {
            let reason = TLSError.openSSLReason()
            if reason.contains("mismatch") {
                throw TLSError(.keyMismatch, "the key in \(names.key) does not match the certificate in \(names.certificate)")
            }
            if reason.contains("password") {
                throw TLSError(.invalidKey, "\(names.key) is encrypted; the relay needs the key without a passphrase")
            }
            throw TLSError(.invalidKey, "\(names.key) holds no unencrypted PEM private key (\(reason))")
        }
        guard SSL_CTX_check_private_key(ctx) == 1 else {
            ERR_clear_error()
            throw TLSError(.keyMismatch, "the key in \(names.key) does not match the certificate in \(names.certificate)")
        }
        context.certificateNotAfter = Int64(cssl_ctx_leaf_not_after(ctx))
        return context
    }

    /// A server context from two PEM files (see ``server(certificateChain:privateKey:names:)``).
    ///
    /// - Throws: ``TLSError``; `.unreadableFile` names the file and the system's reason.
    public static func server(certificateFile: String, keyFile: String) throws(TLSError) -> TLSContext {
        let chain = try readFile(certificateFile)
        let key = try readFile(keyFile)
        return try server(certificateChain: chain, privateKey: key, names: (certificateFile, keyFile))
    }

    /// A client context. With `verify` (the default) the server's chain must lead to one of
    /// `trustRoots` (PEM; the system's store when nil) or `trustedCertificates`, and name the
    /// host connected to.
    ///
    /// - Parameters:
    ///   - alpn: Protocols offered by ALPN, most preferred first.
    ///   - trustedCertificates: DER certificates trusted as roots besides `trustRoots`.
    ///   - chainCertificates: DER certificates the chain may be built through, as if the server
    ///     had sent them, without being trusted themselves.
    ///   - revocationLists: Certificate revocation lists (one DER list each, or PEM text with any
    ///     number): a certificate they revoke is refused. Chains through CAs with no list here
    ///     are not checked for revocation.
    /// - Throws: ``TLSError`` `.invalidTrustRoots` when `trustRoots` holds no certificate or an
    ///   added certificate or list does not parse.
    public static func client(trustRoots: [UInt8]? = nil, verify: Bool = true, alpn: [String] = ["gamerelay/1"],
                              trustedCertificates: [[UInt8]] = [], chainCertificates: [[UInt8]] = [],
                              revocationLists: [[UInt8]] = []) throws(TLSError) -> TLSContext {
        let context = try TLSContext(role: .client, verifiesPeer: verify)
        let ctx = context.pointer
        if verify {
            cssl_ctx_verify_peer(ctx)
            if let trustRoots {
                let count = trustRoots.withUnsafeBytes { cssl_ctx_add_trust_pem(ctx, $0.baseAddress, Int32($0.count)) }
                guard count > 0 else { throw TLSError(.invalidTrustRoots, "the trust roots hold no PEM certificate") }
            } else if SSL_CTX_set_default_verify_paths(ctx) != 1 {
                throw TLSError(.configuration, "the system's trust store could not be loaded: \(TLSError.openSSLReason())")
            }
            for (index, der) in trustedCertificates.enumerated() {
                let taken = der.withUnsafeBytes { cssl_ctx_add_trust_der(ctx, $0.baseAddress?.assumingMemoryBound(to: UInt8.self), $0.count) }
                guard taken == 1 else { throw TLSError(.invalidTrustRoots, "trusted certificate \(index + 1) is not a DER certificate") }
            }
            if !chainCertificates.isEmpty {
                guard let stack = cssl_cert_stack_new() else { throw TLSError(.configuration, "OpenSSL could not allocate") }
                context.chainCertificates = stack
                for (index, der) in chainCertificates.enumerated() {
                    let certificate = der.withUnsafeBytes { cssl_x509_from_der($0.baseAddress?.assumingMemoryBound(to: UInt8.self), $0.count) }
                    guard let certificate, cssl_cert_stack_push(stack, certificate) == 1 else {
                        throw TLSError(.invalidTrustRoots, "chain-building certificate \(index + 1) is not a DER certificate")
                    }
                }
                cssl_ctx_set_chain_certs(ctx, stack)
            }
            for (index, list) in revocationLists.enumerated() {
                let taken = list.withUnsafeBytes { cssl_ctx_add_crl(ctx, $0.baseAddress?.assumingMemoryBound(to: UInt8.self), $0.count) }
                guard taken > 0 else { throw TLSError(.invalidTrustRoots, "revocation list \(index + 1) is neither a DER nor a PEM CRL") }
            }
        } else {
            SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nil)
        }
        if !alpn.isEmpty {
            var wire: [UInt8] = []
            for name in alpn where !name.isEmpty && name.utf8.count < 256 {
                wire.append(UInt8(name.utf8.count))
                wire.append(contentsOf: name.utf8)
            }
            // SSL_CTX_set_alpn_protos returns 0 on success.
            guard wire.withUnsafeBufferPointer({ SSL_CTX_set_alpn_protos(ctx, $0.baseAddress, UInt32($0.count)) }) == 0 else {
                throw TLSError(.configuration, "OpenSSL refused the ALPN list \(alpn)")
            }
        }
        return context
    }

    /// Caps this (fresh, still unused) context at TLS 1.2, whose Certificate message travels
    /// in the clear: the client-side fuzz target alters it on the way. Tests only.
    @_spi(Testing)
    public func restrictToTLS12() {
        _ = cssl_ctx_set_protocol_range(pointer, cssl_tls12(), cssl_tls12())
    }

    /// The client context every ``SecureSocket`` without certificates of its own shares: the
    /// system's trust store, read once (parsing it costs milliseconds), on first use.
    public static func systemClient() throws(TLSError) -> TLSContext {
        try sharedSystemClient.get()
    }

    private static let sharedSystemClient = Result { () throws(TLSError) -> TLSContext in try client() }

    /// A client context trusting the PEM certificates in `trustRootsFile` (see ``client(trustRoots:verify:alpn:)``).
    public static func client(trustRootsFile: String, alpn: [String] = ["gamerelay/1"]) throws(TLSError) -> TLSContext {
        let roots = try readFile(trustRootsFile)
        do {
            return try client(trustRoots: roots, alpn: alpn)
        } catch let error where error.code == .invalidTrustRoots {
            throw TLSError(error.code, "\(trustRootsFile) holds no PEM certificate")
        }
    }

    /// Reads a whole file of at most ``maxFileSize`` bytes.
    static func readFile(_ path: String) throws(TLSError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw TLSError(.unreadableFile, "cannot read \(path): \(String(cString: strerror(errno)))")
        }
        defer { Glibc.close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16_384)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw TLSError(.unreadableFile, "cannot read \(path): \(String(cString: strerror(errno)))")
            }
            if count == 0 { break }
            bytes.append(contentsOf: chunk[..<count])
            guard bytes.count <= maxFileSize else {
                throw TLSError(.unreadableFile, "\(path) is larger than \(maxFileSize) bytes; not a PEM file")
            }
        }
        return bytes
    }
}
