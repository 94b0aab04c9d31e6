/// TLS over a ``Socket``, as a ``ByteStream``: the socket carries ciphertext, the stream's
/// reads and writes are plaintext. The server side of the relay's control port, and the client
/// side of ``RelayClient``'s TLS option and of `SecureSocket`.
///
/// Loop-bound to the socket's loop. A ``TLSEngine`` does the cryptography; this class only
/// moves bytes between it and the socket on the loop: each socket read is fed in whole and
/// decrypted at once, so the stream holds at most one read's worth of plaintext beyond what its
/// owner has not yet taken. Plaintext written before the handshake has finished waits and goes
/// out right after it, as does a ``shutdownOutput()`` asked for meanwhile.
public final class TLSStream: ByteStream {
    /// The TCP connection under the stream.
    public let socket: Socket
    /// The TLS connection state.
    public let engine: TLSEngine
    /// The socket's loop.
    public var loop: EventLoop { socket.loop }

    public var onData: ((Int) -> Void)?
    public var onClose: (() -> Void)?
    public var onIOError: ((SocketError) -> Void)?
    public var onOutputProgress: ((Int) -> Void)?
    /// Called once, when the handshake finishes or fails (before ``onIOError``, or ``onClose``
    /// when the peer closed during the handshake).
    public var onHandshake: ((Result<Void, TLSFailure>) -> Void)?

    /// Whether the handshake has finished.
    public var isHandshakeComplete: Bool { engine.isHandshakeComplete }
    public private(set) var isClosed = false

    private var input = ReceivedBytes()
    private var output: [UInt8] = []
    private var shutdownRequested = false
    private var outputShut = false
    private var handshakeReported = false

    /// Puts TLS over `socket`, taking over its callbacks; bytes it has already received (say, a
    /// sniffed first byte) are the first TLS bytes. Call ``start()`` once this stream's own
    /// callbacks are set.
    ///
    /// - Parameter serverName: For a client: the host name or address to send and verify.
    public init(socket: Socket, context: TLSContext, serverName: String? = nil) {
        socket.loop.assertInEventLoop()
        self.socket = socket
        engine = TLSEngine(context: context, serverName: serverName)
        // Strong captures, as in the control connection: the cycle ends when the socket's close
        // callback drops its handlers, and the owner's when this stream closes (dropHandlers).
        socket.onData = { _ in self.socketReadable() }
        socket.onClose = { self.socketClosed() }
        socket.onIOError = { error in self.socketFailed(error) }
        socket.onOutputProgress = { _ in self.onOutputProgress?(self.bytesPending) }
    }

    /// Starts the handshake: a client sends its hello (once connected), a server takes what the
    /// socket has already received.
    public func start() {
        loop.assertInEventLoop()
        if engine.context.role == .client || socket.bytesAvailable > 0 {
            socketReadable()
        }
    }

    // MARK: Reading

    private func socketReadable() {
        guard !isClosed else { return }
        let count = socket.bytesAvailable
        if count > 0 {
            try? socket.readRawBytes(count: count) { engine.receive($0) }
        }
        if !engine.isHandshakeComplete {
            switch engine.handshake() {
            case .needsInput:
                sendCiphertext()
                return
            case .failed(let failure):
                sendCiphertext()
                reportHandshake(.failure(failure))
                fail(SocketError(.tls, operation: "tls handshake", message: failure.description))
                return
            case .done:
                sendCiphertext()
                reportHandshake(.success(()))
                guard !isClosed else { return }
                if !output.isEmpty { flush() }
                if shutdownRequested { shutdownOutput() }
                guard !isClosed else { return }
            }
        }
        let before = bytesAvailable
        let outcome = input.append { engine.readPlaintext(into: &$0) }
        sendCiphertext()
        engine.releaseIdleBuffers()
        let added = bytesAvailable - before
        switch outcome {
        case .needsInput:
            if added > 0 { onData?(added) }
        case .closed:
            if added > 0 { onData?(added) }
            guard !isClosed else { return }
            let handler = onClose
            close()
            handler?()
        case .failed(let failure):
            if added > 0 { onData?(added) }
            fail(SocketError(.tls, operation: "tls read", message: failure.description))
        }
    }

