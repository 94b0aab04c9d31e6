@testable import gamerelay
import RelayBench
import Testing

@Suite("bench --profile: what the profile sets and what overrides it")
struct BenchProfileTests {
    @Test func positionsIsTheDefaultAndKeepsTheFormerWorkload() throws {
        let workload = try BenchCommand.parse([]).workload
        #expect(workload.profile.name == .positions)
        #expect(workload.profile.rate == 30)
        #expect(workload.profile.payload == .fixed(100))
        #expect(workload.sessions == 50 && workload.members == 8)
        #expect(!workload.segmentedSends)
        #expect(try BenchCommand.parse(["--profile", "positions"]).workload.profile == .positions)
    }

    @Test func voiceIsFiftyFramesASecondOfSixtyToOneHundredSixtyBytes() throws {
        let workload = try BenchCommand.parse(["--profile", "voice"]).workload
        #expect(workload.profile.name == .voice)
        #expect(workload.profile.rate == 50)
        #expect(workload.profile.payload.range == 60 ... 160)
        #expect(!workload.profile.payload.isFixed)
        #expect(!workload.segmentedSends)
    }

    @Test func rateAndPayloadOverrideTheProfileAndTheOtherFlagsStillApply() throws {
        let workload = try BenchCommand.parse(["--profile", "voice", "--rate", "25", "--payload", "80",
                                               "--sessions", "3", "--members", "4", "--duration", "2"]).workload
        #expect(workload.profile.name == .voice)
        #expect(workload.profile.rate == 25)
        #expect(workload.profile.payload == .fixed(80))
        #expect(workload.sessions == 3 && workload.members == 4 && workload.duration == .seconds(2))
        let ranged = try BenchCommand.parse(["--payload", "40-60"]).workload
        #expect(ranged.profile.name == .positions && ranged.profile.payload.range == 40 ... 60)
    }

    @Test func varyingSizesRuleOutSegmentedSendsAndMaxThenSendsOneByOne() throws {
        #expect(throws: (any Error).self) { try BenchCommand.parse(["--profile", "voice", "--segmented-sends"]) }
        #expect(try !BenchCommand.parse(["--profile", "voice", "--max"]).workload.segmentedSends)
        #expect(try BenchCommand.parse(["--profile", "voice", "--payload", "100", "--segmented-sends"]).workload.segmentedSends)
        #expect(try BenchCommand.parse(["--max"]).workload.segmentedSends)
    }

    @Test(arguments: [["--payload", "160-60"], ["--payload", "8-100"], ["--payload", "100-2000"], ["--payload", "big"],
                      ["--profile", "music"], ["--profile", "voice", "--connections", "10"]])
    func badTrafficFlagsAreRefused(arguments: [String]) {
        #expect(throws: (any Error).self) { try BenchCommand.parse(arguments) }
    }

    @Test func theCaptionCarriesJitterAndTheHostCounters() {
        var measurements = BenchMeasurements(
            sessions: 1, members: 2, payloadBytes: 60, ratePerMember: 50, fanout: 1, durationSeconds: 1, warmupSeconds: 0,
            target: "in-process", sent: 0, expected: 0, delivered: 0, duplicates: 0, reordered: 0, sendFailures: 0,
            latency: LatencyRecorder(), sendLag: LatencyRecorder(), generatorCPUNanos: 0,
            streamJitterNanos: [1_500, 2_500], startedAt: "", hardware: "")
        #expect(BenchCommand.plotCaption(BenchSummary(measurements)) == "RFC 3550 jitter over 2 streams: p50 1.5 µs, p99 2.5 µs")
        measurements.hostUDPErrors = UDPCounters(receiveBufferErrors: 3, inErrors: 4)
        #expect(BenchCommand.plotCaption(BenchSummary(measurements))
            == "RFC 3550 jitter over 2 streams: p50 1.5 µs, p99 2.5 µs; host UDP RcvbufErrors +3, InErrors +4 (host-wide)")
    }
}
