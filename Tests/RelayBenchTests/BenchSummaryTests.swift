import RelayBench
import Testing

@Suite("BenchSummary")
struct BenchSummaryTests {
    @Test("figures are derived from the measurements")
    func derivedFigures() {
        let s = BenchSummary(.fixture())
        #expect(s.lossPercent == 1.0)
        #expect(s.duplicates == 4)
        #expect(s.reordered == 2)
        #expect(s.offeredPacketsPerSecond == 300)
        #expect(s.deliveredPacketsPerSecond == 99)
        #expect(s.relayCPUMicrosPerForwarded == 2_000.0 / 990)
        #expect(s.relayForwarded == nil && s.relayCPUMicrosPerRelayForwarded == nil)
        var counted = BenchMeasurements.fixture()
        counted.relayForwarded = 1_000
        #expect(BenchSummary(counted).relayCPUMicrosPerRelayForwarded == 2.0)
        counted.tick = 30
        #expect(BenchSummary(counted).relayForwarded == nil, "tick runs deliver updates: per update is their figure")
        #expect(s.generatorCPUPercent == 10)
        #expect(s.relayPeakRSSBytes == 10 * 1_048_576)
        #expect(s.relayPeakRSSMB == 10)
        #expect(s.sendLagP99Micros == 10)
        #expect(s.latencySamples == 1_000)
        #expect(abs(s.latencyP50Micros - 500) <= 0.5)
        #expect(abs(s.latencyP99Micros - 990) <= 1)
        #expect(abs(s.latencyP999Micros - 999) <= 1)
        #expect(s.latencyMaxMicros == 1_000)
        #expect(s.warnings.isEmpty)
    }

    @Test("configuration is echoed")
    func echo() {
        let s = BenchSummary(.fixture())
        #expect(s.sessions == 10)
        #expect(s.members == 4)
        #expect(s.payloadBytes == 64)
        #expect(s.ratePerMember == 50)
        #expect(s.fanout == 3)
        #expect(s.durationSeconds == 10)
        #expect(s.warmupSeconds == 2)
        #expect(s.target == "127.0.0.1:7400")
        #expect(s.protocolName == "gamerelay")
        #expect(s.startedAt == "2025-01-02T03:04:05Z")
        #expect(s.hardware == "2 cores, Linux")
        #expect(s.memberPacketRateLimit == 100)
        #expect(s.sent == 3_000)
        #expect(s.expected == 1_000)
        #expect(s.delivered == 990)
        #expect(s.relayRateLimitDrops == 0)
        #expect(s.relaySocketDrops == 5)
        #expect(s.generatorSocketDrops == 0)
        #expect(s.profile == "positions")
        #expect(s.payloadBytesMax == nil)
    }

    @Test("jitter p50 and p99 are nearest-rank percentiles over the streams, in µs")
    func jitterPercentiles() {
        // 120 streams, 1 ... 120 µs: rank ⌈0.5 × 120⌉ = 60 and ⌈0.99 × 120⌉ = 119.
        let s = BenchSummary(.fixture())
        #expect(s.jitterStreams == 120)
        #expect(s.jitterP50Micros == 60)
        #expect(s.jitterP99Micros == 119)
        var one = BenchMeasurements.fixture()
        one.streamJitterNanos = [2_500]
        #expect(BenchSummary(one).jitterP50Micros == 2.5)
        #expect(BenchSummary(one).jitterP99Micros == 2.5)
        var none = BenchMeasurements.fixture()
        none.streamJitterNanos = []
        #expect(BenchSummary(none).jitterStreams == 0)
        #expect(BenchSummary(none).jitterP50Micros == nil)
        #expect(BenchSummary(none).jitterP99Micros == nil)
    }

    @Test("the host's UDP counters are echoed, and nil when unknown")
    func hostUDPCounters() {
        let s = BenchSummary(.fixture())
        #expect(s.hostUDPRcvbufErrors == 7)
        #expect(s.hostUDPInErrors == 9)
        var unknown = BenchMeasurements.fixture()
        unknown.hostUDPErrors = nil
        #expect(BenchSummary(unknown).hostUDPRcvbufErrors == nil)
        #expect(BenchSummary(unknown).hostUDPInErrors == nil)
    }

    @Test("set-up RSS growth is after minus before, in bytes (and in MB under its old key), nil unless both are known")
    func setupGrowth() {
        #expect(BenchSummary(.fixture()).relaySetupRSSGrowthBytes == 1_500_000)
        #expect(BenchSummary(.fixture()).relaySetupRSSGrowthMB == 1.5)
        var shrank = BenchMeasurements.fixture()
        shrank.relayRSSAfterSetupBytes = 9_750_000
        #expect(BenchSummary(shrank).relaySetupRSSGrowthBytes == -250_000)
        #expect(BenchSummary(shrank).relaySetupRSSGrowthMB == -0.25)
        var unknown = BenchMeasurements.fixture()
        unknown.relayRSSBeforeSetupBytes = nil
        #expect(BenchSummary(unknown).relaySetupRSSGrowthBytes == nil)
        #expect(BenchSummary(unknown).relaySetupRSSGrowthMB == nil)
    }

    @Test("loss is zero when nothing was expected and never negative",
          arguments: [(UInt64(0), UInt64(0), 0.0), (0, 5, 0.0), (100, 120, 0.0), (100, 100, 0.0), (100, 0, 100.0), (8, 6, 25.0)])
    func loss(expected: UInt64, delivered: UInt64, percent: Double) {
        var m = BenchMeasurements.fixture()
        m.expected = expected
        m.delivered = delivered
        #expect(BenchSummary(m).lossPercent == percent)
    }

