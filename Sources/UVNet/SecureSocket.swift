import CLibSSL

/// A TLS client connection in the shape of flash.net's `SecureSocket`: a ``Socket`` whose bytes
/// travel inside TLS 1.2 or 1.3, to a server whose certificate has been validated.
///
/// ``connect(host:port:)`` connects, shakes hands and validates the server's certificate chain
/// against the system's trust store (Debian's `ca-certificates`) plus the certificates given to
/// ``addBinaryChainBuildingCertificate(_:trusted:)``, and checks that it names `host` (a host
/// name, or an IP address against the certificate's IP entries). ``onConnect`` follows only a
/// ``CertificateStatus/trusted`` certificate; any other status ends the connection with an
/// ``onIOError`` whose error carries the status, which ``serverCertificateStatus`` also keeps, as
/// the AIR documentation describes. Reads and writes are plaintext, through the same
/// ``DataInput`` and ``DataOutput`` methods as a ``Socket``.
///
/// Loop-bound, like the socket under it. ``TLSStream`` does the record work on the socket's
/// loop; no thread of its own. Lifetime: as for ``XMLSocket``, the socket's handlers hold the
/// secure socket until the connection has closed, so one nobody else keeps still delivers.
///
/// Differences from flash.net: ``timeout`` bounds the handshake as well as the TCP connect;
/// ``serverName`` may name the certificate's expected name when it differs from the host
/// connected to; ``addRevocationList(_:)`` gives the client revocation lists, which AIR took from
/// the operating system.
public final class SecureSocket: ByteStream, DataInput, DataOutput {
    /// The TCP connection under the TLS stream.
    public let socket: Socket
    /// The loop that owns this socket.
    public var loop: EventLoop { socket.loop }
    /// Byte order of the multi-byte reads and writes; big-endian by default.
    public var endian: Endian = .bigEndian
    /// How long ``connect(host:port:)`` may take, name resolution, TCP and the TLS handshake
    /// together (flash.net default: 20 s).
    public var timeout: Duration = .seconds(20)
    /// The name the server's certificate must carry (and the SNI sent); the host given to
    /// ``connect(host:port:)`` when nil or empty, so a name is always checked. A UVNet
    /// addition, for servers reached by address.
    public var serverName: String?

    /// Called once the handshake is done and the certificate is trusted (flash.net `Event.CONNECT`).
    public var onConnect: (() -> Void)?
    /// Called when plaintext arrives, with its count (flash.net `ProgressEvent.SOCKET_DATA`).
    public var onData: ((Int) -> Void)?
    /// Called when the server ends the connection after it was established (flash.net `Event.CLOSE`).
    public var onClose: (() -> Void)?
    /// Called when connecting, the handshake, the certificate or the connection fails (flash.net
    /// `IOErrorEvent`); a refused certificate's error has ``SocketError/certificateStatus`` set.
    public var onIOError: ((SocketError) -> Void)?
    /// Called when written bytes reach the kernel, with the bytes still pending (flash.net `OutputProgressEvent`).
    public var onOutputProgress: ((Int) -> Void)?

    /// Whether TLS is available: UVNet links OpenSSL 3, so it always is (flash.net `isSupported`).
    public static var isSupported: Bool { OpenSSL_version_num() >= 0x3000_0000 }

    /// The server's certificate, once the handshake has received it (flash.net `serverCertificate`);
    /// set for a refused certificate too, so a program can show what it refused.
    public private(set) var serverCertificate: X509Certificate?
    /// The outcome of validating the server's certificate: ``CertificateStatus/unknown`` until
    /// the handshake has validated it (flash.net `serverCertificateStatus`).
    public private(set) var serverCertificateStatus: CertificateStatus = .unknown
    /// The negotiated protocol (`"TLSv1.3"`), once connected.
    public var protocolVersion: String? { stream?.engine.protocolVersion }
    /// Whether the connection is established: TCP, handshake and a trusted certificate.
    public private(set) var connected = false
    /// Whether ``close()`` has been called or the connection has ended.
    public private(set) var isClosed = false

    private let givenContext: TLSContext?
    private var trustedCertificates: [[UInt8]] = []
    private var chainCertificates: [[UInt8]] = []
    private var revocationLists: [[UInt8]] = []
    private var stream: TLSStream?
    private var host = ""
    private var context: TLSContext?
    private var deadline: Timer?
    /// Plaintext written before the TLS stream exists, and whether a flush or shutdown was asked for.
    private var earlyOutput: [UInt8] = []
    private var earlyFlush = false
    private var earlyShutdown = false

    /// Creates an unconnected secure socket on `loop`. Loop thread only.
    public convenience init(loop: EventLoop) {
        self.init(socket: Socket(loop: loop))
    }

    /// Puts a secure socket over an unconnected `socket`, taking over its events.
    ///
    /// - Parameter context: A client context to validate with instead of the system's trust
    ///   store (say, a relay operator's own root); certificates can then not be added to this
    ///   socket, since one context serves many connections.
    public init(socket: Socket, context: TLSContext? = nil) {
        socket.loop.preconditionInEventLoop()
        self.socket = socket
        givenContext = context
    }

