import RelayWire
import Testing

@Suite struct SlidingWindowLimitTests {
    static let second: UInt64 = 1_000_000_000

    @Test func tenPerWindowThenRefusesUntilTheOldestLeaves() {
        var limit = SlidingWindowLimit(windowNanos: Self.second)
        let start: UInt64 = 5 * Self.second
        for index in 0..<10 { #expect(limit.tryRecord(nowNanos: start + UInt64(index) * 1_000_000)) }
        #expect(!limit.tryRecord(nowNanos: start + 10_000_000))
        #expect(!limit.tryRecord(nowNanos: start + Self.second - 1))
        #expect(limit.tryRecord(nowNanos: start + Self.second))
        #expect(!limit.tryRecord(nowNanos: start + Self.second))
        #expect(limit.tryRecord(nowNanos: start + Self.second + 1_000_000))
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
