import RelayWire
import UVNet

/// A minimal HTTP/1.1 server for operators, on a UVNet ``ServerSocket``: `GET /metrics`
/// (Prometheus text format), `/healthz` and `/readyz`; anything else is 404, and a request that
/// is not HTTP gets 400. One request per connection, then the connection closes.
///
/// Loop-bound to the relay's control loop. Everything a peer can make it hold is bounded: a
/// request head larger than 8 KiB is answered 400; once a request is answered, at most 64 KiB
/// more is read (and thrown away, to notice the peer's close) before reading stops; a connection
/// lives at most 5 s; and at most ``maxConnections`` are open at once, the rest closed at accept.
final class MetricsEndpoint {
    /// What a request asks for, and what the endpoint needs to answer it.
    struct Handlers {
        /// The Prometheus text body.
        var metrics: () -> [UInt8]
        /// Whether the relay accepts new sessions (false while draining).
        var ready: () -> Bool
    }

    let socket: ServerSocket
    private let handlers: Handlers
    private var openConnections: [ObjectIdentifier: Socket] = [:]
    /// Called when accepting fails, `EMFILE` among the causes; the endpoint keeps listening.
    var onAcceptError: ((SocketError) -> Void)?
    static let maxRequestBytes = 8192
    /// Bytes read after the answer, only to see the peer's close; beyond them reading stops.
    static let maxDiscardBytes = 64 << 10
    /// Scrapes in progress at once; a scraper needs one, a few operators a handful.
    static let maxConnections = 16

    init(loop: EventLoop, host: String, port: Int, handlers: Handlers) throws(SocketError) {
        socket = ServerSocket(loop: loop)
        self.handlers = handlers
        do throws(SocketError) {
            try socket.bind(localPort: port, localAddress: host)
            try socket.listen()
        } catch {
            socket.close()
            throw SocketError(error.code, operation: "metrics bind \(host):\(port)", message: error.message, uvErrorCode: error.uvErrorCode)
        }
        socket.onConnect = { [unowned self] connection in accept(connection) }
        socket.onIOError = { [unowned self] error in onAcceptError?(error) }
    }

    private func accept(_ connection: Socket) {
        guard openConnections.count < Self.maxConnections else {
            connection.close()
            return
        }
        let key = ObjectIdentifier(connection)
        openConnections[key] = connection
        var request: [UInt8] = []
        var answered = false
        var discarded = 0
        let deadline = connection.loop.schedule(after: .seconds(5)) { [weak self] in self?.finish(connection) }
        connection.onClose = { [weak self] in self?.forget(connection, deadline) }
        connection.onIOError = { [weak self] _ in self?.forget(connection, deadline) }
        connection.onData = { [weak self, unowned connection] _ in
            guard let self else { return }
            let count = connection.bytesAvailable
            // Never more than one request head is kept; anything past it is thrown away as it comes.
            let take = answered ? 0 : min(count, Self.maxRequestBytes + 1 - request.count)
            try? connection.readRawBytes(count: take) { request.append(contentsOf: $0) }
            try? connection.readRawBytes(count: count - take) { _ in }
            if answered {
                discarded += count
                if discarded > Self.maxDiscardBytes { connection.pauseReading() }
                return
            }
            discarded += count - take
            switch HTTPRequestHead.parse(request, maxBytes: Self.maxRequestBytes) {
            case .incomplete:
                break
            case .tooLarge:
                answered = true
                send(400, "Bad Request", "request header too large\n", on: connection)
            case .malformed:
                answered = true
                send(400, "Bad Request", "malformed request\n", on: connection)
            case .complete(let head):
                answered = true
                respond(to: head, on: connection)
            }
            if answered {
                request = []
                // The answer's own 5 s timer ends the connection from here on.
                deadline.close()
                if discarded > Self.maxDiscardBytes { connection.pauseReading() }
            }
        }
    }

    private func respond(to head: HTTPRequestHead, on connection: Socket) {
        let method = head.method
        guard method == "GET" || method == "HEAD" else {
            send(405, "Method Not Allowed", "only GET and HEAD\n", on: connection, headOnly: false, extra: "Allow: GET, HEAD\r\n")
            return
        }
        let headOnly = method == "HEAD"
        switch head.path {
        case "/metrics":
            send(200, "OK", handlers.metrics(), contentType: "text/plain; version=0.0.4; charset=utf-8", on: connection, headOnly: headOnly)
        case "/healthz":
            send(200, "OK", "ok\n", on: connection, headOnly: headOnly)
        case "/readyz":
            if handlers.ready() {
                send(200, "OK", "ready\n", on: connection, headOnly: headOnly)
            } else {
                send(503, "Service Unavailable", "draining\n", on: connection, headOnly: headOnly)
            }
        default:
            send(404, "Not Found", "not found\n", on: connection, headOnly: headOnly)
        }
    }

    private func send(_ status: Int, _ reason: String, _ body: String, on connection: Socket, headOnly: Bool = false, extra: String = "") {
        send(status, reason, Array(body.utf8), contentType: "text/plain; charset=utf-8", on: connection, headOnly: headOnly, extra: extra)
    }

    private func send(_ status: Int, _ reason: String, _ body: [UInt8], contentType: String, on connection: Socket,
                      headOnly: Bool, extra: String = "") {
        let head = "HTTP/1.1 \(status) \(reason)\r\nContent-Type: \(contentType)\r\nContent-Length: \(body.count)\r\n\(extra)Connection: close\r\n\r\n"
        var output = connection
        output.writeUTFBytes(head)
        if !headOnly { body.withUnsafeBytes { connection.writeRawBytes($0) } }
        // FIN after the response; the peer's close (or the 5 s deadline) ends the connection.
        connection.shutdownOutput()
        connection.loop.schedule(after: .seconds(5)) { [weak self] in self?.finish(connection) }
    }

    private func finish(_ connection: Socket) {
        connection.close()
        openConnections[ObjectIdentifier(connection)] = nil
    }

    private func forget(_ connection: Socket, _ deadline: Timer) {
        deadline.close()
        openConnections[ObjectIdentifier(connection)] = nil
    }

    /// Stops listening and closes open requests.
    func close() {
        socket.close()
        for connection in openConnections.values { connection.close() }
        openConnections.removeAll()
    }
}
