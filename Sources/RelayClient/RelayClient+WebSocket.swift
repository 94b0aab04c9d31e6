import RelayWire
import UVNet

/// The WebSocket transport (PROTOCOL.md §7): the upgrade after connecting, frames in and out,
/// and the closing handshake. The bytes themselves are ``WebSocketClientChannel``'s.
extension RelayClient {
    /// How long a closing WebSocket waits for the relay to end the connection after the close
    /// frames have crossed, before the client closes it itself.
    static let closeLinger: Duration = .seconds(2)

    /// Sends the upgrade request on the connected stream and waits, at most
    /// ``requestTimeout``, for the relay's answer; `answer` gets the outcome.
    func startUpgrade(host: String, port: Int, origin: String?, _ answer: @escaping (Result<Void, RelayClientError>) -> Void) {
        var random = SystemRandomNumberGenerator()
        let keyBytes = (0..<16).map { _ in UInt8.random(in: .min ... .max, using: &random) }
        let channel = WebSocketClientChannel(randomBytes: keyBytes)
        webSocket = channel
        upgradeCompletion = answer
        upgradeTimer = loop.schedule(after: requestTimeout) { [weak self] in
            self?.finishUpgrade(.failure(RelayClientError(.timedOut, "no answer to the WebSocket upgrade within the request timeout")))
        }
        channel.request(host: host, port: port, origin: origin).withUnsafeBytes { stream.writeRawBytes($0) }
        stream.flush()
    }

    /// Hands the upgrade's outcome to the connect's completion; a failure closes the connection.
    private func finishUpgrade(_ result: Result<Void, RelayClientError>) {
        guard let completion = upgradeCompletion else { return }
        upgradeCompletion = nil
        upgradeTimer?.close()
        upgradeTimer = nil
        if case .failure = result {
            stream.close()
            completion(result)
            connectionEnded()
        } else {
            completion(result)
        }
    }

    /// Reads `count` bytes from the stream: the answer to the upgrade, then frames.
    func readWebSocket(_ count: Int) {
        switch webSocket?.phase {
        case .upgrading?:
            let upgrade = (try? stream.readRawBytes(count: count) { webSocket!.readUpgrade($0) }) ?? .incomplete
            switch upgrade {
            case .incomplete:
                return
            case .accepted:
                finishUpgrade(.success(()))
            case .refused(let status):
                var error = RelayClientError(.upgradeRefused, "the relay refused the WebSocket upgrade with HTTP \(status)")
                error.httpStatus = status
                finishUpgrade(.failure(error))
                return
            case .invalid(let reason):
                finishUpgrade(.failure(RelayClientError(.protocolViolation, "the relay's answer to the WebSocket upgrade is not valid: \(reason)")))
                return
            }
        case .open?:
            try? stream.readRawBytes(count: count) { webSocket!.read($0) }
        case .closed?, nil:
            _ = try? stream.readRawBytes(count: count) { _ in }
            return
        }
        // Each event is taken on its own, so a handler may send (or close) in between.
        while webSocket?.phase == .open, let event = webSocket?.next() {
            handleFrame(event)
        }
    }

    private func handleFrame(_ event: WebSocketFrameEvent) {
        switch event {
        case .text(let message):
            handleControlMessage(message)
        case .binary(let datagram):
            datagram.withUnsafeBytes { received($0) }
        case .ping(let payload):
            webSocketOutput.removeAll(keepingCapacity: true)
            webSocket?.appendPong(payload, to: &webSocketOutput)
            webSocketOutput.withUnsafeBytes { stream.writeRawBytes($0) }
            stream.flush()
        case .pong:
            break
        case .close(let code, _):
            // Echo the relay's code (RFC 6455 §5.5.1); an empty close gets 1000.
            endWebSocket(code.flatMap { $0.isValidOnWire ? $0 : nil } ?? .normalClosure)
        case .textTooLarge:
            endWebSocket(.messageTooBig)
        case .protocolError(let code, _):
            endWebSocket(code)
        case .binaryTooLarge:
            // Larger than any relay's maxDatagram: dropped whole and counted, never delivered.
            drops.receivedMalformed()
        }
    }

