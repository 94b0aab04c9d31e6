/// The reported figures of one receiving path (UDP or WebSocket members) in a run that mixes
/// both, derived from ``BenchPathMeasurements``: the same latency percentiles as the run's
/// own, and its delivery, so the two paths can be read side by side.
public struct BenchPathSummary: Codable, Sendable, Equatable {
    /// The members per session that receive over this path.
    public var membersPerSession: Int
    /// Deliveries to these members expected in the window.
    public var expected: UInt64
    /// Distinct deliveries these members received.
    public var delivered: UInt64
    /// `(expected − delivered) / expected × 100`, never negative; `0` when nothing was
    /// expected. In a tick run this counts superseded states too, since the relay's count of
    /// them is not split by path.
    public var lossPercent: Double
    /// One-way latency, median, in microseconds.
    public var latencyP50Micros: Double
    /// One-way latency, 90th percentile, in microseconds.
    public var latencyP90Micros: Double
    /// One-way latency, 99th percentile, in microseconds.
    public var latencyP99Micros: Double
    /// One-way latency, 99.9th percentile, in microseconds.
    public var latencyP999Micros: Double
    /// The highest one-way latency, in microseconds.
    public var latencyMaxMicros: Double
    /// The mean one-way latency, in microseconds.
    public var latencyMeanMicros: Double
    /// Latency samples, including those added by coordinated-omission correction.
    public var latencySamples: UInt64

    /// Derives the figures of one path.
    ///
    /// - Parameter m: What the generator counted for the path.
    public init(_ m: BenchPathMeasurements) {
        membersPerSession = m.membersPerSession
        expected = m.expected
        delivered = m.delivered
        let missing = m.expected > m.delivered ? m.expected - m.delivered : 0
        lossPercent = m.expected == 0 ? 0 : Double(missing) / Double(m.expected) * 100
        latencyP50Micros = Double(m.latency.percentile(50)) / 1_000
        latencyP90Micros = Double(m.latency.percentile(90)) / 1_000
        latencyP99Micros = Double(m.latency.percentile(99)) / 1_000
        latencyP999Micros = Double(m.latency.percentile(99.9)) / 1_000
        latencyMaxMicros = Double(m.latency.max) / 1_000
        latencyMeanMicros = m.latency.mean / 1_000
        latencySamples = m.latency.count
    }
}
