import RelayWire
import UVNet

/// One TCP control connection: frames in, requests through the check order of PROTOCOL.md §1.2,
/// replies and events out with the client's terminator.
///
/// When the relay has a certificate, a connection's first byte decides what carries it
/// (PROTOCOL.md §6): `0x16` starts TLS, anything else is the plain channel, and until that byte
/// has arrived nothing is written (events wait; inside TLS they go out once the handshake is
/// done). Either way frames are read from and written to one ``ByteStream`` (the socket, or
/// ``TLSStream`` over it), so everything above it is the same.
///
/// Loop-bound to the relay's control loop. The work a connection may cause is bounded: it handles
/// at most ``RelayConfig/controlFramesPerTurn`` frames per loop turn and then yields to the other
/// connections, and it stops reading while more than ``RelayConfig/controlBacklogBytes`` of its
/// replies and events are unread, resuming once they drain (the kernel's send buffer for the
/// connection is fixed at that size too). Either way the peer's further
/// requests wait in its own kernel buffers (TCP flow control), not in the relay's memory.
final class ControlConnection {
    /// Open; lingering after a final answer (half-closed, input discarded); closed.
    enum State { case open, lingering, closed }
    /// What carries the connection, decided by its first byte.
    enum Transport { case undecided, plain, tls }

    /// The connection's number, unique for the relay's life: how data-plane loops name it.
    let id: ConnectionID
    let socket: Socket
    /// What frames are read from and written to: the socket, or TLS over it.
    private var stream: any ByteStream
    private var tls: TLSStream?
    private(set) var transport = Transport.undecided
    /// Replies and events due before the first byte decided the transport.
    private var heldOutput: [UInt8] = []
    /// When the connection was accepted (monotonic nanoseconds): the handshake timeout counts from it.
    let acceptedAt: UInt64
    private unowned let server: RelayServer
    private var decoder: ControlFrameDecoder
    private var requestBudget: TokenBucket
    /// When the connection last completed a non-empty message (monotonic nanoseconds).
    private(set) var lastActivity: UInt64
    private(set) var state = State.open
    private var lingerTimer: Timer?
    /// The membership this connection holds, if it joined.
    var member: MembershipRef?
    /// A request waits for a session's owner loop: later frames wait until it has answered, so
    /// replies keep the order of the requests.
    private(set) var awaitingOwner = false
    /// Live sessions this connection created.
    private(set) var liveSessions = 0
    /// The peer, for logs.
    let peer: String
    /// The peer's source address (its IP), which the limits of PROTOCOL.md §1.5 count against;
    /// nil when the kernel could not say.
    let source: SocketAddress?
    /// Whether the channel is established (a first byte; inside TLS, the handshake done), so it
    /// is told `closing` before the relay closes it on its own (PROTOCOL.md §1.4).
    private(set) var hasSpoken = false
    /// Reading stopped because the peer left too many replies unread.
    private var outputBlocked = false
    /// Queued for a turn of its own (``RelayServer/scheduleTurn(_:)``).
    var isScheduled = false

    init(id: ConnectionID, socket: Socket, server: RelayServer, source: SocketAddress?, nowNanos: UInt64) {
        self.id = id
        self.socket = socket
        stream = socket
        acceptedAt = nowNanos
        self.server = server
        let config = server.config
        decoder = ControlFrameDecoder(maxMessageSize: config.maxControlMessage)
        requestBudget = TokenBucket(ratePerSecond: Double(config.controlRequestRate),
                                    burst: Double(config.controlRequestBurst), nowNanos: nowNanos)
        lastActivity = nowNanos
        peer = socket.remoteSocketAddress?.description ?? "?"
        self.source = source
        // The kernel's share of the unread output is bounded like ours: without this, Linux grows
        // a connection's send buffer to megabytes before the backlog bound ever sees a byte.
        _ = try? socket.requestSendBufferSize(config.controlBacklogBytes)
        // Reads no larger than a message, so a paused flooder holds at most about two messages
        // of input here (a read plus a partial message), not 64 KiB.
        socket.readSize = min(max(config.maxControlMessage + 1, 4096), 65536)
        // Strong captures on purpose: a closure capturing one object uses it as its context, so
        // these cost no allocation, while `[weak self]` costs a box per closure plus a weak-reference
        // side table — about 150 bytes for every idle connection. The cycle this makes (connection,
        // socket, handler) ends when the socket's close callback drops its handlers, and every path
        // out of `open` closes the socket.
        // Without a certificate there is nothing to sniff: the channel is plain from the start,
        // and events (a drain's `shutdown`) go out at once, as before TLS existed.
        if server.tlsContext == nil { transport = .plain }
        attach(socket)
    }

    private func attach(_ stream: any ByteStream) {
        stream.onData = { _ in self.readAvailable() }
        stream.onClose = { self.finish(reason: .disconnect) }
        stream.onIOError = { _ in self.finish(reason: .disconnect) }
        stream.onOutputProgress = { pending in self.outputDrained(pending) }
    }