    private func socketClosed() {
        guard !isClosed else { return }
        if !engine.isHandshakeComplete {
            reportHandshake(.failure(TLSFailure(.closed, "the peer closed the connection during the handshake")))
        }
        let handler = onClose
        isClosed = true
        dropHandlers()
        handler?()
    }

    private func socketFailed(_ error: SocketError) {
        guard !isClosed else { return }
        if !engine.isHandshakeComplete {
            reportHandshake(.failure(TLSFailure(.closed, "the connection failed during the handshake: \(error.message)")))
        }
        let handler = onIOError
        isClosed = true
        dropHandlers()
        handler?(error)
    }

    private func reportHandshake(_ result: Result<Void, TLSFailure>) {
        guard !handshakeReported else { return }
        handshakeReported = true
        onHandshake?(result)
    }

    private func fail(_ error: SocketError) {
        guard !isClosed else { return }
        let handler = onIOError
        close()
        handler?(error)
    }

    public var bytesAvailable: Int { input.count }

    public func readRawBytes<R>(count: Int, _ body: (UnsafeRawBufferPointer) throws(SocketError) -> R) throws(SocketError) -> R {
        loop.assertInEventLoop()
        return try input.read(count: count, body)
    }

    public func pauseReading() { socket.pauseReading() }
    public func resumeReading() { socket.resumeReading() }

    // MARK: Writing

    public func writeRawBytes(_ bytes: UnsafeRawBufferPointer) {
        loop.assertInEventLoop()
        guard !outputShut else { return }
        output.append(contentsOf: bytes)
    }

    /// Encrypts what was written since the last flush (one record per 16 KiB) and hands it to
    /// the socket; before the handshake has finished it waits.
    public func flush() {
        loop.assertInEventLoop()
        guard !isClosed, engine.isHandshakeComplete, !output.isEmpty else { return }
        let failure = output.withUnsafeBytes { engine.write($0) }
        output.removeAll()
        sendCiphertext()
        engine.releaseIdleBuffers()
        if let failure { fail(SocketError(.tls, operation: "tls write", message: failure.description)) }
    }

    public var bytesPending: Int { output.count + socket.bytesPending }

    private func sendCiphertext() {
        guard engine.hasOutput else { return }
        engine.takeOutput { socket.writeRawBytes($0) }
        socket.flush()
    }

    // MARK: Closing

    /// Sends what was written, then close_notify, then FIN; once the handshake is done if it
    /// has not yet.
    public func shutdownOutput() {
        loop.assertInEventLoop()
        guard !isClosed, !outputShut else { return }
        guard engine.isHandshakeComplete else {
            shutdownRequested = true
            return
        }
        flush()
        guard !isClosed else { return }
        outputShut = true
        engine.shutdown()
        sendCiphertext()
        socket.shutdownOutput()
    }

    /// Closes the stream and its socket now, without close_notify or ``onClose``; queued output
    /// is discarded. Plaintext not yet read stays readable, as a ``Socket``'s input does, so an
    /// owner's ``onClose`` can take the last bytes that came with the peer's close_notify.
    public func close() {
        loop.assertInEventLoop()
        guard !isClosed else { return }
        isClosed = true
        output.removeAll()
        dropHandlers()
        socket.close()
    }

    /// A closed stream calls nobody again, so it lets go of its callbacks: an owner that holds
    /// the stream and is captured by them (the usual shape) is then freed. The socket drops its
    /// own callbacks, which hold this stream, when its handle has closed.
    private func dropHandlers() {
        onData = nil
        onClose = nil
        onIOError = nil
        onOutputProgress = nil
        onHandshake = nil
    }
}
