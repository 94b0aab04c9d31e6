import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `gamerelay serve` behind a port mapping, run as operators run it: clients, `gamerelay ping`
/// included, reach the relay's UDP socket only through a forwarder on another port, which the
/// relay advertises (`--advertise-udp-port`, or the port Agones allocated).
@Suite("Port mappings (process)")
struct PortMappingProcessTests {
    @Test func pingReachesARelayThroughTheUDPPortItAdvertises() async throws {
        let forwarder = try UDPForwarder()
        defer { forwarder.stop() }
        let relay = try RelayProcessHarness(["serve", "--host", "127.0.0.1", "--port", "0",
                                             "--advertise-udp-port", "\(forwarder.port)", "--log-level", "warning"])
        defer { relay.signal(SIGKILL) }
        let listening = try relay.waitForListening()
        let udpPort = try #require(listening.udp.portSuffix)
        #expect(udpPort != forwarder.port)
        forwarder.forward(to: udpPort)

        let ping = try RelayProcessHarness(["ping", listening.control, "-c", "3", "--interval", "0.05"])
        #expect(try await ping.waitForExit(timeout: .seconds(30)) == 0, "stderr: \(ping.stderrText())")
        let output = try ping.readAll()
        #expect(output.contains("3 packets transmitted, 3 received"), "\(output)")
        // The BIND round trips and the PINGs all came through the mapping.
        #expect(forwarder.forwardedCount >= 5)
    }

    @Test func pingReachesARelayOnTheAgonesAllocatedPort() async throws {
        let forwarder = try UDPForwarder()
        defer { forwarder.stop() }
        let gateway = try AgonesGatewayStandIn(allocatedPort: forwarder.port)
        defer { gateway.stop() }
        let relay = try RelayProcessHarness(["serve", "--host", "127.0.0.1", "--port", "0", "--agones",
                                             "--agones-sdk-port", "\(gateway.port)", "--agones-health-interval", "0.2",
                                             "--log-level", "info", "--log-format", "json"])
        defer { relay.signal(SIGKILL) }
        // The relay asks before the SDK server answers, and says it waits.
        var stderr = ""
        let deadline = ContinuousClock.now + .seconds(30)
        while !stderr.contains("waiting for the agones sdk server") {
            guard ContinuousClock.now < deadline else { throw TestFailure("the relay never waited for the gateway: \(stderr)") }
            stderr += relay.stderrText()
            try await Task.sleep(for: .milliseconds(20))
        }
        try await gateway.start()
        let listening = try relay.waitForListening()
        forwarder.forward(to: try #require(listening.udp.portSuffix))
        _ = try gateway.waitFor("POST /ready") { $0.contains { $0.path == "/ready" } }

        let ping = try RelayProcessHarness(["ping", listening.control, "-c", "3", "--interval", "0.05"])
        #expect(try await ping.waitForExit(timeout: .seconds(30)) == 0, "stderr: \(ping.stderrText())")
        #expect(try ping.readAll().contains("3 packets transmitted, 3 received"))
        _ = try gateway.waitFor("health pings") { $0.count { $0.path == "/health" } >= 2 }

        // SIGTERM drains; when the drain ends the relay asks Agones for Shutdown, then exits 0.
        relay.signal(SIGTERM)
        #expect(try await relay.waitForExit(timeout: .seconds(20)) == 0)
        #expect(gateway.requests.contains { $0.method == "POST" && $0.path == "/shutdown" })
        // JSON logs write numbers as numbers.
        stderr += relay.stderrText()
        let joined = try #require(stderr.split(separator: "\n").first { $0.contains("\"msg\":\"member joined\"") }, "\(stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(joined.utf8)) as? [String: Any])
        #expect(object["member"] is NSNumber && !(object["member"] is String), "\(joined)")
    }
}

/// The first lines an operator reads: the version, and the readiness line naming every address.
@Suite("Readiness and version (process)")
struct ReadinessLineProcessTests {
    @Test func theReadinessLineNamesTheMetricsAddress() throws {
        let relay = try RelayProcessHarness(["serve", "--host", "127.0.0.1", "--port", "0", "--metrics-port", "0", "--log-level", "warning"])
        defer { relay.signal(SIGKILL) }
        let line = try relay.waitForListening().line
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: String])
        let metrics = try #require(object["metrics"], "\(line)")
        #expect(metrics.hasPrefix("127.0.0.1:") && metrics.portSuffix.map { $0 > 0 } == true)
        // The contract's fields come first, in their order.
        #expect(line.hasPrefix("{\"event\":\"listening\",\"control\":"))
    }

    @Test func versionPrintsTheVersion() async throws {
        let version = try RelayProcessHarness(["--version"])
        #expect(try await version.waitForExit() == 0)
        #expect(try version.readAll().trimmingCharacters(in: .whitespacesAndNewlines).range(of: #"^\d+\.\d+\.\d+$"#, options: .regularExpression) != nil)
    }
}
