import CLibSSL

/// One TLS connection as a byte transformer: ciphertext from the network goes in with
/// ``receive(_:)``, plaintext comes out of ``readPlaintext(into:)``; plaintext goes in with
/// ``write(_:)`` and ciphertext for the network comes out of ``takeOutput(_:)``.
///
/// OpenSSL's `SSL` over two memory BIOs: it never touches a socket, never blocks and has no loop
/// of its own, so the libuv loop that owns the connection drives it (``TLSStream`` does, over a
/// ``Socket``). What it buffers is bounded by what it is fed: the caller feeds one read at a time
/// and drains both directions after each call. Not thread-safe: use it on one thread.
public final class TLSEngine {
    /// The outcome of a handshake step.
    public enum HandshakeStep: Equatable, Sendable {
        /// The handshake is done; plaintext may flow.
        case done
        /// More bytes from the peer are needed (send ``takeOutput(_:)`` first).
        case needsInput
        /// The handshake failed; ``takeOutput(_:)`` may still hold an alert for the peer.
        case failed(TLSFailure)
    }

    /// The outcome of reading plaintext.
    public enum ReadOutcome: Equatable, Sendable {
        /// Everything decryptable so far was read; more needs more input.
        case needsInput
        /// The peer sent close_notify: no more plaintext will come.
        case closed
        /// A record failed to decrypt or broke the protocol.
        case failed(TLSFailure)
    }

    private let ssl: OpaquePointer
    private var input: OpaquePointer
    private var output: OpaquePointer
    /// The context this engine was made from (kept alive as long as the engine).
    public let context: TLSContext
    /// Whether the handshake has finished.
    public private(set) var isHandshakeComplete = false
    /// What ended the connection. OpenSSL gives no second answer for a connection it has failed
    /// (a later call finds an empty error queue), so every call after the first failure reports
    /// this one again rather than a vaguer or different one.
    private var failure: TLSFailure?

