import Foundation
import TestSupport
import UVNet

/// A stand-in for the Agones SDK server's REST gateway, as documented for SDK version 1.41 and
/// later: `POST /ready`, `POST /health`, `POST /shutdown` and `GET /gameserver` (a GameServer
/// in protobuf's JSON mapping, `status.ports` holding the allocated ports), and
/// `PATCH /v1beta1/counters/{name}` (`{"count":"N"}`; 404 for a counter the GameServer's spec
/// does not define). It records every request, answers with `Connection: close` as the
/// gateway's HTTP server does for such requests, and can start late: ``start()`` binds the port
/// that ``init(allocatedPort:counters:)`` reserved, so a relay can be pointed at it before it
/// answers.
final class AgonesGatewayStandIn: Sendable {
    /// A request as the gateway saw it.
    struct Request: Sendable, Equatable {
        var method: String
        var path: String
        var body: String
    }

    let loop = EventLoop(name: "agones-stand-in")
    /// The gateway's port on 127.0.0.1, reserved at creation.
    let port: Int
    /// The host port `GET /gameserver` reports as allocated.
    let allocatedPort: Int
    /// The Counters the GameServer defines.
    let definedCounters: Set<String>
    private let log = Locked<[Request]>([])
    private let counts = Locked<[String: Int]>([:])
    private let server = Locked<LoopBound<ServerSocket>?>(nil)

    init(allocatedPort: Int, counters: Set<String> = ["sessions", "members"]) throws {
        self.allocatedPort = allocatedPort
        definedCounters = counters
        port = try LoopbackPorts.unusedTCPPort()
    }

    /// Every request so far, in arrival order.
    var requests: [Request] { log.withLock { $0 } }

    /// The Counters' counts as last set.
    var counterValues: [String: Int] { counts.withLock { $0 } }

    /// Waits (bounded) until `condition` holds for the requests; returns them.
    func waitFor(_ what: String, timeout: Duration = .seconds(20), _ condition: @escaping ([Request]) -> Bool) throws -> [Request] {
        guard let requests = log.wait(until: { condition($0) ? $0 : nil }, timeout: timeout) else {
            throw TestFailure("the Agones stand-in saw no \(what) within \(timeout); requests: \(self.requests.map { "\($0.method) \($0.path)" })")
        }
        return requests
    }

    /// Starts answering on ``port``.
    func start() async throws {
        let (loop, port, log, counts, allocated, defined) = (self.loop, self.port, self.log, self.counts, allocatedPort, definedCounters)
        let socket = try await loop.submit {
            let listener = ServerSocket(loop: loop)
            try listener.bind(localPort: port, localAddress: "127.0.0.1")
            try listener.listen()
            listener.onConnect = { connection in
                var input: [UInt8] = []
                connection.onData = { count in
                    guard let bytes = try? connection.readRawBytes(count: count, { Array($0) }) else { return }
                    input += bytes
                    guard let request = Self.parse(input) else { return }
                    input.removeAll()
                    log.withLockThenBroadcast { $0.append(request) }
                    let (status, body) = Self.answer(request, allocatedPort: allocated, defined: defined, counts: counts)
                    let response = "HTTP/1.1 \(status)\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)"
                    Array(response.utf8).withUnsafeBytes { connection.writeRawBytes($0) }
                    connection.flush()
                    connection.shutdownOutput()
                }
            }
            return LoopBound(listener, loop: loop)
        }
        server.withLock { $0 = socket }
    }

    /// Stops answering and ends the loop.
    func stop() {
        if let socket = server.withLock({ $0 }) {
            _ = loop.execute { socket.value.close() }
        }
        loop.syncShutdown()
    }

    private static func answer(_ request: Request, allocatedPort: Int, defined: Set<String>,
                               counts: Locked<[String: Int]>) -> (String, String) {
        switch (request.method, request.path) {
        case ("GET", "/gameserver"):
            return ("200 OK", """
            {"object_meta":{"name":"gamerelay-x7k2p-abcde","namespace":"default","uid":"1f0c","resource_version":"4711",\
            "generation":"1","creation_timestamp":"1700000000","labels":{"agones.dev/fleet":"gamerelay"}},\
            "spec":{"health":{"period_seconds":5,"failure_threshold":3,"initial_delay_seconds":5}},\
            "status":{"state":"Scheduled","address":"203.0.113.7","addresses":[{"type":"ExternalIP","address":"203.0.113.7"}],\
            "ports":[{"name":"relay","port":\(allocatedPort)}],"counters":{"sessions":{"count":"0","capacity":"1000"}}}}
            """)
        case ("POST", "/ready"), ("POST", "/health"), ("POST", "/shutdown"):
            return ("200 OK", "{}")
        case ("PATCH", let path) where path.hasPrefix("/v1beta1/counters/"):
            let name = String(path.dropFirst("/v1beta1/counters/".count))
            guard defined.contains(name) else {
                return ("404 Not Found", "{\"code\":5,\"message\":\"counter not found: \(name)\",\"details\":[]}")
            }
            guard let object = try? JSONSerialization.jsonObject(with: Data(request.body.utf8)) as? [String: Any],
                  let text = object["count"] as? String, let count = Int(text) else {
                return ("400 Bad Request", "{\"code\":3,\"message\":\"bad count\",\"details\":[]}")
            }
            counts.withLock { $0[name] = count }
            return ("200 OK", "{\"name\":\"\(name)\",\"count\":\"\(count)\",\"capacity\":\"1000\"}")
        default:
            return ("404 Not Found", "{\"code\":5,\"message\":\"Not Found\",\"details\":[]}")
        }
    }

    /// A whole request (head and `Content-Length` body), or nil while more is needed.
    private static func parse(_ bytes: [UInt8]) -> Request? {
        let text = String(decoding: bytes, as: UTF8.self)
        guard let headEnd = text.range(of: "\r\n\r\n") else { return nil }
        let lines = text[..<headEnd.lowerBound].components(separatedBy: "\r\n")
        let parts = lines[0].split(separator: " ")
        guard parts.count == 3 else { return nil }
        var length = 0
        for line in lines.dropFirst() where line.lowercased().hasPrefix("content-length:") {
            length = Int(line.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) ?? 0
        }
        let body = Array(text[headEnd.upperBound...].utf8)
        guard body.count >= length else { return nil }
        return Request(method: String(parts[0]), path: String(parts[1]), body: String(decoding: body.prefix(length), as: UTF8.self))
    }

}
