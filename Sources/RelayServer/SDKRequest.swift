import UVNet

/// A failed call to the Agones SDK gateway: no connection, a timeout, an unreadable answer, or
/// a status other than 2xx.
public struct AgonesError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The HTTP status when the gateway answered, else nil.
    public var status: Int?
    /// What went wrong.
    public var message: String

    /// Creates an error.
    public init(status: Int? = nil, _ message: String) {
        self.status = status
        self.message = message
    }

    public var description: String { message }
}

/// One HTTP/1.1 request on a connection of its own (`Connection: close`), with a deadline and a
/// bounded answer: what the relay needs to call the Agones SDK gateway on loopback without
/// blocking its loop.
///
/// Loop-bound: start and finish on the loop given. The completion runs exactly once, on that loop.
final class SDKRequest {
    private let socket: Socket
    private var received: [UInt8] = []
    private var timer: Timer?
    private var completion: ((Result<HTTPResponse, AgonesError>) -> Void)?
    private let what: String

    /// The largest answer read; the gateway's are a few kilobytes.
    static let responseLimit = 64 << 10

    private init(loop: EventLoop, what: String, completion: @escaping (Result<HTTPResponse, AgonesError>) -> Void) {
        socket = Socket(loop: loop)
        self.what = what
        self.completion = completion
    }

    /// Sends `method path` with `body` (JSON) to `host:port` and calls `completion` with the
    /// answer, or an error once `timeout` has passed. A status outside 2xx is an error too.
    static func send(loop: EventLoop, host: String, port: Int, method: String, path: String, body: String,
                     timeout: Duration, completion: @escaping (Result<HTTPResponse, AgonesError>) -> Void) {
        loop.assertInEventLoop()
        let request = SDKRequest(loop: loop, what: "\(method) \(path)", completion: completion)
        request.start(host: host, port: port, head: "\(method) \(path) HTTP/1.1\r\nHost: \(host):\(port)\r\n"
                      + "Content-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n" + body,
                      timeout: timeout)
    }

    private func start(host: String, port: Int, head: String, timeout: Duration) {
        // The callbacks keep the request alive until it finishes, which clears them.
        socket.timeout = timeout
        timer = socket.loop.schedule(after: timeout) { [self] in finish(.failure(AgonesError("\(what): no answer within \(timeout)"))) }
        socket.onConnect = { [self] in
            Array(head.utf8).withUnsafeBytes { socket.writeRawBytes($0) }
            socket.flush()
        }
        socket.onData = { [self] count in
            guard let bytes = try? socket.readRawBytes(count: count, { Array($0) }) else { return }
            received += bytes
            check(isComplete: false)
        }
        socket.onClose = { [self] in check(isComplete: true) }
        socket.onIOError = { [self] error in finish(.failure(AgonesError("\(what): \(error.message)"))) }
        do throws(SocketError) {
            try socket.connect(host: host, port: port)
        } catch {
            // Not from inside the caller's own call: the completion always runs on a later turn.
            let failure = AgonesError("\(what): \(error.message)")
            socket.loop.schedule(after: .zero) { [self] in finish(.failure(failure)) }
        }
    }

    private func check(isComplete: Bool) {
        switch HTTPResponse.parse(received, isComplete: isComplete, limit: Self.responseLimit) {
        case .needMore:
            if isComplete { finish(.failure(AgonesError("\(what): the connection closed early"))) }
        case .invalid(let why):
            finish(.failure(AgonesError("\(what): \(why)")))
        case .done(let response):
            if (200..<300).contains(response.status) {
                finish(.success(response))
            } else {
                let text = String(decoding: response.body.prefix(200), as: UTF8.self)
                finish(.failure(AgonesError(status: response.status, "\(what): HTTP \(response.status) \(text)")))
            }
        }
    }

    private func finish(_ result: Result<HTTPResponse, AgonesError>) {
        guard let done = completion else { return }
        completion = nil
        timer?.close()
        timer = nil
        socket.onConnect = nil
        socket.onData = nil
        socket.onClose = nil
        socket.onIOError = nil
        socket.close()
        done(result)
    }
}
