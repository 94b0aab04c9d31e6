import Foundation
import RelayServer
import RelayWire
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("Metrics endpoint")
struct MetricsEndpointTests {
    /// One HTTP exchange over a raw socket: the status line and the body.
    static func http(_ port: Int, _ request: String) throws -> (status: String, body: String) {
        let client = try ControlTestClient(port: port)
        try client.sendRaw(Array(request.utf8))
        var response: [UInt8] = []
        let deadline = ContinuousClock.now + .seconds(5)
        while ContinuousClock.now < deadline {
            var pfd = pollfd(fd: client.fd, events: Int16(POLLIN), revents: 0)
            guard poll(&pfd, 1, 100) > 0 else { continue }
            var chunk = [UInt8](repeating: 0, count: 65536)
            let n = chunk.withUnsafeMutableBytes { recv(client.fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            response += chunk[..<n]
        }
        let text = String(decoding: response, as: UTF8.self)
        let parts = text.components(separatedBy: "\r\n\r\n")
        return (parts.first?.components(separatedBy: "\r\n").first ?? "", parts.dropFirst().joined(separator: "\r\n\r\n"))
    }

    /// The value of an unlabelled or labelled sample in Prometheus text.
    static func sample(_ name: String, in text: String) -> Double? {
        for line in text.split(separator: "\n") where line.hasPrefix(name + " ") {
            return Double(line.split(separator: " ")[1])
        }
        return nil
    }

    @Test func countersFollowTrafficAndEndpointsAnswer() async throws {
        let relay = try await TestRelay.start { $0.metricsPort = 0 }
        defer { Task { await relay.stop() } }
        let port = try await relay.read { $0.metricsAddress!.port }
        let members = try relay.makeMembers(2)
        for sequence in UInt32(1)...5 {
            members[0].udp.send(members[0].header(PacketType.data, target: 0xFFFF, sequence: sequence), payload: [1])
            _ = try members[1].udp.expectDatagram()
        }
        members[0].udp.send(members[0].header(PacketType.data, target: 0xFFFF, sequence: 1), payload: [1])
        try await relay.waitForCounters("duplicate counted") { $0.drops(.duplicate) == 1 }

        let (status, body) = try Self.http(port, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(status == "HTTP/1.1 200 OK")
        // Data-plane counters carry their loop's number.
        #expect(Self.sample(#"gamerelay_datagrams_forwarded_total{loop="1"}"#, in: body) == 5)
        #expect(Self.sample(#"gamerelay_forwarded_bytes_total{loop="1"}"#, in: body) == 85)
        #expect(Self.sample(#"gamerelay_datagrams_dropped_total{loop="1",reason="duplicate"}"#, in: body) == 1)
        #expect(Self.sample("gamerelay_sessions", in: body) == 1)
        #expect(Self.sample("gamerelay_bound_members", in: body) == 2)
        #expect(Self.sample("gamerelay_control_connections", in: body) == 2)
        #expect(Self.sample(#"gamerelay_binds_total{loop="1"}"#, in: body) == 2)
        #expect(body.contains("gamerelay_receive_batch_duration_seconds_bucket{le=\"0.000005\"}"))

        #expect(try Self.http(port, "GET /healthz HTTP/1.1\r\n\r\n").status == "HTTP/1.1 200 OK")
        #expect(try Self.http(port, "GET /readyz HTTP/1.0\r\n\r\n").status == "HTTP/1.1 200 OK")
        #expect(try Self.http(port, "GET /other HTTP/1.1\r\n\r\n").status == "HTTP/1.1 404 Not Found")
        #expect(try Self.http(port, "hello there\r\n\r\n").status == "HTTP/1.1 400 Bad Request")
        #expect(try Self.http(port, String(repeating: "x", count: 9000)).status == "HTTP/1.1 400 Bad Request")

        let server = relay.server
        _ = try await relay.loop.submit { server.value.beginDrain() }
        #expect(try Self.http(port, "GET /readyz HTTP/1.1\r\n\r\n").status == "HTTP/1.1 503 Service Unavailable")
        #expect(Self.sample("gamerelay_draining", in: try Self.http(port, "GET /metrics HTTP/1.1\r\n\r\n").body) == 1)
    }
}
