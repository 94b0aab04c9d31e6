import Foundation
import RelayBench
import Testing

@Suite("BenchReport text and JSON")
struct BenchReportTests {
    @Test("the table shows the workload and the key figures")
    func tableFigures() {
        var m = BenchMeasurements.fixture()
        m.sendFailures = 3
        let table = BenchReport.table(BenchSummary(m))
        let expectedFragments = [
            "gamerelay bench, positions profile: 10 sessions × 4 members, 64 B payload, 50/s per member, fan-out 3",
            "target 127.0.0.1:7400, measured 10.00 s after 2.00 s warm-up, started 2025-01-02T03:04:05Z",
            "hardware: 2 cores, Linux",
            "p50", "p90", "p99", "p99.9", "max",
            "1000.0",
            "990 / 1000",
            "1.00 %",
            "300.0 pkt/s (3000 sent)",
            "99.0 pkt/s",
            "2.020 µs",
            "10.0 % of a core",
            "10.0 MiB",
            "1.43 MiB for 40 members",
            "10.00 µs",
            "WARNING: send failures: 3 datagrams the kernel refused",
        ]
        for fragment in expectedFragments {
            #expect(table.contains(fragment), "missing \(fragment)")
        }
        #expect(table.hasSuffix("\n"))
        let lines = table.split(separator: "\n")
        #expect(lines.contains { $0.hasPrefix("  kernel drops at relay ") && $0.hasSuffix(" 5") })
        #expect(lines.contains { $0.hasPrefix("  kernel drops at generator ") && $0.hasSuffix(" 0") })
        #expect(lines.contains { $0.hasPrefix("  host UDP RcvbufErrors ") && $0.hasSuffix(" 7 (host-wide, all processes)") })
        #expect(lines.contains { $0.hasPrefix("  host UDP InErrors ") && $0.hasSuffix(" 9 (host-wide, all processes)") })
    }

    @Test("the table shows the jitter percentiles under their headers, and the streams")
    func tableJitter() throws {
        let lines = BenchReport.table(BenchSummary(.fixture())).split(separator: "\n", omittingEmptySubsequences: false)
        let title = try #require(lines.firstIndex { $0.hasPrefix("Jitter, RFC 3550 interarrival") })
        #expect(lines[title + 1].split(separator: " ") == ["p50", "p99"])
        #expect(lines[title + 2].split(separator: " ") == ["60.00", "119.0"])
        #expect(lines[title + 1].count == lines[title + 2].count)
        #expect(lines[title + 3].hasPrefix("  streams ") && lines[title + 3].hasSuffix(" 120"))
    }

    @Test("a voice run names its profile and its range of payload sizes")
    func tableVoice() {
        var m = BenchMeasurements.fixture()
        m.profile = "voice"
        m.payloadBytes = 60
        m.payloadBytesMax = 160
        let table = BenchReport.table(BenchSummary(m))
        #expect(table.hasPrefix("gamerelay bench, voice profile: 10 sessions × 4 members, 60–160 B payload (varying per datagram), 50/s per member"))
    }

    @Test("the table aligns percentiles under their headers and values in one column")
    func tableAlignment() throws {
        let lines = BenchReport.table(BenchSummary(.fixture())).split(separator: "\n", omittingEmptySubsequences: false)
        let header = try #require(lines.firstIndex { $0.contains("p99.9") })
        let headerLine = lines[header]
        let valueLine = lines[header + 1]
        #expect(headerLine.count == valueLine.count)
        // Every column is right-aligned: the last character of each 12-wide cell is not a space.
        for end in stride(from: 11, to: headerLine.count, by: 12) {
            #expect(Array(headerLine)[end] != " ")
            #expect(Array(valueLine)[end] != " ")
        }
        let rows = ["  loss", "  duplicates", "  reordered", "  send failures", "  generator CPU"]
        let columns = rows.compactMap { label -> Int? in
            guard let line = lines.first(where: { $0.hasPrefix(label + " ") }) else {
                return nil
            }
            return line.dropFirst(label.count).firstIndex { $0 != " " }.map { line.distance(from: line.startIndex, to: $0) }
        }
        #expect(columns.count == rows.count)
        #expect(Set(columns).count == 1)
    }