    // MARK: Transport

    /// Whether the connection runs inside TLS.
    var isTLS: Bool { transport == .tls }

    /// Whether a TLS handshake has begun and not finished.
    var isHandshaking: Bool { tls.map { !$0.isHandshakeComplete } ?? false }

    /// Decides the transport from the first byte (PROTOCOL.md §6).
    private func sniff() {
        guard let first = socket.nextByte else { return }
        if first == 0x16, let context = server.tlsContext {
            startTLS(context)
            return
        }
        transport = .plain
        hasSpoken = true
        releaseHeldOutput()
    }

    private func startTLS(_ context: TLSContext) {
        transport = .tls
        server.tlsConnectionCount += 1
        let tls = TLSStream(socket: socket, context: context)
        self.tls = tls
        stream = tls
        attach(tls)
        tls.onHandshake = { result in self.handshakeFinished(result) }
        // Held events wait inside the stream until the handshake is done.
        releaseHeldOutput()
        tls.start()
    }

    private func releaseHeldOutput() {
        guard !heldOutput.isEmpty else { return }
        let held = heldOutput
        heldOutput = []
        held.withUnsafeBytes { stream.writeRawBytes($0) }
        stream.flush()
    }

    private func handshakeFinished(_ result: Result<Void, TLSFailure>) {
        switch result {
        case .success:
            server.controlCounters.tlsHandshakes &+= 1
            hasSpoken = true
        case .failure(let failure):
            server.controlCounters.tlsHandshakeFailed(failure.reason)
            // Debug only: a peer can fail handshakes at will, and must not fill the log.
            server.logger.debug("tls handshake failed", metadata: ["peer": "\(peer)", "reason": "\(failure.reason)", "error": "\(failure.message)"])
        }
    }

    /// The handshake did not finish in time: closed without a word (the channel never opened).
    func handshakeTimedOut() {
        guard state == .open, isHandshaking else { return }
        server.controlCounters.tlsHandshakeFailed(.timeout)
        server.logger.debug("tls handshake timed out", metadata: ["peer": "\(peer)"])
        finish(reason: .disconnect)
    }

    // MARK: Input

    private func readAvailable() {
        if transport == .undecided {
            sniff()
            // TLS took the socket over: its bytes are ciphertext, and plaintext comes back here.
            if transport == .tls { return }
        }
        let count = stream.bytesAvailable
        guard count > 0 else { return }
        hasSpoken = true
        if state != .open {
            // Lingering after a final answer: input is read only to be thrown away.
            try? stream.readRawBytes(count: count) { _ in }
            return
        }
        try? stream.readRawBytes(count: count) { decoder.append($0) }
        serve()
    }

    /// Handles buffered frames until they run out, the turn's budget is spent, or the peer's
    /// unread output is over the backlog bound; reading from the kernel stays paused while frames
    /// wait, so the decoder never holds more than one read beyond one message.
    func serve() {
        var budget = server.config.controlFramesPerTurn
        while state == .open {
            if awaitingOwner {
                // The frames already read wait in the decoder; the rest waits in the kernel.
                stream.pauseReading()
                return
            }
            if stream.bytesPending > server.config.controlBacklogBytes {
                if !outputBlocked {
                    outputBlocked = true
                    server.controlCounters.controlReadPauses &+= 1
                }
                stream.pauseReading()
                return
            }
            outputBlocked = false
            guard budget > 0 else {
                stream.pauseReading()
                server.controlCounters.controlTurnsYielded &+= 1
                server.scheduleTurn(self)
                return
            }
            guard let event = decoder.next() else {
                stream.resumeReading()
                return
            }
            budget -= 1
            switch event {
            case .message(let bytes, _):
                lastActivity = server.loop.now
                if transport == .plain, server.config.tlsRequired {
                    refuseForTLS(bytes)
                    return
                }
                handle(bytes)
            case .policyFileRequest:
                ControlFrameDecoder.policyDocument(controlPort: server.controlPort).withUnsafeBytes { stream.writeRawBytes($0) }
                stream.flush()
                linger()
            case .tooLarge(let terminator):
                let error = ControlError(.messageTooLarge, "a control message exceeds \(server.config.maxControlMessage) bytes")
                send(ControlReply.failure(id: nil, error: error), terminator: terminator)
                linger()
            }
        }
    }

    /// A queued write reached the kernel: once the backlog is down to half its bound, requests
    /// are taken again (on a turn of their own, not inside the write callback).
    private func outputDrained(_ pending: Int) {
        guard outputBlocked, state == .open, pending <= server.config.controlBacklogBytes / 2 else { return }
        outputBlocked = false
        server.scheduleTurn(self)
    }

    /// Check 0 of PROTOCOL.md §1.2: under `--tls-required` a plain connection's first message,
    /// whatever it holds, gets `tls_required` (with its `id` when it has a readable one), and the
    /// connection closes as after `message_too_large`.
    private func refuseForTLS(_ frame: [UInt8]) {
        var id: String?
        if case .success(let message) = ControlMessage.parse(frame) { id = message.idText }
        server.controlCounters.tlsRequiredRefusals &+= 1
        reply(ControlReply.failure(id: id, error: ControlError(.tlsRequired, "this relay takes control connections inside TLS only")))
        linger()
    }

