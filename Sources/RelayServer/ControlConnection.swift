import RelayWire
import UVNet

/// One TCP control connection: frames in, requests through the check order of PROTOCOL.md §1.2,
/// replies and events out with the client's terminator.
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

    /// The connection's number, unique for the relay's life: how data-plane loops name it.
    let id: ConnectionID
    let socket: Socket
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
    /// Whether the peer has sent a byte: its channel is established, so it is told `closing`
    /// before the relay closes it on its own (PROTOCOL.md §1.4).
    private(set) var hasSpoken = false
    /// Reading stopped because the peer left too many replies unread.
    private var outputBlocked = false
    /// Queued for a turn of its own (``RelayServer/scheduleTurn(_:)``).
    var isScheduled = false

    init(id: ConnectionID, socket: Socket, server: RelayServer, source: SocketAddress?, nowNanos: UInt64) {
        self.id = id
        self.socket = socket
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
        socket.onData = { _ in self.readAvailable() }
        socket.onClose = { self.finish(reason: .disconnect) }
        socket.onIOError = { _ in self.finish(reason: .disconnect) }
        socket.onOutputProgress = { pending in self.outputDrained(pending) }
    }

    // MARK: Input

    private func readAvailable() {
        let count = socket.bytesAvailable
        guard count > 0 else { return }
        hasSpoken = true
        if state != .open {
            // Lingering after a final answer: input is read only to be thrown away.
            try? socket.readRawBytes(count: count) { _ in }
            return
        }
        try? socket.readRawBytes(count: count) { decoder.append($0) }
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
                socket.pauseReading()
                return
            }
            if socket.bytesPending > server.config.controlBacklogBytes {
                if !outputBlocked {
                    outputBlocked = true
                    server.controlCounters.controlReadPauses &+= 1
                }
                socket.pauseReading()
                return
            }
            outputBlocked = false
            guard budget > 0 else {
                socket.pauseReading()
                server.controlCounters.controlTurnsYielded &+= 1
                server.scheduleTurn(self)
                return
            }
            guard let event = decoder.next() else {
                socket.resumeReading()
                return
            }
            budget -= 1
            switch event {
            case .message(let bytes, _):
                lastActivity = server.loop.now
                handle(bytes)
            case .policyFileRequest:
                ControlFrameDecoder.policyDocument(controlPort: server.controlPort).withUnsafeBytes { socket.writeRawBytes($0) }
                socket.flush()
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

    private func handle(_ frame: [UInt8]) {
        let message: ControlMessage
        switch ControlMessage.parse(frame) {
        case .failure(let error):
            reply(ControlReply.failure(id: nil, error: error))
            return
        case .success(let parsed):
            message = parsed
        }
        guard requestBudget.tryTake(1, nowNanos: server.loop.now) else {
            reply(ControlReply.failure(id: message.idText, error: ControlError(.rateLimited, "more than \(server.config.controlRequestRate) requests per second")))
            return
        }
        switch message.operation(maxSessionCapacity: server.config.maxSessionCapacity) {
        case .failure(let error):
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
        guard state != .closed, !socket.isClosed else { return }
        json.withUnsafeBytes { socket.writeRawBytes($0) }
        withUnsafeBytes(of: terminator) { socket.writeRawBytes($0) }
        // A write the kernel refuses closes the socket inside flush (and finishes this connection).
        socket.flush()
        if socket.bytesPending > server.config.maxPendingControlBytes {
            server.controlCounters.controlConnectionsOverBacklog &+= 1
            server.logger.info("control connection dropped: over \(server.config.maxPendingControlBytes) bytes unread", metadata: ["peer": "\(peer)"])
            socket.close()
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
        socket.shutdownOutput()
        // Input is read only to be thrown away now, whatever paused it.
        socket.resumeReading()
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
        socket.close()
        if wasOpen { server.connectionEnded(self, reason: reason) }
        server.connectionClosed(self)
    }

    /// This connection created a session.
    func sessionCreated() { liveSessions += 1 }

    /// A session this connection created was deleted.
    func sessionDeleted() { liveSessions -= 1 }
}
