import Synchronization

/// A monotonic clock that moves only when told to, so tests can make time pass for an
/// ``EventLoop`` without waiting for it.
///
/// Give one to ``EventLoop/init(name:clock:)``; ``EventLoop/now`` then reads it. Any thread may
/// read or move it.
public final class ManualClock: Sendable {
    private let reading: Atomic<UInt64>

    /// Creates a clock reading `nanoseconds`; the default of one second leaves room below it for
    /// code that subtracts an interval from the start time.
    public init(nanoseconds: UInt64 = 1_000_000_000) {
        reading = Atomic(nanoseconds)
    }

    /// The current reading in nanoseconds.
    public var nanoseconds: UInt64 {
        // Relaxed: the reading is the only state; handing work to a loop orders it with the rest.
        reading.load(ordering: .relaxed)
    }

    /// Moves the clock forward by `duration`, rounded down to whole nanoseconds.
    ///
    /// - Note: A negative duration is a programming error: a monotonic clock never goes back.
    public func advance(by duration: Duration) {
        let (seconds, attoseconds) = duration.components
        precondition(seconds >= 0 && attoseconds >= 0, "a monotonic clock can't go back (advance by \(duration))")
        let nanos = UInt64(seconds) * 1_000_000_000 + UInt64(attoseconds / 1_000_000_000)
        reading.wrappingAdd(nanos, ordering: .relaxed)
    }

    /// Sets the reading to `nanoseconds`, for a test that needs an exact value; keeping the
    /// clock monotonic is then up to the test.
    public func set(nanoseconds: UInt64) {
        reading.store(nanoseconds, ordering: .relaxed)
    }
}
