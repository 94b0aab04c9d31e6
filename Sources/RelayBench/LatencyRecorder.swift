import Histogram

/// A latency distribution in nanoseconds, backed by an HdrHistogram.
///
/// The histogram discerns values from 1 ns up to ``highestTrackableNanos`` (60 s) with three
/// significant decimal digits, so every reported value is within 0.1 % of what was recorded.
/// Values above the ceiling are not dropped: they are recorded as the ceiling and counted in
/// ``clampedCount``, so a stalled relay shows up as a 60 s tail rather than as missing samples.
///
/// Keep one recorder per thread and merge them with ``add(_:)`` at the end of a run; the
/// recorder itself does no locking.
public struct LatencyRecorder: Sendable, Equatable {
    /// The highest latency, in nanoseconds, that is recorded as itself: 60 s.
    public static let highestTrackableNanos: UInt64 = 60_000_000_000

    /// The underlying histogram of nanoseconds, for output this module does not format.
    public private(set) var histogram: Histogram<UInt64>

    /// How many measured values exceeded ``highestTrackableNanos`` and were recorded as it.
    ///
    /// Synthetic samples added by coordinated-omission correction are not counted here.
    public private(set) var clampedCount: UInt64 = 0

    /// Creates an empty recorder.
    public init() {
        histogram = Histogram<UInt64>(
            lowestDiscernibleValue: 1,
            highestTrackableValue: Self.highestTrackableNanos,
            numberOfSignificantValueDigits: .three
        )
    }

    /// Records one measured latency and corrects for coordinated omission.
    ///
    /// When `nanoseconds` exceeds `expectedIntervalNanos`, HdrHistogram's
    /// `recordCorrectedValue(_:expectedInterval:)` also records the samples that datagrams
    /// planned every `expectedIntervalNanos` would have shown had the measurement not been
    /// stalled: `nanoseconds − k × expectedIntervalNanos` for every `k ≥ 1` that leaves at
    /// least `expectedIntervalNanos`.
    ///
    /// - Parameters:
    ///   - nanoseconds: The measured latency; values above ``highestTrackableNanos`` are
    ///     recorded as that ceiling and counted in ``clampedCount``.
    ///   - expectedIntervalNanos: The planned interval between the sends of one sender, i.e.
    ///     `1e9 / ratePerMember`. `0` disables the correction.
    /// - Note: The correction costs one histogram update per synthetic sample, i.e.
    ///   `nanoseconds / expectedIntervalNanos` of them. Pass the per-sender interval, not the
    ///   aggregate one. If latency is already measured from the *planned* send time
    ///   (wrk2-style), use ``recordRaw(nanoseconds:)`` instead: correcting it again would
    ///   count the stall twice.
    public mutating func record(nanoseconds: UInt64, expectedIntervalNanos: UInt64) {
        let value = clamp(nanoseconds)
        let recorded = histogram.recordCorrectedValue(value, expectedInterval: expectedIntervalNanos)
        assert(recorded, "a value clamped to the ceiling always fits")
    }

    /// Records one latency as measured, without coordinated-omission correction.
    ///
    /// - Parameter nanoseconds: The latency; values above ``highestTrackableNanos`` are
    ///   recorded as that ceiling and counted in ``clampedCount``.
    public mutating func recordRaw(nanoseconds: UInt64) {
        let value = clamp(nanoseconds)
        let recorded = histogram.record(value)
        assert(recorded, "a value clamped to the ceiling always fits")
    }

    /// Adds every sample (and the clamped count) of `other` to this recorder.
    ///
    /// - Parameter other: Another recorder, e.g. one filled on another thread.
    public mutating func add(_ other: LatencyRecorder) {
        histogram.add(other.histogram)
        clampedCount += other.clampedCount
    }

    /// The number of samples, including those added by coordinated-omission correction.
    public var count: UInt64 {
        histogram.totalCount
    }

    /// The latency at a percentile, in nanoseconds.
    ///
    /// - Parameter p: The percentile in percent, `0 ... 100` (`99.9` for p99.9).
    /// - Returns: The highest value equivalent, within the histogram's 0.1 % precision, to the
    ///   value that `p` % of samples are at or below, never above ``max``; `0` when empty.
    public func percentile(_ p: Double) -> UInt64 {
        histogram.valueAtPercentile(p)
    }

    /// The highest value recorded, exactly (after clamping), in nanoseconds; `0` when empty.
    public var max: UInt64 {
        histogram.maxRecorded
    }

    /// The mean latency in nanoseconds, from the histogram's buckets; `0` when empty.
    public var mean: Double {
        histogram.mean
    }

    private mutating func clamp(_ nanoseconds: UInt64) -> UInt64 {
        guard nanoseconds > Self.highestTrackableNanos else {
            return nanoseconds
        }
        clampedCount += 1
        return Self.highestTrackableNanos
    }
}