    /// Sends a close frame with `code`, leaves the stream to finish the closing handshake on
    /// its own, and ends the client's connection: pending requests fail, ``onEvent`` gets
    /// `.closed`.
    func endWebSocket(_ code: WebSocketCloseCode) {
        webSocketOutput.removeAll(keepingCapacity: true)
        webSocket?.appendClose(code: code, to: &webSocketOutput)
        webSocketOutput.withUnsafeBytes { stream.writeRawBytes($0) }
        stream.flush()
        Self.linger(stream, loop: loop)
        connectionEnded()
    }

    /// Lets `stream` finish a WebSocket's closing handshake without the client: its output
    /// (the close frame) goes out and is followed by FIN, whatever the relay still sends is
    /// read and dropped, and the stream closes when the relay ends the connection, as RFC 6455
    /// §7.1.1 wants of the server, or after ``closeLinger`` at the latest. Closing at once would
    /// discard the close frame if the kernel had not taken it yet.
    static func linger(_ stream: any ByteStream, loop: EventLoop) {
        // The timer holds the stream until the end; the stream's handlers hold the timer.
        let deadline = loop.schedule(after: closeLinger) { stream.close() }
        stream.onData = { [weak stream] _ in
            guard let stream else { return }
            _ = try? stream.readRawBytes(count: stream.bytesAvailable) { _ in }
        }
        stream.onClose = { deadline.close() }
        stream.onIOError = { _ in deadline.close() }
        stream.onOutputProgress = nil
        stream.shutdownOutput()
    }

    /// Sends one datagram as a binary message, unless more than ``maxWebSocketBacklog`` bytes
    /// wait unsent: then it is dropped and counted, as a full UDP send buffer drops it.
    func sendBinary(_ header: PacketHeader, _ payload: UnsafeRawBufferPointer) {
        guard webSocket?.phase == .open, stream.bytesPending <= maxWebSocketBacklog else {
            drops.dropped()
            return
        }
        webSocketOutput.removeAll(keepingCapacity: true)
        webSocket!.appendDatagram(header, payload: payload, to: &webSocketOutput)
        webSocketOutput.withUnsafeBytes { stream.writeRawBytes($0) }
        stream.flush()
    }

    /// ``sendBurst(count:payloadSize:to:fill:)`` over a WebSocket: every datagram its own
    /// binary message, all of them in one write. The backlog bound applies to the burst whole.
    ///
    /// - Returns: `count`, or 0 when the burst was dropped (and counted).
    func sendBinaryBurst(count: Int, payloadSize: Int, membership: Membership, target: UInt16?,
                         fill: (Int, UnsafeMutableRawBufferPointer) -> Void) -> Int {
        guard count > 0 else { return 0 }
        guard webSocket?.phase == .open, stream.bytesPending <= maxWebSocketBacklog else {
            drops.dropped(count)
            return 0
        }
        if burstBuffer.count < payloadSize { burstBuffer = [UInt8](repeating: 0, count: payloadSize) }
        webSocketOutput.removeAll(keepingCapacity: true)
        for index in 0..<count {
            sequence &+= 1
            let header = PacketHeader(type: PacketType.data, flags: 0, session: membership.sessionLow, member: membership.member,
                                      target: target ?? PacketHeader.broadcastTarget, sequence: sequence)
            burstBuffer.withUnsafeMutableBytes { buffer in
                let slot = UnsafeMutableRawBufferPointer(rebasing: buffer[..<payloadSize])
                fill(index, slot)
                webSocket!.appendDatagram(header, payload: UnsafeRawBufferPointer(slot), to: &webSocketOutput)
            }
        }
        webSocketOutput.withUnsafeBytes { stream.writeRawBytes($0) }
        stream.flush()
        return count
    }
}