    @Test("rates and CPU are zero for an empty window")
    func emptyWindow() {
        var m = BenchMeasurements.fixture()
        m.durationSeconds = 0
        let s = BenchSummary(m)
        #expect(s.offeredPacketsPerSecond == 0)
        #expect(s.deliveredPacketsPerSecond == 0)
        #expect(s.generatorCPUPercent == 0)
    }

    @Test("relay CPU per forwarded datagram is nil when unknown or nothing was delivered")
    func relayCPUUnknown() {
        var unknown = BenchMeasurements.fixture()
        unknown.relayCPUNanos = nil
        unknown.relayPeakRSSBytes = nil
        #expect(BenchSummary(unknown).relayCPUMicrosPerForwarded == nil)
        #expect(BenchSummary(unknown).relayPeakRSSMB == nil)

        var nothing = BenchMeasurements.fixture()
        nothing.delivered = 0
        #expect(BenchSummary(nothing).relayCPUMicrosPerForwarded == nil)
    }

    /// Each warning, with a change that triggers it and a boundary change that does not.
    enum Warning: CaseIterable, Sendable {
        case sendLag, generatorCPU, generatorDrops, rateLimitDrops, rateAboveLimit, sendFailures, clamped

        func trigger(_ m: inout BenchMeasurements) {
            switch self {
            case .sendLag:
                var lag = LatencyRecorder()
                lag.recordRaw(nanoseconds: 30_000_000)
                m.sendLag = lag
            case .generatorCPU:
                m.generatorCPUNanos = 9_500_000_000
            case .generatorDrops:
                m.generatorSocketDrops = 4
            case .rateLimitDrops:
                m.relayRateLimitDrops = 7
            case .rateAboveLimit:
                m.ratePerMember = 120
            case .sendFailures:
                m.sendFailures = 3
            case .clamped:
                m.latency.recordRaw(nanoseconds: 61_000_000_000)
            }
        }

        func atBoundary(_ m: inout BenchMeasurements) {
            switch self {
            case .sendLag:
                var lag = LatencyRecorder()
                lag.recordRaw(nanoseconds: 20_000_000)
                m.sendLag = lag
            case .generatorCPU:
                m.generatorCPUNanos = 9_000_000_000
            case .generatorDrops:
                m.generatorSocketDrops = 0
            case .rateLimitDrops:
                m.relayRateLimitDrops = nil
            case .rateAboveLimit:
                m.ratePerMember = 100
            case .sendFailures:
                m.sendFailures = 0
            case .clamped:
                m.latency.recordRaw(nanoseconds: 60_000_000_000)
            }
        }

        var message: String {
            switch self {
            case .sendLag:
                "generator-bound: send lag p99 30000.0 µs exceeds the send interval 20000.0 µs"
            case .generatorCPU:
                "generator-bound: the load generator used 95.0 % of a core"
            case .generatorDrops:
                "generator-bound: 4 datagrams dropped at the generator's full receive queues"
            case .rateLimitDrops:
                "rate-limited: 7 datagrams dropped by the relay's per-member rate limit"
            case .rateAboveLimit:
                "rate-limited?: the offered per-member rate 120/s exceeds the relay's per-member limit 100/s; "
                    + "losses are the limit, not capacity"
            case .sendFailures:
                "send failures: 3 datagrams the kernel refused"
            case .clamped:
                "clamped: 1 latency samples exceeded 60 s and were recorded as 60 s"
            }
        }
    }

    @Test("each warning is raised when its condition holds", arguments: Warning.allCases)
    func warningTriggered(_ warning: Warning) {
        var m = BenchMeasurements.fixture()
        warning.trigger(&m)
        #expect(BenchSummary(m).warnings == [warning.message])
    }

    @Test("each warning stays quiet at its boundary", arguments: Warning.allCases)
    func warningNotTriggered(_ warning: Warning) {
        var m = BenchMeasurements.fixture()
        warning.atBoundary(&m)
        #expect(BenchSummary(m).warnings.isEmpty)
    }

    @Test("at intervals under 5 ms, send lag counts as a backlog only beyond five 1 ms ticks",
          arguments: [(UInt64(4_900_000), false), (UInt64(5_100_000), true)])
    func sendLagAtHighRates(lagNanos: UInt64, warned: Bool) {
        var m = BenchMeasurements.fixture()
        m.ratePerMember = 1_000
        m.memberPacketRateLimit = nil
        var lag = LatencyRecorder()
        lag.recordRaw(nanoseconds: lagNanos)
        m.sendLag = lag
        let warnings = BenchSummary(m).warnings
        #expect(warnings.contains { $0.hasPrefix("generator-bound: send lag p99") } == warned)
        if warned {
            #expect(warnings.first?.hasSuffix("exceeds 5000.0 µs, five ticks of the generator's 1 ms clock") == true)
        }
    }

    @Test("the per-member limit warning needs a known limit")
    func unknownLimit() {
        var m = BenchMeasurements.fixture()
        m.memberPacketRateLimit = nil
        m.ratePerMember = 1_000_000
        #expect(!BenchSummary(m).warnings.contains { $0.hasPrefix("rate-limited?") })
    }

    @Test("warnings accumulate in the documented order")
    func allWarnings() {
        var m = BenchMeasurements.fixture()
        for warning in Warning.allCases {
            warning.trigger(&m)
        }
        let warnings = BenchSummary(m).warnings
        #expect(warnings.count == Warning.allCases.count)
        #expect(warnings.map { String($0.prefix(12)) } == [
            "generator-bo", "generator-bo", "generator-bo", "rate-limited", "rate-limited", "send failure", "clamped: 1 l",
        ])
    }
}