    // MARK: Certificates

    /// Adds a DER certificate for building the server's chain (flash.net
    /// `addBinaryChainBuildingCertificate`): with `trusted`, a root the chain may end at;
    /// without, an intermediate the chain may pass through, as if the server had sent it.
    ///
    /// - Throws: ``SocketError`` `.invalidArgument` when `certificate` is not one DER
    ///   certificate, or after ``connect(host:port:)``, or for a socket made with a context.
    public func addBinaryChainBuildingCertificate(_ certificate: [UInt8], trusted: Bool) throws(SocketError) {
        try checkCanAddCertificates("addBinaryChainBuildingCertificate")
        guard X509Certificate(der: certificate) != nil else {
            throw SocketError(.invalidArgument, operation: "addBinaryChainBuildingCertificate", message: "the bytes are not one DER certificate")
        }
        if trusted { trustedCertificates.append(certificate) } else { chainCertificates.append(certificate) }
    }

    /// Adds a DER certificate from a ``ByteArray`` (all its bytes; see ``addBinaryChainBuildingCertificate(_:trusted:)-([UInt8],_)``).
    public func addBinaryChainBuildingCertificate(_ certificate: ByteArray, trusted: Bool) throws(SocketError) {
        try addBinaryChainBuildingCertificate(certificate.bytes, trusted: trusted)
    }

    /// Adds certificate revocation lists (one DER list, or PEM text holding any number): a
    /// certificate of the server's chain that one of them revokes is ``CertificateStatus/revoked``.
    /// Chains through CAs without a list here are not checked for revocation. A UVNet addition.
    ///
    /// - Throws: ``SocketError`` `.invalidArgument` when the bytes hold no list, or as
    ///   ``addBinaryChainBuildingCertificate(_:trusted:)-([UInt8],_)``.
    public func addRevocationList(_ list: [UInt8]) throws(SocketError) {
        try checkCanAddCertificates("addRevocationList")
        let count = list.withUnsafeBytes { cssl_crl_count($0.baseAddress?.assumingMemoryBound(to: UInt8.self), $0.count) }
        guard count > 0 else {
            throw SocketError(.invalidArgument, operation: "addRevocationList", message: "the bytes hold no DER or PEM revocation list")
        }
        revocationLists.append(list)
    }

    private func checkCanAddCertificates(_ operation: String) throws(SocketError) {
        loop.assertInEventLoop()
        guard givenContext == nil else {
            throw SocketError(.invalidArgument, operation: operation, message: "this socket validates with the context it was made with; add the certificate to that context")
        }
        guard context == nil, !isClosed else {
            throw SocketError(.invalidArgument, operation: operation, message: "certificates must be added before connect")
        }
    }

    // MARK: Connecting

    /// Connects to `host`:`port`, shakes hands and validates the server's certificate; the outcome
    /// arrives as ``onConnect`` or ``onIOError`` (flash.net `connect`).
    ///
    /// - Throws: ``SocketError`` as ``Socket/connect(host:port:)`` does, and `.tls` when the
    ///   trust store or an added certificate can't be loaded.
    public func connect(host: String, port: Int) throws(SocketError) {
        loop.assertInEventLoop()
        if isClosed { throw SocketError(.closed, operation: "connect", message: "the socket is closed") }
        guard context == nil else {
            throw SocketError(.alreadyConnected, operation: "connect", message: "the socket is already connected or connecting")
        }
        let context: TLSContext
        do throws(TLSError) {
            if let givenContext {
                context = givenContext
            } else if trustedCertificates.isEmpty, chainCertificates.isEmpty, revocationLists.isEmpty {
                context = try TLSContext.systemClient()
            } else {
                context = try TLSContext.client(trustedCertificates: trustedCertificates, chainCertificates: chainCertificates,
                                                revocationLists: revocationLists)
            }
        } catch {
            throw SocketError(.tls, operation: "connect", message: error.message)
        }
        guard context.role == .client else {
            throw SocketError(.invalidArgument, operation: "connect", message: "a server context can't make a client connection")
        }
        socket.timeout = timeout
        // Strong captures: the socket drops its handlers once its handle has closed.
        socket.onConnect = { self.tcpConnected() }
        socket.onIOError = { error in self.fail(error) }
        socket.onClose = { self.fail(SocketError(.io, operation: "connect \(host):\(port)", message: "the server closed the connection")) }
        try socket.connect(host: host, port: port)
        self.context = context
        self.host = host
        let timeout = timeout
        deadline = loop.schedule(after: timeout) { [weak self] in
            guard let self, !connected else { return }
            fail(SocketError(.timedOut, operation: "connect \(host):\(port)", message: "no TLS connection within \(timeout)"))
        }
    }

