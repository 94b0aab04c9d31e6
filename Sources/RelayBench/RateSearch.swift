/// Decides which offered rate to try next when looking for the highest rate a relay carries
/// with loss below a threshold (`gamerelay bench --max`).
///
/// The search doubles the rate from `start` until a run fails, then bisects between the
/// highest passing rate and the lowest failing one until they are within `precision` of each
/// other (relative to the passing rate) or `maxSteps` runs have been recorded. If `start`
/// itself fails, it halves until a run passes, then bisects the same way.
///
/// ```swift
/// var search = RateSearch(start: 1_000)
/// while let rate = search.nextRate {
///     let summary = try await runBenchmark(ratePerMember: rate)
///     search.record(rate: rate, lossPercent: summary.lossPercent)
/// }
/// print(search.best ?? 0)
/// ```
///
/// The type is pure: it runs nothing and reads no clock.
public struct RateSearch: Sendable {
    /// The first rate tried.
    public let start: Double
    /// A run passes when its loss, in percent, is strictly below this.
    public let lossThreshold: Double
    /// The search ends when `(lowest failing − best) / best` is at most this.
    public let precision: Double
    /// The search ends after this many recorded runs.
    public let maxSteps: Int

    /// Every recorded run, in order.
    public private(set) var history: [(rate: Double, lossPercent: Double)] = []

    /// Creates a search.
    ///
    /// - Parameters:
    ///   - start: The first rate to try; must be positive.
    ///   - lossThreshold: The loss, in percent, at or above which a run fails.
    ///   - precision: The relative width of the final bracket, e.g. `0.05` for 5 %.
    ///   - maxSteps: The most runs the search asks for.
    public init(start: Double, lossThreshold: Double = 1.0, precision: Double = 0.05, maxSteps: Int = 12) {
        precondition(start > 0 && start.isFinite, "RateSearch needs a positive, finite start rate")
        self.start = start
        self.lossThreshold = lossThreshold
        self.precision = precision
        self.maxSteps = maxSteps
    }

    /// The lowest rate recorded as failing, if any.
    public var lowestFailing: Double? {
        history.filter { !passes($0.lossPercent) }.map(\.rate).min()
    }

    /// The highest rate that passed and lies below every failing rate; `nil` if none did.
    ///
    /// A passing run above a failing one (a noisy system) does not count: the result is the
    /// highest rate with no failure at or below it.
    public var best: Double? {
        let ceiling = lowestFailing ?? .infinity
        return history.filter { passes($0.lossPercent) && $0.rate < ceiling }.map(\.rate).max()
    }

    /// The rate to run next, or `nil` when the search is done.
    public var nextRate: Double? {
        guard history.count < maxSteps else {
            return nil
        }
        guard !history.isEmpty else {
            return start
        }
        let best = best
        guard let failing = lowestFailing else {
            return (best ?? start) * 2
        }
        guard let best else {
            return failing / 2
        }
        if (failing - best) / best <= precision {
            return nil
        }
        return (best + failing) / 2
    }

    /// Records the outcome of a run.
    ///
    /// - Parameters:
    ///   - rate: The rate that was run (normally the last ``nextRate``).
    ///   - lossPercent: Its loss, in percent (``BenchSummary/lossPercent``).
    public mutating func record(rate: Double, lossPercent: Double) {
        history.append((rate, lossPercent))
    }

    private func passes(_ lossPercent: Double) -> Bool {
        lossPercent < lossThreshold
    }
}