    @Test("unknown figures read n/a and a clean run has no warning")
    func tableUnknowns() {
        var m = BenchMeasurements.fixture()
        m.relayCPUNanos = nil
        m.relayPeakRSSBytes = nil
        m.relayRateLimitDrops = nil
        m.relaySocketDrops = nil
        m.generatorSocketDrops = nil
        m.relayRSSAfterSetupBytes = nil
        m.streamJitterNanos = []
        m.hostUDPErrors = nil
        let table = BenchReport.table(BenchSummary(m))
        #expect(table.components(separatedBy: "n/a").count - 1 == 10)
        #expect(!table.contains("WARNING"))
    }

    @Test("JSON round-trips to an equal summary", arguments: [true, false])
    func jsonRoundTrip(knownRelay: Bool) throws {
        var m = BenchMeasurements.fixture()
        m.sendFailures = 1
        if !knownRelay {
            m.relayCPUNanos = nil
            m.relayPeakRSSBytes = nil
            m.relayRateLimitDrops = nil
            m.memberPacketRateLimit = nil
            m.relaySocketDrops = nil
            m.generatorSocketDrops = nil
            m.relayRSSBeforeSetupBytes = nil
            m.streamJitterNanos = []
            m.hostUDPErrors = nil
        }
        let summary = BenchSummary(m)
        let json = try BenchReport.json(summary)
        let decoded = try JSONDecoder().decode(BenchSummary.self, from: Data(json.utf8))
        #expect(decoded == summary)
        #expect(json.contains("\n  \""))
        #expect(json.contains("\"relayCPUMicrosPerForwarded\"") == knownRelay)
        for key in ["jitterP50Micros", "jitterP99Micros", "hostUDPRcvbufErrors", "hostUDPInErrors",
                    "relayPeakRSSBytes", "relaySetupRSSGrowthBytes"] {
            #expect(json.contains("\"\(key)\"") == knownRelay, "\(key)")
        }
        #expect(json.contains("\"jitterStreams\" : \(knownRelay ? 120 : 0)"))
        #expect(json.contains("\"profile\" : \"positions\""))
    }

    @Test("JSON keys are sorted")
    func jsonSorted() throws {
        let json = try BenchReport.json(BenchSummary(.fixture()))
        let keys = json.split(separator: "\n")
            .filter { $0.hasPrefix("  \"") }
            .map { $0.dropFirst(3).prefix { $0 != "\"" } }
        #expect(keys.count > 30)
        #expect(keys == keys.sorted())
        #expect(keys.contains("lossPercent"))
        #expect(keys.contains("warnings"))
    }

    @Test("JSON refuses a non-finite figure")
    func jsonNonFinite() {
        var m = BenchMeasurements.fixture()
        m.ratePerMember = .infinity
        #expect(throws: EncodingError.self) {
            try BenchReport.json(BenchSummary(m))
        }
    }

    @Test("hgrm has the standard header, microsecond values and the 100 % line")
    func hgrm() throws {
        var latency = LatencyRecorder()
        for micros in UInt64(1) ... 10_000 {
            latency.recordRaw(nanoseconds: micros * 1_000)
        }
        let text = BenchReport.hgrm(latency)
        let lines = text.split(separator: "\n")
        let header = try #require(lines.first)
        #expect(header.split(separator: " ") == ["Value", "Percentile", "TotalCount", "1/(1-Percentile)"])

        let last = try #require(lines.last { $0.contains("1.000000000000") })
        let fields = last.split(separator: " ")
        #expect(fields.count == 3)
        let value = try #require(Double(fields[0]))
        #expect(abs(value - 10_000) <= 10)
        #expect(fields[2] == "10000")

        let median = try #require(lines.first { $0.contains(" 0.500000000000 ") })
        let medianValue = try #require(Double(median.split(separator: " ")[0]))
        #expect(abs(medianValue - 5_000) <= 5)

        #expect(text.contains("#[Mean    ="))
        #expect(text.contains("Total count    =        10000]"))
    }
}
