import RelayWire
import UVNet

/// One TCP control connection: frames in, requests through the check order of PROTOCOL.md §1.2,
/// replies and events out with the client's terminator — or, after a WebSocket upgrade
/// (PROTOCOL.md §7), text messages in and out, and binary messages as the member's datagrams.
///
/// When the relay has a certificate, a connection's first byte decides what carries it
/// (PROTOCOL.md §6): `0x16` starts TLS, anything else is the plain channel, and until that byte
/// has arrived nothing is written (events wait; inside TLS they go out once the handshake is
/// done). Either way frames are read from and written to one ``ByteStream`` (the socket, or
/// ``TLSStream`` over it), so everything above it is the same. The first bytes of the channel
/// then decide its framing: an HTTP method and a space start a WebSocket upgrade, anything else
/// is the JSON channel of §1.
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
    /// How the channel's bytes are framed, decided by its first bytes (PROTOCOL.md §7): still
    /// sniffing; JSON messages (§1.1); an HTTP request head being read; WebSocket frames.
    enum Framing { case sniffing, json, httpHead, webSocket }

    /// The connection's number, unique for the relay's life: how data-plane loops name it.
    let id: ConnectionID
    let socket: Socket
    /// What frames are read from and written to: the socket, or TLS over it.
    private var stream: any ByteStream
    private var tls: TLSStream?
    private(set) var transport = Transport.undecided
    private(set) var framing = Framing.sniffing
    /// The channel's first bytes while sniffing, then the HTTP head until it ends (at most
    /// ``WebSocketHandshake/maxHeadBytes`` + 1 bytes).
    private var head: [UInt8] = []
    /// The WebSocket frames read, once upgraded.
    private var frames = WebSocketFrameDecoder(role: .server, maxText: 0, maxBinary: 0)
    /// The member's datagrams read from binary messages, handed to its session's owner in one
    /// hop when a turn ends (or before a request that could change the membership).
    private var inbox = StreamBatch()
    /// The bytes in flight toward the owner when ``inbox`` got its first datagram.
    private var inboxBase = 0
    /// Whether a WebSocket close frame went out: nothing follows it.
    private var closeFrameSent = false
    /// Whether datagrams were written since the last flush (``RelayServer/deliverToStreams``).
    var hasUnflushedDatagrams = false
    /// Whether pongs were written during this turn: flushed once when it ends, so a ping flood
    /// costs one write per turn, not one per ping.
    private var hasUnflushedPongs = false
    /// This connection's share of ``RelayServer/webSocketUnsentBytes``, as last counted.
    private var countedUnsentBytes = 0
    /// Output waits for the channel's first bytes: the TLS client chose ALPN `http/1.1`, so an
    /// HTTP request (a browser's `wss://` upgrade) comes next, and its answer must come first.
    private var awaitsFraming = false
    /// Replies and events due before the channel's framing was decided, without terminators.
    private var heldOutput: [[UInt8]] = []
    private var heldBytes = 0
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

    /// Whether the connection is an upgraded WebSocket (PROTOCOL.md §7).
    var isWebSocket: Bool { framing == .webSocket }

    /// Whether an HTTP request may be under way: nothing but its answer may be written yet.
    private var isReadingHead: Bool {
        framing == .httpHead || (framing == .sniffing && (!head.isEmpty || awaitsFraming))
    }

    /// Whether replies and events wait in ``heldOutput`` instead of being written: before the
    /// first byte (it may start TLS), during the TLS handshake, and while an HTTP request may be
    /// under way.
    private var isHoldingOutput: Bool { transport == .undecided || isHandshaking || isReadingHead }

    /// Whether a TLS handshake has begun and not finished.
    var isHandshaking: Bool { tls.map { !$0.isHandshakeComplete } ?? false }

    /// Decides the transport from the first byte (PROTOCOL.md §6).
    private func sniff() {
        guard let first = socket.nextByte else { return }
        if first == 0x16, let context = server.tlsContext {
            startTLS(context)
            return
        }
        // The framing, decided by the first bytes, releases what waits.
        transport = .plain
    }

    private func startTLS(_ context: TLSContext) {
        transport = .tls
        server.tlsConnectionCount += 1
        let tls = TLSStream(socket: socket, context: context)
        self.tls = tls
        stream = tls
        attach(tls)
        tls.onHandshake = { result in self.handshakeFinished(result) }
        // Held events wait until the handshake is done (and the framing, for an HTTP client).
        tls.start()
    }

    private func releaseHeldOutput() {
        guard !heldOutput.isEmpty else { return }
        let held = heldOutput
        heldOutput = []
        heldBytes = 0
        for message in held { write(message, terminator: decoder.replyTerminator) }
        stream.flush()
    }

    private func handshakeFinished(_ result: Result<Void, TLSFailure>) {
        switch result {
        case .success:
            server.controlCounters.tlsHandshakes &+= 1
            hasSpoken = true
            // A browser's wss:// connection offers http/1.1: its upgrade request comes next, and
            // an event written now would go out before the HTTP answer (PROTOCOL.md §7).
            if tls?.engine.alpnProtocol == "http/1.1", framing == .sniffing {
                awaitsFraming = true
            } else {
                releaseHeldOutput()
            }
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
        while true {
            let count = stream.bytesAvailable
            guard count > 0 else { return }
            if state != .open {
                // Lingering after a final answer: input is read only to be thrown away.
                try? stream.readRawBytes(count: count) { _ in }
                return
            }
            switch framing {
            case .json:
                hasSpoken = true
                try? stream.readRawBytes(count: count) { decoder.append($0) }
                serve()
                return
            case .webSocket:
                try? stream.readRawBytes(count: count) { frames.append($0) }
                serve()
                return
            case .sniffing, .httpHead:
                // Go round again only when the framing was decided with bytes still unread.
                guard readHead() else { return }
            }
        }
    }

    // MARK: WebSocket upgrade

    /// Reads the channel's first bytes: decides the framing, and for an HTTP request reads its
    /// head (never more than the bound plus one byte) and answers it.
    ///
    /// - Returns: Whether the framing is now decided and bytes may wait to be read under it.
    private func readHead() -> Bool {
        let take = min(stream.bytesAvailable, WebSocketHandshake.maxHeadBytes + 1 - head.count)
        try? stream.readRawBytes(count: take) { head.append(contentsOf: $0) }
        if framing == .sniffing {
            switch WebSocketHandshake.sniff(head) {
            case .undecided:
                return false
            case .notHTTP:
                framing = .json
                hasSpoken = true
                decoder.append(head)
                head = []
                releaseHeldOutput()
                serve()
                return state == .open
            case .http:
                framing = .httpHead
            }
        }
        switch WebSocketHandshake.read(head, allowedOrigins: server.config.wsOrigins) {
        case .incomplete:
            return false
        case .answer(let answer, let headLength):
            return answerUpgrade(answer, headLength: headLength)
        }
    }

    /// Writes the answer to the request head; a 101 turns the channel into WebSocket frames,
    /// anything else ends it (PROTOCOL.md §7).
    private func answerUpgrade(_ checked: WebSocketHandshake.Answer, headLength: Int) -> Bool {
        var answer = checked
        if transport == .plain, server.config.tlsRequired, answer.status != .requestHeaderFieldsTooLarge {
            // §6: nothing but the policy request is served in the clear; a browser must use wss://.
            answer = .refusal(.forbidden, "this relay takes WebSocket connections inside TLS only (wss://)")
            server.controlCounters.tlsRequiredRefusals &+= 1
        }
        answer.response.withUnsafeBytes { stream.writeRawBytes($0) }
        guard answer.isUpgrade else {
            server.controlCounters.webSocketRefused(answer.status)
            server.logger.debug("websocket upgrade refused", metadata: ["peer": "\(peer)", "status": .stringConvertible(answer.status.rawValue),
                                                                         "reason": "\(answer.detail)"])
            head = []
            heldOutput = []
            heldBytes = 0
            stream.flush()
            linger()
            return false
        }
        server.controlCounters.webSocketUpgrades &+= 1
        server.webSocketConnectionCount += 1
        framing = .webSocket
        hasSpoken = true
        lastActivity = server.loop.now
        let config = server.config
        frames = WebSocketFrameDecoder(role: .server, maxText: config.maxControlMessage, maxBinary: config.maxDatagram)
        // Frames the client sent right behind its head.
        if headLength < head.count { head[headLength...].withUnsafeBytes { frames.append($0) } }
        head = []
        releaseHeldOutput()
        stream.flush()
        serve()
        return state == .open
    }

    /// Handles buffered frames until they run out, the turn's budget is spent, or the peer's
    /// unread output is over the backlog bound; reading from the kernel stays paused while frames
    /// wait, so the decoder never holds more than one read beyond one message.
    func serve() {
        var budget = server.config.controlFramesPerTurn
        // The member's datagrams read this turn go to the owner in one hop, and its pongs out in one write.
        defer {
            handOffDatagrams()
            if hasUnflushedPongs {
                hasUnflushedPongs = false
                stream.flush()
            }
        }
        while state == .open {
            if awaitingOwner {
                // The frames already read wait in the decoder; the rest waits in the kernel.
                stream.pauseReading()
                return
            }
            if stream.bytesPending > readPauseBytes {
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
            if framing == .webSocket {
                guard let frame = frames.next() else {
                    stream.resumeReading()
                    return
                }
                budget -= 1
                handle(frame)
                continue
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

    /// The unread output past which requests wait: a WebSocket member's bound is raised by the
    /// datagrams it may have queued (PROTOCOL.md §7), so receiving a busy session's traffic does
    /// not hold back what it sends.
    private var readPauseBytes: Int {
        framing == .webSocket ? server.config.controlBacklogBytes + server.config.wsBacklogBytes : server.config.controlBacklogBytes
    }

    /// A queued write reached the kernel: once the backlog is down to half its bound, requests
    /// are taken again (on a turn of their own, not inside the write callback).
    private func outputDrained(_ pending: Int) {
        if framing == .webSocket { accountUnsentOutput() }
        guard outputBlocked, state == .open, pending <= readPauseBytes / 2 else { return }
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

    // MARK: WebSocket messages

    /// Handles one WebSocket message or control frame (PROTOCOL.md §7).
    private func handle(_ frame: WebSocketFrameEvent) {
        switch frame {
        case .text(let text):
            lastActivity = server.loop.now
            // An empty message gets no reply (§1.1), but it is activity all the same.
            guard !text.isEmpty else { return }
            handle(text)
        case .binary(let datagram):
            lastActivity = server.loop.now
            receive(datagram)
        case .ping(let payload):
            lastActivity = server.loop.now
            payload.withUnsafeBytes { writeFrame(.pong, $0) }
            hasUnflushedPongs = true
        case .pong:
            break
        case .close(let code, _):
            // RFC 6455 §5.5.1: answer with the peer's code (1000 when it gave none), then end.
            sendCloseFrame(code ?? .normalClosure)
            linger()
        case .textTooLarge:
            server.controlCounters.webSocketClosedForError(.messageTooBig)
            let error = ControlError(.messageTooLarge, "a control message exceeds \(server.config.maxControlMessage) bytes")
            reply(ControlReply.failure(id: nil, error: error))
            sendCloseFrame(.messageTooBig)
            linger()
        case .binaryTooLarge:
            // Skipped by the decoder without keeping it: dropped like an oversize UDP datagram.
            server.controlCounters.datagramsReceived &+= 1
            server.controlCounters.drop(.oversize)
        case .protocolError(let code, let reason):
            server.controlCounters.webSocketClosedForError(code)
            server.logger.debug("websocket protocol error", metadata: ["peer": "\(peer)", "code": "\(code)", "reason": "\(reason)"])
            sendCloseFrame(code, reason: reason)
            linger()
        }
    }

    /// A binary message: one datagram of the member's data channel, checked here as far as the
    /// control loop can (its header, and that it names this connection's own membership) and
    /// queued for the session's owner.
    private func receive(_ datagram: [UInt8]) {
        server.controlCounters.datagramsReceived &+= 1
        server.controlCounters.bytesReceived &+= UInt64(datagram.count)
        let header: PacketHeader
        switch PacketHeader.classify(datagram, maxDatagram: server.config.maxDatagram) {
        case .success(let parsed): header = parsed
        case .failure(let reason): return server.controlCounters.drop(reason)
        }
        guard let member else { return server.controlCounters.drop(.unbound) }
        guard header.session == member.session.low32, header.member == member.member else {
            return server.controlCounters.drop(.addressMismatch)
        }
        guard let handoff = server.handoff(toward: member.owner) else { return }
        if inbox.isEmpty { inboxBase = handoff.inFlightTowardOwner }
        guard inboxBase + inbox.byteCount + datagram.count <= handoff.limit else {
            return server.controlCounters.drop(.backlog)
        }
        datagram.withUnsafeBytes { inbox.append($0, connection: id, kind: .fromMember) }
    }

    /// Hands the datagrams read so far to the member's session owner. Called when a turn ends and
    /// before anything that could end or change the membership, so they arrive before it.
    private func handOffDatagrams() {
        guard !inbox.isEmpty else { return }
        let batch = inbox
        inbox = StreamBatch()
        guard let member else { return }
        server.handOff(batch, toward: member.owner)
    }

    /// What became of a datagram for this WebSocket member.
    enum DatagramWrite { case written, backlog, gone }

    /// Writes one datagram as a binary message, unless the member's unsent output is over
    /// ``RelayConfig/wsBacklogBytes``: data is never queued behind a slow browser (PROTOCOL.md
    /// §7). The caller flushes.
    func writeDatagram(_ datagram: UnsafeRawBufferPointer) -> DatagramWrite {
        guard state == .open, framing == .webSocket, !closeFrameSent, !stream.isClosed else { return .gone }
        guard stream.bytesPending <= server.config.wsBacklogBytes,
              server.webSocketUnsentBytes <= server.config.wsBacklogTotalBytes else { return .backlog }
        writeFrame(.binary, datagram)
        accountUnsentOutput()
        return .written
    }

    /// Brings the relay's count of unsent WebSocket output up to date with this connection's.
    private func accountUnsentOutput() {
        let pending = stream.isClosed ? 0 : stream.bytesPending
        server.webSocketUnsentBytes += pending - countedUnsentBytes
        countedUnsentBytes = pending
    }

    /// Bytes written to the connection and not yet taken by the kernel.
    var pendingOutputBytes: Int { stream.bytesPending }

    /// Sends the datagrams written since the last flush.
    func flushDatagrams() {
        hasUnflushedDatagrams = false
        stream.flush()
        accountUnsentOutput()
    }

    /// Writes one unfragmented, unmasked frame.
    private func writeFrame(_ opcode: WebSocketOpcode, _ payload: UnsafeRawBufferPointer) {
        withUnsafeTemporaryAllocation(byteCount: 14, alignment: 1) { header in
            let length = WebSocketFrameEncoder.writeHeader(opcode: opcode, payloadCount: payload.count, maskingKey: nil, into: header)
            stream.writeRawBytes(UnsafeRawBufferPointer(rebasing: header[..<length]))
        }
        if payload.count > 0 { stream.writeRawBytes(payload) }
    }

    /// Sends a close frame, once: nothing is written after it.
    private func sendCloseFrame(_ code: WebSocketCloseCode, reason: String = "") {
        guard framing == .webSocket, !closeFrameSent, !stream.isClosed else { return }
        closeFrameSent = true
        let code = code.isValidOnWire ? code : .normalClosure
        WebSocketFrameEncoder.close(code: code, reason: reason).withUnsafeBytes { stream.writeRawBytes($0) }
        stream.flush()
    }

    // MARK: Requests

    private func handle(_ frame: [UInt8]) {
        // Datagrams read before this request reach the owner before anything it causes.
        handOffDatagrams()
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
        guard state != .closed, !stream.isClosed, !closeFrameSent else { return }
        if isHoldingOutput {
            // Nothing is written before the first byte (it may yet start TLS) or the end of the
            // TLS handshake, nor while an HTTP request may be under way (its answer comes first).
            guard heldBytes + json.count < server.config.maxPendingControlBytes else {
                server.controlCounters.controlConnectionsOverBacklog &+= 1
                finish(reason: .disconnect)
                return
            }
            heldOutput.append(json)
            heldBytes += json.count + 1
            return
        }
        write(json, terminator: terminator)
        // A write the kernel refuses closes the socket inside flush (and finishes this connection).
        stream.flush()
        if stream.bytesPending > server.config.maxPendingControlBytes {
            server.controlCounters.controlConnectionsOverBacklog &+= 1
            server.logger.info("control connection dropped: over \(server.config.maxPendingControlBytes) bytes unread", metadata: ["peer": "\(peer)"])
            stream.close()
            finish(reason: .disconnect)
        }
    }

    /// Writes one reply or event: with its terminator on the JSON channel, as one text message
    /// on a WebSocket.
    private func write(_ json: [UInt8], terminator: UInt8) {
        if framing == .webSocket {
            json.withUnsafeBytes { writeFrame(.text, $0) }
        } else {
            json.withUnsafeBytes { stream.writeRawBytes($0) }
            withUnsafeBytes(of: terminator) { stream.writeRawBytes($0) }
        }
    }

    // MARK: Closing

    /// Half-closes after the last answer and discards input for up to the linger timeout, so the
    /// answer is not lost to a reset; then closes. A membership ends at once with `reason`.
    func linger(reason: LeaveReason = .disconnect) {
        guard state == .open else { return }
        handOffDatagrams()
        // A WebSocket ends with a close frame (1000 unless a more specific one went out).
        sendCloseFrame(.normalClosure)
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
        guard hasSpoken, !isReadingHead else {
            finish(reason: reason)
            return
        }
        send(ControlEvent.closing(reason: closing))
        server.controlCounters.closingSent &+= 1
        // PROTOCOL.md §7: on a WebSocket, `closing` is followed by close 1001.
        sendCloseFrame(.goingAway)
        linger(reason: reason)
    }

    /// Closes the connection now; a member's peers are told `left` with `reason`.
    func finish(reason: LeaveReason) {
        guard state != .closed else { return }
        let wasOpen = state == .open
        state = .closed
        lingerTimer?.close()
        lingerTimer = nil
        if wasOpen { handOffDatagrams() }
        stream.close()
        heldOutput = []
        heldBytes = 0
        head = []
        if transport == .tls { server.tlsConnectionCount -= 1 }
        if framing == .webSocket {
            server.webSocketConnectionCount -= 1
            server.webSocketUnsentBytes -= countedUnsentBytes
            countedUnsentBytes = 0
        }
        if wasOpen { server.connectionEnded(self, reason: reason) }
        server.connectionClosed(self)
    }

    /// This connection created a session.
    func sessionCreated() { liveSessions += 1 }

    /// A session this connection created was deleted.
    func sessionDeleted() { liveSessions -= 1 }
}