    private func handle(_ frame: [UInt8]) {
        let message: ControlMessage
        switch ControlMessage.parse(frame) {
        case .failure(let error):
            server.logger.debug("request refused", metadata: ["peer": "\(peer)", "code": "\(error.code)", "message": "\(error.message)"])
            reply(ControlReply.failure(id: nil, error: error))
            return
        case .success(let parsed):
            message = parsed
        }
        guard requestBudget.tryTake(1, nowNanos: server.loop.now) else {
            server.logger.debug("request refused", metadata: ["peer": "\(peer)", "code": "rate_limited", "message": "over the request budget"])
            reply(ControlReply.failure(id: message.idText, error: ControlError(.rateLimited, "more than \(server.config.controlRequestRate) requests per second")))
            return
        }
        switch message.operation(maxSessionCapacity: server.config.maxSessionCapacity) {
        case .failure(let error):
            server.logger.debug("request refused", metadata: ["peer": "\(peer)", "code": "\(error.code)", "message": "\(error.message)"])
            reply(ControlReply.failure(id: message.idText, error: error))
        case .success(let operation):
            server.perform(operation, id: message.idText, for: self)
        }
    }

    /// The request being handled needs a session's owner loop; frames wait until it answers.
    func awaitOwner() {
        awaitingOwner = true
    }

    /// The owner answered: writes the reply (unless the connection is no longer open) and
    /// takes the frames that waited, on a turn of their own.
    func ownerAnswered(_ reply: [UInt8]) {
        awaitingOwner = false
        guard state == .open else { return }
        self.reply(reply)
        server.scheduleTurn(self)
    }

    // MARK: Output

    /// Writes a reply or event with the terminator of the client's last non-empty message.
    func reply(_ json: [UInt8]) {
        send(json, terminator: decoder.replyTerminator)
    }

    /// Writes an event with the client's terminator.
    func send(_ event: ControlEvent) {
        reply(event.encoded())
    }

    private func send(_ json: [UInt8], terminator: UInt8) {
        guard state != .closed, !stream.isClosed else { return }
        if transport == .undecided {
            // Nothing is written before the first byte: it may yet start TLS.
            guard heldOutput.count + json.count < server.config.maxPendingControlBytes else {
                server.controlCounters.controlConnectionsOverBacklog &+= 1
                finish(reason: .disconnect)
                return
            }
            heldOutput.append(contentsOf: json)
            heldOutput.append(terminator)
            return
        }
        json.withUnsafeBytes { stream.writeRawBytes($0) }
        withUnsafeBytes(of: terminator) { stream.writeRawBytes($0) }
        // A write the kernel refuses closes the socket inside flush (and finishes this connection).
        stream.flush()
        if stream.bytesPending > server.config.maxPendingControlBytes {
            server.controlCounters.controlConnectionsOverBacklog &+= 1
            server.logger.info("control connection dropped: over \(server.config.maxPendingControlBytes) bytes unread", metadata: ["peer": "\(peer)"])
            stream.close()
            finish(reason: .disconnect)
        }
    }

    // MARK: Closing

    /// Half-closes after the last answer and discards input for up to the linger timeout, so the
    /// answer is not lost to a reset; then closes. A membership ends at once with `reason`.
    func linger(reason: LeaveReason = .disconnect) {
        guard state == .open else { return }
        state = .lingering
        server.connectionEnded(self, reason: reason)
        stream.shutdownOutput()
        // Input is read only to be thrown away now, whatever paused it.
        stream.resumeReading()
        lingerTimer = server.loop.schedule(after: server.config.lingerTimeout) { [weak self] in
            self?.finish(reason: .disconnect)
        }
    }

    /// The relay closes the connection on its own: an established channel is told `closing`
    /// first and then half-closed (``linger(reason:)``); one that never sent a byte is closed.
    func close(for closing: ClosingReason, leaving reason: LeaveReason) {
        guard state == .open else { return }
        guard hasSpoken else {
            finish(reason: reason)
            return
        }
        send(ControlEvent.closing(reason: closing))
        server.controlCounters.closingSent &+= 1
        linger(reason: reason)
    }

    /// Closes the connection now; a member's peers are told `left` with `reason`.
    func finish(reason: LeaveReason) {
        guard state != .closed else { return }
        let wasOpen = state == .open
        state = .closed
        lingerTimer?.close()
        lingerTimer = nil
        stream.close()
        heldOutput = []
        if transport == .tls { server.tlsConnectionCount -= 1 }
        if wasOpen { server.connectionEnded(self, reason: reason) }
        server.connectionClosed(self)
    }

    /// This connection created a session.
    func sessionCreated() { liveSessions += 1 }

    /// A session this connection created was deleted.
    func sessionDeleted() { liveSessions -= 1 }
}
