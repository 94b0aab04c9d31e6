import RelayWire
import Testing

@Suite struct SlidingWindowLimitTests {
    static let second: UInt64 = 1_000_000_000

    @Test func tenPerWindowThenRefusesUntilTheOldestLeaves() {
        var limit = SlidingWindowLimit(windowNanos: Self.second)
        func record(_ now: UInt64) -> Bool { limit.tryRecord(nowNanos: now) }
        let start: UInt64 = 5 * Self.second
        let first = (0..<10).map { record(start + UInt64($0) * 1_000_000) }
        #expect(first == Array(repeating: true, count: 10))
        let later = [record(start + 10_000_000), record(start + Self.second - 1), record(start + Self.second),
                     record(start + Self.second), record(start + Self.second + 1_000_000)]
        #expect(later == [false, false, true, false, true])
    }

    @Test func noOneSecondWindowEverHoldsMoreThanTen() {
        // A steady 50 per second for five seconds: count what each one-second window let through.
        var limit = SlidingWindowLimit(windowNanos: Self.second)
        var accepted: [UInt64] = []
        for step in 0..<250 {
            let now = UInt64(step) * 20_000_000
            if limit.tryRecord(nowNanos: now) { accepted.append(now) }
        }
        for (index, time) in accepted.enumerated() {
            let inWindow = accepted[index...].prefix { $0 < time + Self.second }.count
            #expect(inWindow <= 10)
        }
        #expect(accepted.count >= 48 && accepted.count <= 50)
    }
}
