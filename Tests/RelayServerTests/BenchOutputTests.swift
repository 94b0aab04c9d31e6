import Foundation
import Testing

/// What `gamerelay bench` writes where, when neither of its output streams is a terminal.
@Suite("gamerelay bench output streams (process)")
struct BenchOutputTests {
    @Test func jsonToStdoutLeavesStdoutPureJSONAndThePipesGetNoProgress() async throws {
        let bench = try RelayProcessHarness(["bench", "--sessions", "2", "--members", "2", "--duration", "1",
                                             "--warmup", "0.5", "--json", "-"])
        let status = try await bench.waitForExit(timeout: .seconds(60))
        let stderr = bench.stderrText()
        #expect(status == 0, "stderr: \(stderr)")
        let stdout = try bench.readAll()
        // Nothing but the summary: it parses as one JSON object.
        let summary = try #require(try JSONSerialization.jsonObject(with: Data(stdout.utf8)) as? [String: Any], "\(stdout)")
        #expect(summary["expected"] as? Int ?? 0 > 0, "\(summary)")
        #expect(summary["warmupSeconds"] as? Double == 0.5)
        #expect(summary["relayPeakRSSBytes"] as? Int ?? 0 > 0, "\(summary)")
        // The report went to stderr, and no progress line (no carriage return, no erase) to either.
        #expect(stderr.contains("Latency, one-way"), "\(stderr)")
        #expect(stderr.contains("MiB"), "\(stderr)")
        for text in [stdout, stderr] {
            #expect(!text.contains("\r") && !text.contains("\u{1B}["), "\(text.debugDescription)")
        }
    }
}
