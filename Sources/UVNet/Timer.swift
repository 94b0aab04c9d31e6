import CLibUV

/// A one-shot or repeating timer on an ``EventLoop`` (`uv_timer_t`).
///
/// Loop-bound: create and use it on its loop's thread only. A timer fires no earlier than its
/// timeout: the loop's cached clock is refreshed before every start, and timeouts round up to
/// whole milliseconds, libuv's resolution.
public final class Timer: LoopHandle {
    /// The loop that owns this timer.
    public let loop: EventLoop
    private let handle: UnsafeMutablePointer<uv_timer_t>
    private var handler: (() -> Void)?
    private var closeWhenFired = false
    /// Whether ``close()`` has been called.
    public private(set) var isClosed = false

    /// Creates a stopped timer on `loop`. Loop thread only.
    public init(loop: EventLoop) {
        loop.preconditionInEventLoop()
        self.loop = loop
        handle = UVHandle.allocate(UV_TIMER, as: uv_timer_t.self)
        uv_timer_init(loop.uvLoop, handle)
        UVHandle.attach(self, to: UVHandle.generic(handle))
    }

    /// Starts (or restarts) the timer: `handler` runs after `delay`, then every `interval` if given.
    public func start(after delay: Duration, repeating interval: Duration? = nil, _ handler: @escaping () -> Void) {
        loop.assertInEventLoop()
        guard !isClosed else { return }
        self.handler = handler
        uv_update_time(loop.uvLoop)
        uv_timer_start(handle, { handle in
            guard let data = handle?.pointee.data else { return }
            let timer = Unmanaged<Timer>.fromOpaque(data).takeUnretainedValue()
            timer.fire()
        }, Self.milliseconds(delay), interval.map(Self.milliseconds) ?? 0)
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
        if closeWhenFired { close() }
        handler()
    }

    /// Whole milliseconds, rounded up so a timer never fires early.
    static func milliseconds(_ duration: Duration) -> UInt64 {
        let (seconds, attoseconds) = duration.components
        guard seconds >= 0, attoseconds >= 0 || seconds > 0 else { return 0 }
        let nanos = Int128(seconds) * 1_000_000_000 + Int128(attoseconds / 1_000_000_000)
        let millis = (nanos + 999_999) / 1_000_000
        return UInt64(clamping: millis)
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
