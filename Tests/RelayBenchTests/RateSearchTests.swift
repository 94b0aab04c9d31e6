import RelayBench
import Testing

@Suite("RateSearch")
struct RateSearchTests {
    /// A system that carries up to `capacity` datagrams per second and loses 5 % above.
    private func loss(at rate: Double, capacity: Double = 37_000) -> Double {
        rate <= capacity ? 0 : 5
    }

    private func run(_ search: inout RateSearch, capacity: Double = 37_000) {
        while let rate = search.nextRate {
            search.record(rate: rate, lossPercent: loss(at: rate, capacity: capacity))
            if search.history.count > 1_000 {
                Issue.record("the search does not end")
                return
            }
        }
    }

    @Test("converges on the capacity within the precision",
          arguments: [1_000.0, 500, 37_000, 36_999, 100_000, 1_000_000], [0.05, 0.01])
    func converges(start: Double, precision: Double) throws {
        var search = RateSearch(start: start, precision: precision, maxSteps: 40)
        run(&search)
        let best = try #require(search.best)
        let failing = try #require(search.lowestFailing)
        #expect(best <= 37_000)
        #expect(failing > 37_000)
        #expect((failing - best) / best <= precision)
        #expect((37_000 - best) / best <= precision)
        #expect(search.history.count < 40)
    }

    @Test("with the defaults, starting at 1000/s, it converges within 12 steps")
    func defaults() throws {
        var search = RateSearch(start: 1_000)
        run(&search)
        #expect(search.history.count <= 12)
        let best = try #require(search.best)
        #expect(best <= 37_000 && (37_000 - best) / best <= 0.05)
    }

    @Test("doubles until the first failure, then bisects")
    func sequenceOfRates() {
        var search = RateSearch(start: 10_000)
        run(&search)
        #expect(search.history.map(\.rate) == [10_000, 20_000, 40_000, 30_000, 35_000, 37_500, 36_250])
        #expect(search.best == 36_250)
        #expect(search.lowestFailing == 37_500)
    }

    @Test("loss equal to the threshold fails")
    func thresholdIsStrict() {
        var search = RateSearch(start: 1_000)
        search.record(rate: 1_000, lossPercent: 1.0)
        #expect(search.best == nil)
        #expect(search.nextRate == 500)
        search.record(rate: 500, lossPercent: 0.99)
        #expect(search.best == 500)
        #expect(search.nextRate == 750)
    }

    @Test("stops after maxSteps when nothing ever fails")
    func neverFails() {
        var search = RateSearch(start: 1, maxSteps: 5)
        run(&search, capacity: .infinity)
        #expect(search.history.map(\.rate) == [1, 2, 4, 8, 16])
        #expect(search.best == 16)
        #expect(search.nextRate == nil)
    }

    @Test("reports no best rate when nothing ever passes")
    func neverPasses() {
        var search = RateSearch(start: 1_000, maxSteps: 4)
        run(&search, capacity: 0)
        #expect(search.history.map(\.rate) == [1_000, 500, 250, 125])
        #expect(search.best == nil)
        #expect(search.nextRate == nil)
    }

    @Test("a pass above a failure does not count as the best rate")
    func noisySystem() {
        var search = RateSearch(start: 40_000)
        search.record(rate: 40_000, lossPercent: 0)
        search.record(rate: 80_000, lossPercent: 5)
        search.record(rate: 30_000, lossPercent: 5)
        #expect(search.best == nil)
        #expect(search.nextRate == 15_000)
        search.record(rate: 15_000, lossPercent: 0)
        #expect(search.best == 15_000)
        #expect(search.nextRate == 22_500)
    }
}
