import CLibUV

/// The process's monotonic clock, for code that has no ``EventLoop`` to ask for the time.
///
/// Code that runs on a loop reads ``EventLoop/now`` instead, so a test can give the loop a
/// ``ManualClock``.
public enum MonotonicClock {
    /// Nanoseconds since an arbitrary fixed point (`uv_hrtime`, Linux's `CLOCK_MONOTONIC`); never
    /// goes backwards and does not follow changes to the wall clock.
    public static var nanoseconds: UInt64 { uv_hrtime() }
}
