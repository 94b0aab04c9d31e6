import RelayBench
@testable import RelayServer
import RelayWire
import Testing

/// The `/metrics` page as Prometheus tooling reads it: every family described, the build and
/// process families present, renamed families still served under their old names.
@Suite("Metrics exposition")
struct MetricsExpositionTests {
    /// A histogram's samples are its family's name plus one of these.
    static let histogramSuffixes = ["_bucket", "_sum", "_count"]

    /// The family a sample belongs to, given the families the page describes.
    static func family(of sample: String, in families: [String: PrometheusText.Family]) -> String {
        if families[sample] != nil { return sample }
        for suffix in histogramSuffixes where sample.hasSuffix(suffix) {
            let base = String(sample.dropLast(suffix.count))
            if families[base]?.type == "histogram" { return base }
        }
        return sample
    }

    @Test func everyFamilyHasHelpAndTypeAndTheRenamedByteCountersKeepTheirOldNames() async throws {
        let relay = try await TestRelay.start { $0.metricsPort = 0 }
        defer { Task { await relay.stop() } }
        let port = try await relay.read { $0.metricsAddress!.port }
        let members = try relay.makeMembers(2)
        for sequence in UInt32(1)...3 {
            members[0].udp.send(members[0].header(PacketType.data, target: 0xFFFF, sequence: sequence), payload: [1, 2])
            _ = try members[1].udp.expectDatagram()
        }
        try await relay.waitForCounters("forwards counted") { $0.datagramsForwarded == 3 }
        let (status, body) = try MetricsEndpointTests.http(port, "GET /metrics HTTP/1.1\r\n\r\n")
        #expect(status == "HTTP/1.1 200 OK")

        let families = PrometheusText.families(in: body)
        let samples = PrometheusText.sampleNames(in: body)
        #expect(samples.count > 30)
        for sample in samples {
            let name = Self.family(of: sample, in: families)
            #expect(families[name]?.help?.isEmpty == false, "\(name) has no # HELP")
            #expect(families[name]?.type != nil, "\(name) has no # TYPE")
        }
        for (name, family) in families {
            #expect(family.help?.isEmpty == false && family.type != nil, "\(name): \(family)")
        }

        #expect(PrometheusText.sum(of: #"gamerelay_build_info{version="\#(RelayConfig.version)"}"#, in: body) == 1)
        #expect(families["gamerelay_build_info"]?.type == "gauge")
        for name in ["process_cpu_seconds_total", "process_resident_memory_bytes", "process_virtual_memory_bytes",
                     "process_open_fds", "process_max_fds", "process_start_time_seconds"] {
            let value = try #require(PrometheusText.sum(of: name, in: body), "\(name) missing")
            #expect(value > 0, "\(name) = \(value)")
        }
        #expect(families["process_cpu_seconds_total"]?.type == "counter")
        // A start time in seconds since 1970 (after 2020), not ticks since boot.
        let start = try #require(PrometheusText.sum(of: "process_start_time_seconds", in: body))
        #expect(start > 1_600_000_000)

        // Each datagram carries a 16-byte header and 2 payload bytes.
        let pairs = [("gamerelay_received_bytes_total", "gamerelay_bytes_received_total"),
                     ("gamerelay_forwarded_bytes_total", "gamerelay_bytes_forwarded_total"),
                     ("gamerelay_aggregate_sent_bytes_total", "gamerelay_aggregate_bytes_sent_total")]
        for (new, old) in pairs {
            #expect(PrometheusText.sum(of: new, in: body) == PrometheusText.sum(of: old, in: body), "\(new) vs \(old)")
            #expect(families[old]?.help?.contains("Deprecated") == true)
        }
        #expect(PrometheusText.sum(of: "gamerelay_forwarded_bytes_total", in: body) == Double(3 * 18))
    }

    @Test func procStatFieldsAreCountedFromTheLastParenthesis() {
        // proc(5): a command name may hold spaces and parentheses.
        let line = "4242 (relay (a) b) S 1 4242 4242 0 -1 4194560 300 0 0 0 250 75 0 0 20 0 5 0 123456 987654321 2048 "
            + "18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n"
        #expect(ProcessMetrics.parse(stat: line) == .init(cpuTicks: 325, startTicks: 123_456, virtualBytes: 987_654_321, residentPages: 2048))
        #expect(ProcessMetrics.parse(stat: "4242 (relay) S 1 2 3") == nil)
        #expect(ProcessMetrics.parse(stat: "no parenthesis") == nil)
        #expect(ProcessMetrics.parse(stat: "") == nil)
    }

    @Test func bootTimeIsTheBtimeLine() {
        #expect(ProcessMetrics.bootTime(procStat: "cpu  1 2 3\nintr 5\nbtime 1765000000\nprocesses 9\n") == 1_765_000_000)
        #expect(ProcessMetrics.bootTime(procStat: "cpu 1\n") == nil)
        #expect(ProcessMetrics.bootTime(procStat: "btime x\n") == nil)
    }

    @Test func renderedProcessFamiliesParseBack() {
        var buffer: [UInt8] = []
        ProcessMetrics.render(.init(cpuSeconds: 1.5, residentBytes: 4096, virtualBytes: 8192, startTimeSeconds: 1_765_000_000.25,
                                    openFDs: 7, maxFDs: 1024), into: &buffer)
        let text = String(decoding: buffer, as: UTF8.self)
        let families = PrometheusText.families(in: text)
        #expect(families.count == 6)
        #expect(families.values.allSatisfy { $0.help != nil && $0.type != nil })
        #expect(PrometheusText.sum(of: "process_cpu_seconds_total", in: text) == 1.5)
        #expect(PrometheusText.sum(of: "process_start_time_seconds", in: text) == 1_765_000_000.25)
        #expect(PrometheusText.sum(of: "process_open_fds", in: text) == 7)
        #expect(PrometheusText.sum(of: "process_max_fds", in: text) == 1024)
    }
}
