import Testing

@testable import RelayWire

@Suite struct TokenBucketTests {
    static let second: UInt64 = 1_000_000_000
    static let start: UInt64 = 5 * second

    @Test func startsFull() {
        let bucket = TokenBucket(ratePerSecond: 10, burst: 20, nowNanos: Self.start)
        #expect(bucket.available(nowNanos: Self.start) == 20)
        #expect(bucket.hasRoom(for: 20, nowNanos: Self.start))
        #expect(!bucket.hasRoom(for: 20.5, nowNanos: Self.start))
    }

    @Test func hasRoomDoesNotTake() {
        let bucket = TokenBucket(ratePerSecond: 10, burst: 1, nowNanos: Self.start)
        #expect(bucket.hasRoom(for: 1, nowNanos: Self.start))
        #expect(bucket.hasRoom(for: 1, nowNanos: Self.start))
    }

    @Test func drainsThenRefillsAtTheRate() {
        var bucket = TokenBucket(ratePerSecond: 240, burst: 240, nowNanos: Self.start)
        for _ in 0..<240 {
            #expect(bucket.hasRoom(for: 1, nowNanos: Self.start))
            bucket.take(1, nowNanos: Self.start)
        }
        #expect(!bucket.hasRoom(for: 1, nowNanos: Self.start))
        let oneToken = Self.second / 240
        #expect(!bucket.hasRoom(for: 1, nowNanos: Self.start + oneToken - 1000))
        #expect(bucket.hasRoom(for: 1, nowNanos: Self.start + oneToken + 1))
        #expect(bucket.hasRoom(for: 240, nowNanos: Self.start + Self.second))
        #expect(!bucket.hasRoom(for: 241, nowNanos: Self.start + 100 * Self.second))
    }

    @Test func refillIsCappedAtBurst() {
        var bucket = TokenBucket(ratePerSecond: 100, burst: 50, nowNanos: 0)
        bucket.take(50, nowNanos: 0)
        #expect(bucket.available(nowNanos: 10 * Self.second) == 50)
        #expect(bucket.available(nowNanos: .max) == 50)
    }

    @Test func takingRefillsFirst() {
        var bucket = TokenBucket(ratePerSecond: 10, burst: 10, nowNanos: 0)
        bucket.take(10, nowNanos: 0)
        bucket.take(5, nowNanos: Self.second / 2)
        #expect(bucket.tokens == 0)
        #expect(bucket.lastRefillNanos == Self.second / 2)
    }

    @Test func clockGoingBackwardsAddsNothing() {
        var bucket = TokenBucket(ratePerSecond: 10, burst: 10, nowNanos: Self.start)
        bucket.take(10, nowNanos: Self.start)
        #expect(bucket.available(nowNanos: 0) == 0)
        bucket.take(0, nowNanos: 0)
        #expect(bucket.lastRefillNanos == Self.start)
        #expect(bucket.available(nowNanos: Self.start + Self.second) == 10)
    }

    @Test func overTakingLeavesDebt() {
        var bucket = TokenBucket(ratePerSecond: 10, burst: 10, nowNanos: 0)
        bucket.take(15, nowNanos: 0)
        #expect(bucket.tokens == -5)
        #expect(!bucket.hasRoom(for: 1, nowNanos: Self.second / 2))
        #expect(bucket.hasRoom(for: 1, nowNanos: Self.second / 2 + Self.second / 10))
    }

    @Test func tryTakeTakesOnlyWithRoom() {
        var bucket = TokenBucket(ratePerSecond: 1, burst: 2, nowNanos: 0)
        #expect(bucket.tryTake(2, nowNanos: 0) == true)
        #expect(bucket.tryTake(1, nowNanos: 0) == false)
        #expect(bucket.tokens == 0)
        #expect(bucket.tryTake(1, nowNanos: Self.second) == true)
    }

    @Test func zeroRateNeverRefills() {
        var bucket = TokenBucket(ratePerSecond: 0, burst: 3, nowNanos: 0)
        bucket.take(3, nowNanos: 0)
        #expect(!bucket.hasRoom(for: 1, nowNanos: .max))
    }

    @Test func fractionalRefillAccumulatesAcrossManySmallSteps() {
        var bucket = TokenBucket(ratePerSecond: 1000, burst: 1000, nowNanos: 0)
        bucket.take(1000, nowNanos: 0)
        var now: UInt64 = 0
        var admitted = 0
        for _ in 0..<10_000 {
            now += 100_000  // 0.1 ms: a tenth of a token each step
            if bucket.tryTake(1, nowNanos: now) { admitted += 1 }
        }
        #expect(admitted == 1000)
    }
}
