import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `gamerelay bench --websocket-members`, run as users run it: WebSocket members beside UDP
/// members in every session, and the report split by the receiving member's transport.
@Suite("gamerelay bench --websocket-members (process)")
struct BenchWebSocketTests {
    @Test func benchWithAWebSocketMemberPerSessionReportsBothPaths() async throws {
        let json = FileManager.default.temporaryDirectory.appendingPathComponent("bench-ws-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).json").path
        defer { try? FileManager.default.removeItem(atPath: json) }
        let bench = try RelayProcessHarness(["bench", "--sessions", "2", "--members", "3", "--websocket-members", "1", "--rate", "50",
                                             "--duration", "1", "--warmup", "0.5", "--json", json])
        #expect(try await bench.waitForExit(timeout: .seconds(60)) == 0, "stderr: \(bench.stderrText())")
        let summary = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: json))) as? [String: Any])
        #expect(summary["webSocketMembers"] as? Int == 1)
        let expected = try #require(summary["expected"] as? Int)
        #expect(summary["delivered"] as? Int == expected, "\(summary)")
        let webSocket = try #require(summary["deliveredToWebSocket"] as? [String: Any], "\(summary)")
        let udp = try #require(summary["deliveredToUDP"] as? [String: Any], "\(summary)")
        // Of each message's 2 receivers, a UDP sender reaches 1 WebSocket member and 1 UDP
        // member, the WebSocket sender 2 UDP members: a third of the deliveries go to WebSocket.
        let toWebSocket = try #require(webSocket["expected"] as? Int)
        let toUDP = try #require(udp["expected"] as? Int)
        #expect(toWebSocket + toUDP == expected)
        #expect(abs(toWebSocket * 3 - expected) <= 6, "\(summary)")
        #expect(webSocket["delivered"] as? Int == toWebSocket && udp["delivered"] as? Int == toUDP, "\(summary)")
        #expect((webSocket["latencyP50Micros"] as? Double ?? 0) > 0 && (udp["latencyP50Micros"] as? Double ?? 0) > 0)
        let table = try bench.readAll()
        #expect(table.contains("  WebSocket, 1 per session"), "\(table)")
        #expect(table.contains("  UDP, 2 per session"), "\(table)")
    }

    /// Against a separate relay, whose forwarded count includes the datagrams it sent as binary
    /// messages, so its CPU per datagram sent covers both paths.
    @Test func benchCountsASeparateRelaysSendsToWebSocketMembers() async throws {
        let (relay, listening, metrics) = try RelayProcessHarness.relayForBench()
        defer { relay.signal(SIGKILL) }
        let json = FileManager.default.temporaryDirectory.appendingPathComponent("bench-ws-forwarded-\(getpid()).json").path
        defer { try? FileManager.default.removeItem(atPath: json) }
        let bench = try RelayProcessHarness(["bench", "--relay", listening.control, "--relay-pid", "\(relay.process.processIdentifier)",
                                             "--sessions", "2", "--members", "3", "--websocket-members", "3", "--rate", "50",
                                             "--duration", "1", "--warmup", "0.3",
                                             "--relay-metrics", "http://\(metrics)/metrics", "--json", json])
        #expect(try await bench.waitForExit(timeout: .seconds(60)) == 0, "stderr: \(bench.stderrText())")
        let summary = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: json))) as? [String: Any])
        let expected = try #require(summary["expected"] as? Int, "\(summary)")
        #expect(summary["delivered"] as? Int == expected, "\(summary)")
        // Every member on a WebSocket: no UDP path to report.
        #expect(summary["deliveredToUDP"] == nil && summary["deliveredToWebSocket"] != nil, "\(summary)")
        let forwarded = try #require(summary["relayForwarded"] as? Int, "\(summary)")
        #expect(forwarded >= expected * 8 / 10 && forwarded <= expected * 12 / 10, "\(summary)")
        #expect((summary["relayCPUMicrosPerRelayForwarded"] as? Double ?? 0) > 0, "\(summary)")
    }

    @Test func aCountOverTheMembersIsRefusedInOneLine() async throws {
        // --websocket-members past --members is refused before anything starts.
        let bench = try RelayProcessHarness(["bench", "--members", "3", "--websocket-members", "4"])
        #expect(try await bench.waitForExit(timeout: .seconds(30)) != 0)
        #expect(bench.stderrText().contains("--websocket-members must lie in 0...3"), "\(bench.stderrText())")
    }
}
