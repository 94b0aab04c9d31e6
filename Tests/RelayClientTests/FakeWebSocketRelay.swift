import RelayWire
import TestSupport
import UVNet

/// A stand-in for the relay's WebSocket end on 127.0.0.1: it answers the upgrade with a
/// correct 101 (or never, with `answers: false`), then hands every frame the client sends to
/// an inbox and sends whatever frames a test writes, so the client's side of the closing
/// handshake and of ping can be driven from the server end. Loop-bound.
final class FakeWebSocketRelay {
    /// The port clients connect to.
    let port: Int
    private let listener: ServerSocket
    private var connection: Socket?

    /// Starts listening; decoded client frames (unmasked) go to `frames`, and `closed` gets a
    /// value when the client ends the TCP connection.
    init(loop: EventLoop, answers: Bool = true, frames: Inbox<WebSocketFrameEvent>, closed: Inbox<Bool>) throws {
        listener = ServerSocket(loop: loop)
        try listener.bind(localPort: 0, localAddress: "127.0.0.1")
        try listener.listen()
        port = listener.localPort
        listener.onConnect = { [unowned self] socket in
            connection = socket
            var head: [UInt8] = []
            var upgraded = false
            var decoder = WebSocketFrameDecoder(role: .server, maxText: 16384, maxBinary: 1472)
            socket.onClose = { closed.put(true) }
            socket.onData = { _ in
                var bytes: [UInt8] = []
                try? socket.readRawBytes(count: socket.bytesAvailable) { bytes = Array($0) }
                guard upgraded else {
                    head += bytes
                    guard answers, let end = head.withUnsafeBytes({ HTTPRequestHead.headEnd(in: $0, maxBytes: 8192) }),
                          let fields = HTTPHeaderFields.parse(Array(head[..<(end + 4)])),
                          let key = fields.fields.first(where: { $0.name.lowercased() == "sec-websocket-key" })?.value else { return }
                    upgraded = true
                    let answer = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                        + "Sec-WebSocket-Accept: \(WebSocketHandshake.accept(forKey: key))\r\n"
                        + "Sec-WebSocket-Protocol: \(WebSocketHandshake.subprotocol)\r\n\r\n"
                    Array(answer.utf8).withUnsafeBytes { socket.writeRawBytes($0) }
                    socket.flush()
                    return
                }
                decoder.append(bytes)
                while let event = decoder.next() { frames.put(event) }
            }
        }
    }

    /// Sends raw frame bytes to the connected client.
    func send(_ bytes: [UInt8]) {
        guard let connection else { return }
        bytes.withUnsafeBytes { connection.writeRawBytes($0) }
        connection.flush()
    }

    /// Ends the TCP connection, as the relay does once the close frames have crossed.
    func closeConnection() {
        connection?.close()
    }

    /// Closes the listener and any connection.
    func close() {
        connection?.close()
        listener.close()
    }
}
