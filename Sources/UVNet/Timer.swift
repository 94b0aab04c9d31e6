import CLibUV

/// A one-shot or repeating timer on an ``EventLoop`` (`uv_timer_t`).
///
/// Loop-bound: create and use it on its loop's thread only. A timer fires no earlier than its
/// delay, measured with the real monotonic clock (``MonotonicClock``, never the loop's
/// injected ``ManualClock``: timers run on real time). libuv alone does not promise that: its clock
/// counts whole milliseconds, truncated (and on kernels whose `CLOCK_MONOTONIC_COARSE` ticks
/// every millisecond, coarse as well), so a timer started late in one millisecond could fire
/// up to two milliseconds early. The first firing is therefore checked against the precise
/// clock and re-armed for the remainder when early. Repeats then follow every `interval` on
/// libuv's millisecond clock.
public final class Timer: LoopHandle {
    /// The loop that owns this timer.
    public let loop: EventLoop
    private let handle: UnsafeMutablePointer<uv_timer_t>
    private var handler: (() -> Void)?
    private var closeWhenFired = false
    /// `uv_hrtime()` before which the pending first firing would be early; 0 once it has fired.
    private var earliest: UInt64 = 0
    private var repeatMillis: UInt64 = 0
    /// Whether ``close()`` has been called.
    public private(set) var isClosed = false

    /// Creates a stopped timer on `loop`. Loop thread only.
    public init(loop: EventLoop) {
        loop.preconditionInEventLoop()
        self.loop = loop
        handle = UVHandle.allocate(UV_TIMER, as: uv_timer_t.self)
        let rc = uv_timer_init(loop.uvLoop, handle)
        precondition(rc == 0, "uv_timer_init failed: \(rc)")
        UVHandle.attach(self, to: UVHandle.generic(handle))
    }

    /// Starts (or restarts) the timer: `handler` runs after `delay`, then every `interval` if given.
    public func start(after delay: Duration, repeating interval: Duration? = nil, _ handler: @escaping () -> Void) {
        loop.assertInEventLoop()
        guard !isClosed else { return }
        self.handler = handler
        repeatMillis = interval.map(Self.milliseconds) ?? 0
        let (deadline, overflow) = uv_hrtime().addingReportingOverflow(Self.nanoseconds(delay))
        earliest = overflow ? .max : max(1, deadline)
        arm(Self.milliseconds(delay))
    }

    private func arm(_ millis: UInt64) {
        uv_update_time(loop.uvLoop)
        let rc = uv_timer_start(handle, { handle in
            guard let data = handle?.pointee.data else { return }
            let timer = Unmanaged<Timer>.fromOpaque(data).takeUnretainedValue()
            timer.fire()
        }, millis, repeatMillis)
        // uv_timer_start fails only on a closing handle, which `isClosed` already rules out.
        assert(rc == 0, "uv_timer_start failed: \(rc)")
    }

    /// Stops the timer; it can be started again.
    public func stop() {
        loop.assertInEventLoop()
        guard !isClosed else { return }
        uv_timer_stop(handle)
    }

    /// Stops the timer and releases it; it can't be used again.
    public func close() {
        loop.assertInEventLoop()
        guard !isClosed else { return }
        isClosed = true
        handler = nil
        UVHandle.close(UVHandle.generic(handle))
    }

    func closeForShutdown() { close() }

    private func fire() {
        guard let handler else { return }
        if earliest != 0 {
            let now = uv_hrtime()
            if now < earliest {
                // Early by libuv's millisecond clock: wait out the rest (at most 2 ms).
                arm((earliest - now + 999_999) / 1_000_000)
                return
            }
            earliest = 0
        }
        if closeWhenFired { close() }
        handler()
    }

    /// Whole milliseconds, rounded up so a timer never fires early.
    static func milliseconds(_ duration: Duration) -> UInt64 {
        let millis = (Int128(nanoseconds(duration)) + 999_999) / 1_000_000
        return UInt64(clamping: millis)
    }

    /// Whole nanoseconds, rounded up; 0 for negative durations.
    static func nanoseconds(_ duration: Duration) -> UInt64 {
        let (seconds, attoseconds) = duration.components
        guard seconds >= 0, attoseconds >= 0 || seconds > 0 else { return 0 }
        let nanos = Int128(seconds) * 1_000_000_000 + (Int128(attoseconds) + 999_999_999) / 1_000_000_000
        return UInt64(clamping: nanos)
    }

    fileprivate func arm(after delay: Duration, _ handler: @escaping () -> Void) {
        closeWhenFired = true
        start(after: delay, handler)
    }
}

extension EventLoop {
    /// Runs `body` once after `delay`; the returned timer closes itself after firing, and
    /// closing it earlier cancels the call. Loop thread only.
    @discardableResult
    public func schedule(after delay: Duration, _ body: @escaping () -> Void) -> Timer {
        let timer = Timer(loop: self)
        timer.arm(after: delay, body)
        return timer
    }
}
