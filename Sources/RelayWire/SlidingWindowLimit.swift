/// At most ten events in any window of a given length: the limit on cookie-carrying BIND_ACKs
/// of PROTOCOL.md §2.2 ("at most 10 per second go out per member").
///
/// Unlike a token bucket, which lets a full bucket plus its refill through in one window, this
/// remembers the last ten event times, so no window of `windowNanos` ever holds more than ten.
/// Fixed-size inline storage: no allocation.
public struct SlidingWindowLimit: Sendable {
    /// The most events allowed in one window.
    public static let capacity = 10
    /// The window length in nanoseconds.
    public let windowNanos: UInt64
    private var times: InlineArray<10, UInt64> = .init(repeating: 0)
    private var used = 0
    private var oldest = 0

    /// Creates an empty limit with windows of `windowNanos`.
    public init(windowNanos: UInt64) {
        self.windowNanos = windowNanos
    }

    /// Records an event at `nowNanos` if the window has room; returns whether it did.
    public mutating func tryRecord(nowNanos: UInt64) -> Bool {
        if used < Self.capacity {
            times[(oldest + used) % Self.capacity] = nowNanos
            used += 1
            return true
        }
        // Full: the oldest of the last ten must have left the window.
        guard nowNanos &- times[oldest] >= windowNanos else { return false }
        times[oldest] = nowNanos
        oldest = (oldest + 1) % Self.capacity
        return true
    }
}