    private func tcpConnected() {
        guard let context, !isClosed else { return }
        // Always a name to check: an empty one would make OpenSSL skip the check altogether.
        let name = serverName.flatMap { $0.isEmpty ? nil : $0 } ?? host
        let stream = TLSStream(socket: socket, context: context, serverName: name)
        self.stream = stream
        stream.onHandshake = { result in self.handshakeFinished(result) }
        stream.onData = { count in self.onData?(count) }
        stream.onClose = { self.streamClosed() }
        stream.onIOError = { error in self.fail(error) }
        stream.onOutputProgress = { pending in self.onOutputProgress?(pending) }
        if !earlyOutput.isEmpty {
            earlyOutput.withUnsafeBytes { stream.writeRawBytes($0) }
            earlyOutput.removeAll()
        }
        if earlyFlush { stream.flush() }
        if earlyShutdown { stream.shutdownOutput() }
        stream.start()
    }

    private func handshakeFinished(_ result: Result<Void, TLSFailure>) {
        guard let stream else { return }
        serverCertificate = stream.engine.peerCertificate.flatMap { X509Certificate(der: $0) }
        switch result {
        case .success:
            // A context that does not verify (RelayClient's choice, never the default) still
            // learns what OpenSSL found, and connects anyway.
            serverCertificateStatus = CertificateStatus(verifyResult: stream.engine.verifyResult)
            deadline?.close()
            deadline = nil
            connected = true
            onConnect?()
        case .failure:
            // Verification ran, and refused the chain, only if the result says so.
            let result = stream.engine.verifyResult
            if result != Int(X509_V_OK) { serverCertificateStatus = CertificateStatus(verifyResult: result) }
        }
    }

    private func streamClosed() {
        guard connected else {
            fail(SocketError(.tls, operation: "tls handshake", message: "the server closed the connection during the handshake"))
            return
        }
        let handler = onClose
        finish()
        handler?()
    }

    /// Ends the connection with `error`, naming a refused certificate by its status.
    private func fail(_ error: SocketError) {
        guard !isClosed else { return }
        var error = error
        if serverCertificateStatus != .unknown, serverCertificateStatus != .trusted {
            let detail = stream.map { String(cString: X509_verify_cert_error_string(Int($0.engine.verifyResult))) } ?? ""
            error = SocketError(.tls, operation: "tls handshake",
                                message: "the server's certificate was refused: \(serverCertificateStatus) (\(detail))")
            error.certificateStatus = serverCertificateStatus
        }
        let handler = onIOError
        finish()
        handler?(error)
    }

    /// Closes everything and lets go of the callbacks, which may hold this socket's owner.
    private func finish() {
        isClosed = true
        connected = false
        deadline?.close()
        deadline = nil
        earlyOutput.removeAll()
        if let stream { stream.close() } else { socket.close() }
        onConnect = nil
        onData = nil
        onClose = nil
        onIOError = nil
        onOutputProgress = nil
    }

    // MARK: Reading and writing

    /// The number of plaintext bytes received and not yet read.
    public var bytesAvailable: Int { stream?.bytesAvailable ?? 0 }

    /// Consumes `count` plaintext bytes and lends them to `body`; throws `.endOfFile`, consuming
    /// nothing, when fewer are available.
    public func readRawBytes<R>(count: Int, _ body: (UnsafeRawBufferPointer) throws(SocketError) -> R) throws(SocketError) -> R {
        loop.assertInEventLoop()
        guard let stream else {
            guard count == 0 else {
                throw SocketError(.endOfFile, operation: "read", message: "\(count) bytes requested, 0 available")
            }
            return try body(UnsafeRawBufferPointer(start: nil, count: 0))
        }
        return try stream.readRawBytes(count: count, body)
    }

    /// Appends plaintext to the output buffer; ``flush()`` sends it once the handshake is done.
    public func writeRawBytes(_ bytes: UnsafeRawBufferPointer) {
        loop.assertInEventLoop()
        guard !isClosed else { return }
        if let stream { stream.writeRawBytes(bytes) } else { earlyOutput.append(contentsOf: bytes) }
    }

    /// Encrypts and sends the output buffer (flash.net `flush`); before the handshake it waits.
    public func flush() {
        loop.assertInEventLoop()
        if let stream { stream.flush() } else { earlyFlush = true }
    }

    /// Plaintext written but not yet encrypted, plus ciphertext the kernel has not taken.
    public var bytesPending: Int { stream?.bytesPending ?? earlyOutput.count }

    /// Stops reading from the server until ``resumeReading()``.
    public func pauseReading() { socket.pauseReading() }
    /// Resumes reading after ``pauseReading()``.
    public func resumeReading() { socket.resumeReading() }

    /// Sends what was written, then close_notify and FIN; reading goes on.
    public func shutdownOutput() {
        loop.assertInEventLoop()
        if let stream { stream.shutdownOutput() } else { earlyShutdown = true }
    }

    /// Closes the connection without ``onClose`` (as in flash.net); unsent output is discarded.
    public func close() {
        loop.assertInEventLoop()
        guard !isClosed else { return }
        finish()
    }

    // MARK: Addresses

    /// The local IP address as text (flash.net `localAddress`).
    public var localAddress: String? { socket.localAddress }
    /// The local port, or 0 (flash.net `localPort`).
    public var localPort: Int { socket.localPort }
    /// The server's IP address as text (flash.net `remoteAddress`).
    public var remoteAddress: String? { socket.remoteAddress }
    /// The server's port, or 0 (flash.net `remotePort`).
    public var remotePort: Int { socket.remotePort }
}
