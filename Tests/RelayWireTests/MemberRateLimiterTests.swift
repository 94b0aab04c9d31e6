import Testing

@testable import RelayWire

@Suite struct MemberRateLimiterTests {
    static let second: UInt64 = 1_000_000_000

    @Test func packetBucketHoldsOneSecondOfPackets() {
        var limiter = MemberRateLimiter(packetsPerSecond: 240, bytesPerSecond: 262_144, nowNanos: 0)
        for _ in 0..<240 { #expect(limiter.admit(bytes: 100, nowNanos: 0) == true) }
        #expect(limiter.admit(bytes: 100, nowNanos: 0) == false)
        #expect(limiter.admit(bytes: 100, nowNanos: Self.second / 240 + 1) == true)
    }

    @Test func byteBucketHoldsOneSecondOfBytes() {
        var limiter = MemberRateLimiter(packetsPerSecond: 1000, bytesPerSecond: 1000, nowNanos: 0)
        #expect(limiter.admit(bytes: 600, nowNanos: 0) == true)
        #expect(limiter.admit(bytes: 401, nowNanos: 0) == false)
        #expect(limiter.admit(bytes: 400, nowNanos: 0) == true)
        #expect(limiter.admit(bytes: 1, nowNanos: 0) == false)
    }

    @Test func rejectedByBytesChargesNoPacket() {
        var limiter = MemberRateLimiter(packetsPerSecond: 2, bytesPerSecond: 100, nowNanos: 0)
        #expect(limiter.admit(bytes: 101, nowNanos: 0) == false)
        #expect(limiter.admit(bytes: 101, nowNanos: 0) == false)
        #expect(limiter.packets.tokens == 2)
        #expect(limiter.admit(bytes: 50, nowNanos: 0) == true)
        #expect(limiter.admit(bytes: 50, nowNanos: 0) == true)
    }

    @Test func rejectedByPacketsChargesNoBytes() {
        var limiter = MemberRateLimiter(packetsPerSecond: 1, bytesPerSecond: 1000, nowNanos: 0)
        #expect(limiter.admit(bytes: 10, nowNanos: 0) == true)
        #expect(limiter.admit(bytes: 10, nowNanos: 0) == false)
        #expect(limiter.bytes.tokens == 990)
    }

    @Test func bothRefillFromTheInjectedClock() {
        var limiter = MemberRateLimiter(packetsPerSecond: 10, bytesPerSecond: 100, nowNanos: 7)
        for _ in 0..<10 { #expect(limiter.admit(bytes: 10, nowNanos: 7) == true) }
        #expect(limiter.admit(bytes: 10, nowNanos: 7) == false)
        for _ in 0..<10 { #expect(limiter.admit(bytes: 10, nowNanos: 7 + Self.second) == true) }
        #expect(limiter.admit(bytes: 10, nowNanos: 7 + Self.second) == false)
    }
}
