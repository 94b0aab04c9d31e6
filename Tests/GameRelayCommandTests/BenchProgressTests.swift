@testable import gamerelay
import Testing

@Suite("bench's progress line")
struct BenchProgressTests {
    /// A run whose window opens at 10 s and ends at 20 s (monotonic), at `now` seconds.
    static func snapshot(at now: Double, sent: UInt64 = 0, expected: UInt64 = 0, delivered: UInt64 = 0,
                         running: Bool = true) -> BenchRunner.ProgressSnapshot {
        .init(now: UInt64(now * 1e9), membersReady: 120, membersTotal: 400, isRunning: running,
              measureStart: 10_000_000_000, sendEnd: 20_000_000_000, sent: sent, expected: expected, delivered: delivered)
    }

    @Test func setUpShowsTheMembersReady() {
        #expect(BenchProgress.line(Self.snapshot(at: 1, running: false), drainSeconds: 0.5) == "setting up members: 120/400")
    }

    @Test func warmUpShowsTheTimeToTheWindowAndLeftInAll() {
        #expect(BenchProgress.line(Self.snapshot(at: 8.5), drainSeconds: 0.5) == "warm-up, 1.5 s to go · 12 s left")
    }

    @Test func measuringShowsRatesLossAndTimeLeft() {
        // 4 s into the window: 48 000 sent (12 000/s), 336 000 expected, 332 640 delivered (1 % short).
        let line = BenchProgress.line(Self.snapshot(at: 14, sent: 48_000, expected: 336_000, delivered: 332_640), drainSeconds: 0.5)
        #expect(line == "4.0/10.0 s · 7 s left · offered 12000/s · delivered 83160/s · loss 1.00 %")
    }

    @Test func afterSendingItDrainsAndLossNeverGoesNegative() {
        let line = BenchProgress.line(Self.snapshot(at: 20.2, sent: 10, expected: 70, delivered: 75), drainSeconds: 0.5)
        #expect(line == "draining · 1 s left · offered 1/s · delivered 8/s · loss 0.00 %")
    }

    @Test func aRateSearchNamesItsRunAndBoundsTheRest() {
        let context = BenchProgress.Context(prefix: "run 2 of ≤ 12, 60/s per member", laterRunsSeconds: 130)
        let line = BenchProgress.line(Self.snapshot(at: 9), drainSeconds: 0.5, context: context)
        #expect(line == "run 2 of ≤ 12, 60/s per member · warm-up, 1.0 s to go · ≤ 2 min 22 s left")
    }

    @Test func durationsRoundUp() {
        #expect(BenchProgress.duration(0) == "0 s")
        #expect(BenchProgress.duration(0.2) == "1 s")
        #expect(BenchProgress.duration(59.5) == "1 min 00 s")
        #expect(BenchProgress.duration(125) == "2 min 05 s")
    }

    @Test func fractionsOfASecondCount() {
        #expect(BenchCommand.seconds(.milliseconds(500)) == 0.5)
        #expect(BenchCommand.seconds(.seconds(12)) == 12)
    }
}
