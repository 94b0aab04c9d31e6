/// A token bucket refilled from an injected monotonic clock, so limits are
/// deterministic under test and cost no syscall or allocation per packet.
public struct TokenBucket: Hashable, Sendable {
    // Absorbs rounding in `elapsed * rate / 1e9`, so a bucket refilled for exactly
    // the time one token takes is seen to hold that token.
    private static let tolerance = 1e-9

    /// Tokens added per second.
    public let ratePerSecond: Double
    /// The most tokens the bucket holds.
    public let burst: Double
    /// The tokens held as of ``lastRefillNanos``; negative after an over-``take(_:nowNanos:)``.
    public private(set) var tokens: Double
    /// The clock reading the bucket was last refilled at.
    public private(set) var lastRefillNanos: UInt64

    /// Creates a full bucket.
    ///
    /// - Parameters:
    ///   - ratePerSecond: Tokens added per second; must be ≥ 0.
    ///   - burst: Capacity; must be ≥ 0.
    ///   - nowNanos: The current reading of the monotonic clock, in nanoseconds.
    public init(ratePerSecond: Double, burst: Double, nowNanos: UInt64) {
        precondition(ratePerSecond >= 0 && burst >= 0, "TokenBucket needs a non-negative rate and burst")
        self.ratePerSecond = ratePerSecond
        self.burst = burst
        self.tokens = burst
        self.lastRefillNanos = nowNanos
    }

    /// The tokens the bucket would hold at `nowNanos`.
    ///
    /// A clock reading earlier than the last one adds nothing, so a misbehaving
    /// clock can never mint tokens.
    public func available(nowNanos: UInt64) -> Double {
        guard nowNanos > lastRefillNanos else { return tokens }
        let refill = Double(nowNanos - lastRefillNanos) * ratePerSecond / 1e9
        return min(burst, tokens + refill)
    }

    /// Whether `amount` tokens can be taken at `nowNanos`.
    public func hasRoom(for amount: Double, nowNanos: UInt64) -> Bool {
        available(nowNanos: nowNanos) + Self.tolerance >= amount
    }

    /// Refills up to `nowNanos`, then removes `amount` tokens.
    ///
    /// Callers check ``hasRoom(for:nowNanos:)`` first; taking more than is held
    /// leaves a debt that later refills must pay off.
    public mutating func take(_ amount: Double, nowNanos: UInt64) {
        refill(nowNanos: nowNanos)
        tokens -= amount
    }

    /// Takes `amount` tokens if there is room.
    ///
    /// - Returns: Whether the tokens were taken.
    public mutating func tryTake(_ amount: Double, nowNanos: UInt64) -> Bool {
        refill(nowNanos: nowNanos)
        guard tokens + Self.tolerance >= amount else { return false }
        tokens -= amount
        return true
    }

    private mutating func refill(nowNanos: UInt64) {
        guard nowNanos > lastRefillNanos else { return }
        tokens = available(nowNanos: nowNanos)
        lastRefillNanos = nowNanos
    }
}
