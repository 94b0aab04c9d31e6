import RelayWire
import TestSupport
import UVNet

/// A stand-in relay on 127.0.0.1 that answers `hello` and `join` with what a test chooses, so
/// the client can be shown replies a real relay would never send. Loop-bound.
final class FakeRelay {
    /// The control port clients connect to.
    let controlPort: Int
    /// The UDP port the replies advertise; its datagrams go to the inbox given at creation.
    let udpPort: Int
    private let listener: ServerSocket
    private let udp: DatagramSocket
    private var connections: [Socket] = []

    /// Starts listening. `maxDatagram` is what `hello` advertises.
    init(loop: EventLoop, maxDatagram: Int, datagrams: Inbox<[UInt8]>) throws {
        udp = DatagramSocket(loop: loop)
        try udp.bind(localPort: 0, localAddress: "127.0.0.1")
        udp.onData = { datagrams.put(Array($0.bytes)) }
        try udp.receive()
        udpPort = udp.localPort
        listener = ServerSocket(loop: loop)
        try listener.bind(localPort: 0, localAddress: "127.0.0.1")
        try listener.listen()
        controlPort = listener.localPort
        let udpPort = self.udpPort
        listener.onConnect = { [unowned self] socket in
            connections.append(socket)
            var pending: [UInt8] = []
            socket.onData = { _ in
                try? socket.readRawBytes(count: socket.bytesAvailable) { pending += $0 }
                while let end = pending.firstIndex(of: 0) {
                    let frame = Array(pending[..<end])
                    pending.removeFirst(end + 1)
                    guard let request = (try? JSONValue.parse(frame))?.objectValue,
                          let op = request["op"]?.stringValue,
                          let id = request["id"]?.numberValue?.wholeValue else { continue }
                    let reply: String
                    switch op {
                    case "hello":
                        reply = #"{"id":\#(id),"ok":true,"server":"fake","udp":{"port":\#(udpPort)},"maxDatagram":\#(maxDatagram),"idleTimeoutMs":10000}"#
                    case "join":
                        reply = #"{"id":\#(id),"ok":true,"session":"00000000000000ab","member":1,"token":"\#(String(repeating: "00", count: 16))","udp":{"port":\#(udpPort)},"owner":1,"members":[]}"#
                    default:
                        reply = #"{"id":\#(id),"ok":false,"error":{"code":"unsupported","message":"not faked"}}"#
                    }
                    (Array(reply.utf8) + [0]).withUnsafeBytes { socket.writeRawBytes($0) }
                    socket.flush()
                }
            }
        }
    }

    /// Sends `bytes` from the fake relay's UDP socket to `destination`, as the relay would.
    func sendDatagram(_ bytes: [UInt8], to destination: SocketAddress) throws {
        try bytes.withUnsafeBytes { try udp.send($0, to: destination) }
    }

    /// Closes every socket.
    func close() {
        for connection in connections { connection.close() }
        listener.close()
        udp.close()
    }
}
