import CLibUV
import RelayWire
import UVNet

/// One TCP control connection: frames in, requests through the check order of PROTOCOL.md §1.2,
/// replies and events out with the client's terminator.
///
/// Loop-bound to the relay's loop.
final class ControlConnection {
    /// Open; lingering after a final answer (half-closed, input discarded); closed.
    enum State { case open, lingering, closed }

    let socket: Socket
    private unowned let server: RelayServer
    private var decoder: ControlFrameDecoder
    private var requestBudget: TokenBucket
    /// When the connection last completed a non-empty message (monotonic nanoseconds).
    private(set) var lastActivity: UInt64
    private(set) var state = State.open
    private var lingerTimer: Timer?
    /// The membership this connection holds, if it joined.
    var member: Member?
    /// Live sessions this connection created.
    private(set) var liveSessions = 0
    /// The peer, for logs.
    let peer: String

    init(socket: Socket, server: RelayServer, nowNanos: UInt64) {
        self.socket = socket
        self.server = server
        let config = server.config
        decoder = ControlFrameDecoder(maxMessageSize: config.maxControlMessage)
        requestBudget = TokenBucket(ratePerSecond: Double(config.controlRequestRate),
                                    burst: Double(config.controlRequestBurst), nowNanos: nowNanos)
        lastActivity = nowNanos
        peer = socket.remoteSocketAddress?.description ?? "?"
        // Strong captures on purpose: a closure capturing one object uses it as its context, so
        // these cost no allocation, while `[weak self]` costs a box per closure plus a weak-reference
        // side table — about 150 bytes for every idle connection. The cycle this makes (connection,
        // socket, handler) ends when the socket's close callback drops its handlers, and every path
        // out of `open` closes the socket.
        socket.onData = { _ in self.readAvailable() }
        socket.onClose = { self.finish(reason: .disconnect) }
        socket.onIOError = { _ in self.finish(reason: .disconnect) }
    }

    // MARK: Input

    private func readAvailable() {
        let count = socket.bytesAvailable
        guard count > 0 else { return }
        if state != .open {
            // Lingering after a final answer: input is read only to be thrown away.
            try? socket.readRawBytes(count: count) { _ in }
            return
        }
        try? socket.readRawBytes(count: count) { decoder.append($0) }
        while state == .open, let event = decoder.next() {
            switch event {
            case .message(let bytes, _):
                lastActivity = uv_hrtime()
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

    private func handle(_ frame: [UInt8]) {
        let message: ControlMessage
        switch ControlMessage.parse(frame) {
        case .failure(let error):
            reply(ControlReply.failure(id: nil, error: error))
            return
        case .success(let parsed):
            message = parsed
        }
        guard requestBudget.tryTake(1, nowNanos: uv_hrtime()) else {
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
        socket.flush()
        if socket.bytesPending > server.config.maxPendingControlBytes {
            server.logger.info("control connection dropped: over \(server.config.maxPendingControlBytes) bytes unread", metadata: ["peer": "\(peer)"])
            socket.close()
            finish(reason: .disconnect)
        }
    }

    // MARK: Closing

    /// Half-closes after the last answer and discards input for up to the linger timeout, so the
    /// answer is not lost to a reset; then closes.
    func linger() {
        guard state == .open else { return }
        state = .lingering
        server.connectionEnded(self, reason: .disconnect)
        socket.shutdownOutput()
        lingerTimer = server.loop.schedule(after: server.config.lingerTimeout) { [weak self] in
            self?.finish(reason: .disconnect)
        }
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
