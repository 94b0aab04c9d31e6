import Histogram
import RelayBench
import Testing

@Suite("LatencyRecorder")
struct LatencyRecorderTests {
    /// `value` is within the histogram's three-digit precision of `expected`.
    private func close(_ value: UInt64, _ expected: UInt64) -> Bool {
        let difference = value > expected ? value - expected : expected - value
        return Double(difference) <= Double(expected) * 0.001
    }

    private func uniform() -> LatencyRecorder {
        var recorder = LatencyRecorder()
        for micros in UInt64(1) ... 10_000 {
            recorder.recordRaw(nanoseconds: micros * 1_000)
        }
        return recorder
    }

    @Test("uniform 1 … 10000 µs gives the expected percentiles")
    func uniformPercentiles() {
        let recorder = uniform()
        #expect(recorder.count == 10_000)
        #expect(close(recorder.percentile(50), 5_000_000))
        #expect(close(recorder.percentile(90), 9_000_000))
        #expect(close(recorder.percentile(99), 9_900_000))
        #expect(close(recorder.percentile(99.9), 9_990_000))
        #expect(recorder.percentile(100) == 10_000_000)
        #expect(recorder.max == 10_000_000)
        #expect(abs(recorder.mean - 5_000_500) <= 5_000_500 * 0.001)
    }

    @Test("a constant value is every percentile")
    func constant() {
        var recorder = LatencyRecorder()
        for _ in 0 ..< 1_000 {
            recorder.recordRaw(nanoseconds: 42_000)
        }
        for p in [0.0, 50, 90, 99, 99.9, 100] {
            #expect(recorder.histogram.valuesAreEquivalent(recorder.percentile(p), 42_000))
            #expect(recorder.percentile(p) <= 42_000)
        }
        #expect(recorder.max == 42_000)
        #expect(close(UInt64(recorder.mean), 42_000))
    }

    @Test("an empty recorder reads zero")
    func empty() {
        let recorder = LatencyRecorder()
        #expect(recorder.count == 0)
        #expect(recorder.percentile(99) == 0)
        #expect(recorder.max == 0)
        #expect(recorder.mean == 0)
        #expect(recorder.clampedCount == 0)
    }

    @Test("corrected recording adds value − k × interval for every k leaving at least the interval")
    func correctedSyntheticSamples() {
        var recorder = LatencyRecorder()
        recorder.record(nanoseconds: 10_500, expectedIntervalNanos: 1_000)

        var expected = Histogram<UInt64>(lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000_000, numberOfSignificantValueDigits: .three)
        for value in stride(from: UInt64(10_500), through: 1_500, by: -1_000) {
            expected.record(value)
        }
        #expect(recorder.count == 10)
        #expect(recorder.histogram == expected)
        #expect(recorder.histogram.min == 1_500)
        #expect(recorder.max == 10_500)
    }

    @Test("no synthetic samples at or below the interval, or with no interval",
          arguments: [(UInt64(1_000), UInt64(1_000)), (999, 1_000), (50_000, 0)])
    func correctedWithoutBackfill(value: UInt64, interval: UInt64) {
        var recorder = LatencyRecorder()
        recorder.record(nanoseconds: value, expectedIntervalNanos: interval)
        #expect(recorder.count == 1)
        #expect(recorder.max == value)
    }

    @Test("values above 60 s are clamped and counted, not dropped")
    func clamping() {
        var recorder = LatencyRecorder()
        recorder.recordRaw(nanoseconds: 61_000_000_000)
        recorder.recordRaw(nanoseconds: .max)
        recorder.recordRaw(nanoseconds: 60_000_000_000)
        #expect(recorder.count == 3)
        #expect(recorder.clampedCount == 2)
        #expect(recorder.max == LatencyRecorder.highestTrackableNanos)

        var corrected = LatencyRecorder()
        corrected.record(nanoseconds: 90_000_000_000, expectedIntervalNanos: 10_000_000_000)
        // Clamped to 60 s, then 50, 40, 30, 20, 10 s are backfilled.
        #expect(corrected.count == 6)
        #expect(corrected.clampedCount == 1)
        #expect(corrected.histogram.min == 10_000_000_000)
    }

    @Test("add merges samples and clamped counts")
    func merge() {
        var first = LatencyRecorder()
        var second = LatencyRecorder()
        var both = LatencyRecorder()
        for value in UInt64(1) ... 500 {
            first.recordRaw(nanoseconds: value * 3_000)
            both.recordRaw(nanoseconds: value * 3_000)
        }
        for value in UInt64(1) ... 300 {
            second.record(nanoseconds: value * 7_000, expectedIntervalNanos: 100_000)
            both.record(nanoseconds: value * 7_000, expectedIntervalNanos: 100_000)
        }
        second.recordRaw(nanoseconds: 70_000_000_000)
        both.recordRaw(nanoseconds: 70_000_000_000)

        first.add(second)
        #expect(first == both)
        #expect(first.count == both.count)
        #expect(first.clampedCount == 1)
        #expect(first.max == LatencyRecorder.highestTrackableNanos)
    }
}
