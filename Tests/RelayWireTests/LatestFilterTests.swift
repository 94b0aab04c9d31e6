import Testing

@testable import RelayWire

@Suite struct LatestFilterTests {
    @Test func nothingIsStaleBeforeTheFirst() {
        let filter = LatestFilter()
        #expect(filter.newest == nil)
        #expect(!filter.isStale(0))
        #expect(!filter.isStale(0xFFFF_FFFF))
    }

    @Test func olderIsStaleEqualAndNewerAreNot() {
        var filter = LatestFilter()
        filter.record(100)
        #expect(filter.isStale(99))
        #expect(filter.isStale(100 &- 0x7FFF_FFFF))
        #expect(!filter.isStale(100))
        #expect(!filter.isStale(101))
        #expect(!filter.isStale(100 &+ 0x7FFF_FFFF))
    }

    @Test func olderBeyondAnyWindowIsStillStale() {
        var filter = LatestFilter()
        filter.record(1_000_000)
        #expect(filter.isStale(1))
    }

    @Test func recordKeepsTheNewest() {
        var filter = LatestFilter()
        filter.record(10)
        filter.record(5)
        #expect(filter.newest == 10)
        filter.record(11)
        #expect(filter.newest == 11)
        #expect(filter.isStale(10))
    }

    @Test func wrapsAroundZero() {
        var filter = LatestFilter()
        filter.record(0xFFFF_FFF0)
        #expect(!filter.isStale(3))
        filter.record(3)
        #expect(filter.isStale(0xFFFF_FFFF))
        #expect(filter.newest == 3)
    }

    @Test func halfwayAroundIsNotStaleAndReplaces() {
        var filter = LatestFilter()
        filter.record(0)
        #expect(!filter.isStale(0x8000_0000))
        filter.record(0x8000_0000)
        #expect(filter.newest == 0x8000_0000)
    }
}