    /// Makes an engine for one connection.
    ///
    /// - Parameter serverName: For a client, the host connected to: sent as SNI (unless it is an
    ///   IP address) and checked against the server's certificate when the context verifies.
    public init(context: TLSContext, serverName: String? = nil) {
        self.context = context
        guard let ssl = SSL_new(context.pointer), let input = Self.memoryBIO(), let output = Self.memoryBIO() else {
            // Only allocation failure gets here; a relay out of memory can't serve anyway.
            preconditionFailure("OpenSSL could not allocate a connection")
        }
        SSL_set_bio(ssl, input, output)
        self.ssl = ssl
        self.input = input
        self.output = output
        switch context.role {
        case .server:
            SSL_set_accept_state(ssl)
        case .client:
            SSL_set_connect_state(ssl)
            if let serverName, !serverName.isEmpty {
                var checked = true
                if let literal = try? SocketAddress(ipAddress: serverName, port: 0) {
                    if context.verifiesPeer {
                        checked = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), literal.ipAddress) == 1
                    }
                } else {
                    _ = cssl_set_host_name(ssl, serverName)
                    if context.verifiesPeer { checked = SSL_set1_host(ssl, serverName) == 1 }
                }
                // A name OpenSSL did not take would not be checked at all: fail closed instead.
                if !checked {
                    ERR_clear_error()
                    failure = TLSFailure(.certificate, "the server name \(serverName) cannot be checked")
                }
            }
        }
    }

    deinit { SSL_free(ssl) }  // frees both BIOs too

    /// Hands ciphertext from the network to the engine; after a failure it is dropped, since
    /// OpenSSL reads no more of it and it would only pile up.
    public func receive(_ bytes: UnsafeRawBufferPointer) {
        guard failure == nil, let base = bytes.baseAddress, !bytes.isEmpty else { return }
        // A memory BIO takes everything or fails for want of memory.
        _ = BIO_write(input, base, Int32(bytes.count))
    }

    /// Advances the handshake with what has been received.
    public func handshake() -> HandshakeStep {
        if let failure { return .failed(failure) }
        if isHandshakeComplete { return .done }
        ERR_clear_error()
        let rc = SSL_do_handshake(ssl)
        if rc == 1 {
            isHandshakeComplete = true
            return .done
        }
        switch SSL_get_error(ssl, rc) {
        case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE:
            return .needsInput
        case SSL_ERROR_ZERO_RETURN:
            // close_notify before the handshake finished: the peer gave up, nothing broke.
            ERR_clear_error()
            return .failed(fail(TLSFailure(.closed, "the peer sent close_notify during the handshake")))
        default:
            return .failed(fail(TLSFailure.fromErrorQueue(verifyResult: Int(SSL_get_verify_result(ssl)))))
        }
    }

    /// Records the failure that ends the connection and returns it.
    private func fail(_ failure: TLSFailure) -> TLSFailure {
        self.failure = failure
        return failure
    }

    /// Decrypts what has been received, appending the plaintext to `plaintext`.
    public func readPlaintext(into plaintext: inout [UInt8]) -> ReadOutcome {
        if let failure { return .failed(failure) }
        ERR_clear_error()
        // A record's plaintext is at most 16 KiB; the buffer lives on the stack, so an idle
        // connection holds none.
        return withUnsafeTemporaryAllocation(byteCount: 16_384, alignment: 16) { scratch in
            readPlaintext(into: &plaintext, scratch: scratch)
        }
    }

    private func readPlaintext(into plaintext: inout [UInt8], scratch: UnsafeMutableRawBufferPointer) -> ReadOutcome {
        while true {
            // A read with nothing to read would allocate OpenSSL's 16 KiB record buffer only to
            // find nothing, and an idle connection would then keep it: stop before that.
            if SSL_pending(ssl) == 0, BIO_ctrl_pending(input) == 0 { return .needsInput }
            let count = SSL_read(ssl, scratch.baseAddress, Int32(scratch.count))
            if count > 0 {
                plaintext.append(contentsOf: UnsafeRawBufferPointer(rebasing: scratch[..<Int(count)]))
                continue
            }
            switch SSL_get_error(ssl, count) {
            case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE:
                return .needsInput
            case SSL_ERROR_ZERO_RETURN:
                return .closed
            default:
                return .failed(fail(TLSFailure.fromErrorQueue(verifyResult: 0)))
            }
        }
    }

    /// Encrypts `plaintext` (after the handshake), as records of at most 16 KiB.
    ///
    /// - Returns: nil, or why OpenSSL refused; a write before the handshake has finished is
    ///   refused without touching the connection (OpenSSL would quietly drive the handshake).
    public func write(_ plaintext: UnsafeRawBufferPointer) -> TLSFailure? {
        if let failure { return failure }
        guard let base = plaintext.baseAddress, !plaintext.isEmpty else { return nil }
        guard isHandshakeComplete else {
            return TLSFailure(.protocol, "plaintext written before the handshake finished")
        }
        ERR_clear_error()
        // Into a memory BIO a write is whole or fails; a record holds at most 16 KiB, so a
        // larger write becomes several.
        var offset = 0
        while offset < plaintext.count {
            let count = min(plaintext.count - offset, Int(Int32.max))
            let rc = SSL_write(ssl, base + offset, Int32(count))
            guard rc > 0 else { return fail(TLSFailure.fromErrorQueue(verifyResult: 0)) }
            offset += Int(rc)
        }
        return nil
    }

    /// Queues close_notify for the peer (the engine writes nothing more after it).
    public func shutdown() {
        ERR_clear_error()
        _ = SSL_shutdown(ssl)
        ERR_clear_error()
    }

    /// Whether ciphertext waits to go to the network.
    public var hasOutput: Bool { BIO_ctrl_pending(output) > 0 }

    /// Received ciphertext OpenSSL has not read yet: at most one incomplete record while the
    /// connection lives (the fuzz target checks that bound).
    @_spi(Testing)
    public var bufferedInputCount: Int { Int(BIO_ctrl_pending(input)) }

    /// Lends the ciphertext waiting for the network to `body`, then forgets it.
    public func takeOutput(_ body: (UnsafeRawBufferPointer) -> Void) {
        var data: UnsafePointer<CChar>?
        let count = cssl_bio_contents(output, &data)
        guard count > 0, let data else { return }
        body(UnsafeRawBufferPointer(start: data, count: count))
        _ = cssl_bio_reset(output)
    }

    /// Frees the memory BIOs' buffers when they are empty and larger than a small record: a
    /// memory BIO keeps the largest size it ever held, so without this an idle connection would
    /// keep its handshake flight or its largest message for good.
    public func releaseIdleBuffers() {
        if BIO_ctrl_pending(input) == 0, cssl_bio_mem_capacity(input) > Self.keptBufferSize, let fresh = Self.memoryBIO() {
            SSL_set0_rbio(ssl, fresh)  // frees the old one
            input = fresh
        }
        if BIO_ctrl_pending(output) == 0, cssl_bio_mem_capacity(output) > Self.keptBufferSize, let fresh = Self.memoryBIO() {
            SSL_set0_wbio(ssl, fresh)
            output = fresh
        }
    }

    /// What an idle connection's BIOs may keep allocated.
    static let keptBufferSize = 1024

    /// A memory BIO on which "empty" means "wait for more" (retry), not end of stream.
    private static func memoryBIO() -> OpaquePointer? {
        guard let bio = BIO_new(BIO_s_mem()) else { return nil }
        _ = cssl_bio_set_mem_eof_return(bio, -1)
        return bio
    }

    /// The negotiated protocol version (`"TLSv1.3"`), once the handshake is done.
    public var protocolVersion: String? {
        guard isHandshakeComplete, let text = SSL_get_version(ssl) else { return nil }
        return String(cString: text)
    }

    /// The protocol ALPN selected, if any.
    public var alpnProtocol: String? {
        var data: UnsafePointer<UInt8>?
        var length: UInt32 = 0
        SSL_get0_alpn_selected(ssl, &data, &length)
        guard let data, length > 0 else { return nil }
        return String(decoding: UnsafeBufferPointer(start: data, count: Int(length)), as: UTF8.self)
    }

    /// The peer's certificate (DER), if it sent one: also when the handshake refused it.
    public var peerCertificate: [UInt8]? {
        guard let certificate = cssl_peer_leaf(ssl) else { return nil }
        defer { X509_free(certificate) }
        var der: UnsafeMutablePointer<UInt8>?
        let length = i2d_X509(certificate, &der)
        guard length > 0, let der else { return nil }
        defer { CRYPTO_free(der, #file, #line) }
        return Array(UnsafeBufferPointer(start: der, count: Int(length)))
    }

    /// The X.509 verification result (`X509_V_OK`, 0, when the chain verified).
    public var verifyResult: Int { Int(SSL_get_verify_result(ssl)) }
}
