import Foundation
import RelayBench
import Testing

/// Runs whose sessions mix UDP and WebSocket members: each receiving path's figures, beside
/// the run's own, and nothing new in the reports of runs without WebSocket members.
@Suite struct BenchPathSummaryTests {
    /// Deliveries whose latencies are `micros` µs each.
    static func path(members: Int, expected: UInt64, micros: ClosedRange<UInt64>) -> BenchPathMeasurements {
        var latency = LatencyRecorder()
        for value in micros { latency.recordRaw(nanoseconds: value * 1_000) }
        return BenchPathMeasurements(membersPerSession: members, expected: expected, delivered: UInt64(micros.count), latency: latency)
    }

    static func mixed() -> BenchMeasurements {
        var m = BenchMeasurements.fixture()
        m.webSocketMembers = 2
        m.deliveredToUDP = path(members: 2, expected: 500, micros: 1...500)
        m.deliveredToWebSocket = path(members: 2, expected: 500, micros: 101...590)
        return m
    }

    @Test func eachPathReportsItsOwnLatencyAndLoss() throws {
        let summary = BenchSummary(Self.mixed())
        #expect(summary.webSocketMembers == 2)
        let udp = try #require(summary.deliveredToUDP)
        let webSocket = try #require(summary.deliveredToWebSocket)
        #expect(udp.membersPerSession == 2 && udp.expected == 500 && udp.delivered == 500 && udp.lossPercent == 0)
        #expect(webSocket.delivered == 490)
        #expect(abs(webSocket.lossPercent - 2) < 1e-9)
        // Within the histogram's 0.1 % precision.
        #expect(abs(udp.latencyP50Micros - 250) <= 0.5)
        #expect(abs(webSocket.latencyP50Micros - 345) <= 0.5)
        #expect(abs(webSocket.latencyMaxMicros - 590) <= 0.6)
        #expect(webSocket.latencySamples == 490)
        // The run's own figures are untouched.
        #expect(summary.delivered == 990)
    }

    @Test func aPathWithoutMembersIsLeftOut() {
        var m = Self.mixed()
        m.webSocketMembers = 4
        m.deliveredToUDP = BenchPathMeasurements(membersPerSession: 0)
        let summary = BenchSummary(m)
        #expect(summary.deliveredToUDP == nil)
        #expect(summary.deliveredToWebSocket != nil)
    }

    @Test func aRunWithoutWebSocketMembersAddsNoKeys() throws {
        var m = BenchMeasurements.fixture()
        m.webSocketMembers = 0
        m.deliveredToUDP = Self.path(members: 4, expected: 10, micros: 1...10)
        let summary = BenchSummary(m)
        #expect(summary.webSocketMembers == nil && summary.deliveredToUDP == nil && summary.deliveredToWebSocket == nil)
        let json = try BenchReport.json(summary)
        #expect(!json.contains("webSocketMembers") && !json.contains("deliveredTo"))
        #expect(!BenchReport.table(summary).contains("transport"))
    }

    @Test func theJSONCarriesBothPathsAndDecodesBack() throws {
        let summary = BenchSummary(Self.mixed())
        let json = try BenchReport.json(summary)
        #expect(json.contains("\"webSocketMembers\" : 2"))
        #expect(json.contains("\"deliveredToWebSocket\""))
        #expect(json.contains("\"deliveredToUDP\""))
        let decoded = try JSONDecoder().decode(BenchSummary.self, from: Data(json.utf8))
        #expect(decoded == summary)
    }

    @Test func theTableShowsOneLinePerPath() {
        let table = BenchReport.table(BenchSummary(Self.mixed()))
        let lines = table.split(separator: "\n").map(String.init)
        let udp = lines.first { $0.hasPrefix("  UDP, 2 per session") }
        let webSocket = lines.first { $0.hasPrefix("  WebSocket, 2 per session") }
        #expect(udp != nil && webSocket != nil)
        #expect(lines.contains { $0.hasPrefix("  to WebSocket members") && $0.contains("490 / 500, loss 2.00 %") })
        #expect(lines.contains { $0.hasPrefix("  to UDP members") && $0.contains("500 / 500, loss 0.00 %") })
        // Under the p50 … max columns of the header.
        let header = lines.first { $0.hasPrefix("By receiving member's transport") }.flatMap { lines.firstIndex(of: $0) }
        if let header { #expect(lines[header + 1].hasSuffix("max") && lines[header + 1].count == webSocket?.count) }
    }
}
