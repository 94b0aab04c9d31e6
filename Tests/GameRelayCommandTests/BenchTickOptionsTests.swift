@testable import gamerelay
import Testing

@Suite("bench --tick and --relay-metrics: what they set and what they refuse")
struct BenchTickOptionsTests {
    @Test func tickReachesTheWorkloadAndKeepsSendsOneByOne() throws {
        #expect(try BenchCommand.parse([]).workload.tick == nil)
        let workload = try BenchCommand.parse(["--tick", "30"]).workload
        #expect(workload.tick == 30)
        #expect(!workload.segmentedSends)
        // --max turns segmented sends on, except in tick runs: they would not set LATEST.
        #expect(try BenchCommand.parse(["--max"]).workload.segmentedSends)
        #expect(try !BenchCommand.parse(["--max", "--tick", "30"]).workload.segmentedSends)
        #expect(try BenchCommand.parse(["--tick", "30"]).workload.latest)
    }

    @Test func latestAloneSetsTheFlagWithoutTicks() throws {
        let workload = try BenchCommand.parse(["--latest", "--max"]).workload
        #expect(workload.latest && workload.tick == nil && !workload.segmentedSends)
        #expect(try !BenchCommand.parse([]).workload.latest)
    }

    @Test(arguments: [
        ["--tick", "121"],
        ["--latest", "--segmented-sends"],
        ["--latest", "--protocol", "turn", "--relay", "127.0.0.1:3478"],
        ["--tick", "30", "--segmented-sends"],
        ["--tick", "30", "--profile", "voice", "--payload", "60-1449"],
        ["--tick", "30", "--relay-metrics", "127.0.0.1:9400"],
        ["--relay", "127.0.0.1:7400", "--tick", "30", "--relay-metrics", "https://127.0.0.1:9400/metrics"],
    ])
    func refused(arguments: [String]) {
        #expect(throws: (any Error).self) { try BenchCommand.parse(arguments) }
    }

    @Test func metricsURLsTakeAHostPortAndAPath() throws {
        let full = try #require(MetricsURL(argument: "http://127.0.0.1:9400/metrics"))
        #expect(full.endpoint.host == "127.0.0.1" && full.endpoint.port == 9400 && full.path == "/metrics")
        let bare = try #require(MetricsURL(argument: "[::1]:9400"))
        #expect(bare.endpoint.host == "::1" && bare.path == "/metrics")
        #expect(bare.description == "http://[::1]:9400/metrics")
        #expect(MetricsURL(argument: "http://127.0.0.1:9400/other?x=1")?.path == "/other?x=1")
        for bad in ["https://127.0.0.1:9400/metrics", "127.0.0.1", "http://:9400/", "http://127.0.0.1:9400/a b", "http://127.0.0.1:0/"] {
            #expect(MetricsURL(argument: bad) == nil, "\(bad)")
        }
    }

    @Test func aRelayThatAnswersNothingGivesNoFigure() throws {
        // Port 1 on loopback: refused at once; the figure is unknown, the run goes on.
        #expect(MetricsURL(argument: "127.0.0.1:1")?.fetch(timeout: .seconds(2)) == nil)
    }
}
