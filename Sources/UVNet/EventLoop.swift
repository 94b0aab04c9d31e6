import CLibUV
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// One libuv loop (`uv_loop_t`) and the thread that runs it.
///
/// Every socket, timer and signal watcher belongs to one loop and must only be touched on that
/// loop's thread; debug builds check this with a precondition, as SwiftNIO does. Other threads
/// hand work to the loop with ``execute(_:)`` or ``submit(_:)``, the only thread-safe entry points
/// (built on `uv_async_send`, the only thread-safe libuv call).
public final class EventLoop: @unchecked Sendable {
    // @unchecked: `uvLoop`, `spare` and the handles are touched only on the loop thread (checked with
    // `assertInEventLoop()`); the cross-thread state is behind `state` and atomics.

    /// The libuv loop. Loop thread only.
    let uvLoop: UnsafeMutablePointer<uv_loop_t>
    private let wakeup: UnsafeMutableRawPointer
    /// An idle handle which, while active, makes libuv poll for I/O without blocking; see
    /// ``keepPolling(forNanoseconds:)``. Its `data` is nil, like the wake-up handle's.
    private let poller: UnsafeMutableRawPointer
    /// Until when (the real monotonic clock) the loop polls instead of sleeping. Loop thread only.
    private var pollUntil: UInt64 = 0
    private var isPolling = false
    private let threadID = Atomic<UInt>(0)
    private let state = Locked(SharedState())
    private let exited = Locked(ExitState())
    /// The injected clock, if any; an optional and a branch in ``now``, because ``now`` is read
    /// once per datagram and a stored closure would cost an indirect call.
    private let manualClock: ManualClock?

    /// Shared receive buffer for every socket on this loop. Loop thread only; safe to share because
    /// libuv delivers each batch synchronously before it reads another socket.
    let receiveBuffer: UnsafeMutableRawBufferPointer

    /// The datagram socket whose receive batch still lends out bytes of ``receiveBuffer``, until
    /// its batch end; nil when nobody does. Loop thread only. Every reader's allocation callback
    /// asserts it is nil, since handing the buffer out again would overwrite borrowed bytes.
    var receiveBufferBorrower: ObjectIdentifier?

    private struct SharedState {
        var pending: [@Sendable () -> Void] = []
        var acceptingWork = true
        var shutdownRequested = false
    }

    private struct ExitState {
        var done = false
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    /// libuv writes to TCP with plain `write`, which raises SIGPIPE when the peer has gone; the
    /// default action would kill the process, so the first loop makes it a plain `EPIPE` error.
    private static let ignoreSIGPIPE: Void = {
        signal(SIGPIPE, SIG_IGN)
    }()

    /// The number of datagrams one `recvmmsg` call may return (libuv's maximum is 20).
    public static let receiveBatchCount = 20
    /// The per-datagram slot size libuv uses for `recvmmsg`.
    static let receiveSlotSize = 64 * 1024

    /// Starts a new loop on a new thread named `name`; returns once the thread is running.
    ///
    /// - Parameters:
    ///   - name: The thread name shown by debuggers and `top -H` (at most 15 bytes are kept).
    ///   - clock: The clock ``now`` reads; nil (the default) reads the real monotonic clock.
    ///     A test passes a ``ManualClock`` to make time pass for the loop's owners at will.
    public init(name: String = "uv-loop", clock: ManualClock? = nil) {
        Self.ignoreSIGPIPE
        manualClock = clock
        uvLoop = .allocate(capacity: 1)
        let rc = uv_loop_init(uvLoop)
        precondition(rc == 0, "uv_loop_init failed: \(rc)")
        receiveBuffer = .allocate(byteCount: Self.receiveBatchCount * Self.receiveSlotSize, alignment: 16)
        wakeup = .allocate(byteCount: uv_handle_size(UV_ASYNC), alignment: 16)
        let async = wakeup.assumingMemoryBound(to: uv_async_t.self)
        let asyncRC = uv_async_init(uvLoop, async) { handle in
            guard let loop = handle?.pointee.loop.pointee.data else { return }
            Unmanaged<EventLoop>.fromOpaque(loop).takeUnretainedValue().runPending()
        }
        // Fails only for invalid arguments: a programming error, not a runtime condition.
        precondition(asyncRC == 0, "uv_async_init failed: \(asyncRC)")
        async.pointee.data = nil
        poller = .allocate(byteCount: uv_handle_size(UV_IDLE), alignment: 16)
        let idle = poller.assumingMemoryBound(to: uv_idle_t.self)
        let idleRC = uv_idle_init(uvLoop, idle)
        precondition(idleRC == 0, "uv_idle_init failed: \(idleRC)")
        // nil data: closed with the wake-up handle at shutdown, freed when the loop thread exits.
        idle.pointee.data = nil
        uvLoop.pointee.data = Unmanaged.passUnretained(self).toOpaque()

        let start = ThreadStart(loop: self, name: name)
        let box = Unmanaged.passRetained(start).toOpaque()
        var tid = pthread_t()
        let created = pthread_create(&tid, nil, { arg in
            let start = Unmanaged<ThreadStart>.fromOpaque(arg!).takeRetainedValue()
            start.loop.threadMain(start)
            return nil
        }, box)
        precondition(created == 0, "pthread_create failed: \(created)")
        pthread_detach(tid)
        // The creator must not return before the loop thread has published its id, or an early
        // `inEventLoop` check could read 0.
        start.ready.wait { $0 ? () : nil }
    }

    private final class ThreadStart: Sendable {
        let loop: EventLoop
        let name: String
        let ready = Locked(false)
        init(loop: EventLoop, name: String) {
            self.loop = loop
            self.name = name
        }
    }

    private func threadMain(_ start: ThreadStart) {
        threadID.store(UInt(pthread_self()), ordering: .releasing)
        _ = cuv_set_thread_name(start.name)
        start.ready.withLockThenBroadcast { $0 = true }
        uv_run(uvLoop, UV_RUN_DEFAULT)
        // Every handle is closed now; one more turn runs any close callback still queued.
        uv_run(uvLoop, UV_RUN_NOWAIT)
        uv_loop_close(uvLoop)
        uvLoop.deallocate()
        receiveBuffer.deallocate()
        wakeup.deallocate()
        poller.deallocate()
        // The thread is about to end, and the system may hand its pthread_t to the next thread
        // it starts: that thread must not pass for this loop's (a later `syncShutdown` would
        // think it waits for itself).
        threadID.store(0, ordering: .releasing)
        // Wakes `syncShutdown` and `waitUntilExited` callers; async ones are resumed below.
        let waiters = exited.withLockThenBroadcast { state -> [CheckedContinuation<Void, Never>] in
            state.done = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Whether the caller is running on this loop's thread.
    public var inEventLoop: Bool {
        threadID.load(ordering: .acquiring) == UInt(pthread_self())
    }

    /// Stops the process when called off the loop thread; the check behind every loop-bound API.
    public func preconditionInEventLoop(file: StaticString = #fileID, line: UInt = #line) {
        precondition(inEventLoop, "loop-bound object used off its event loop's thread", file: file, line: line)
    }

    /// Debug builds only: stops the process when called off the loop thread. Costs nothing in release builds.
    @inline(__always)
    public func assertInEventLoop(file: StaticString = #fileID, line: UInt = #line) {
        assert(inEventLoop, "loop-bound object used off its event loop's thread", file: file, line: line)
    }

    /// Runs `work` on the loop thread soon; callable from any thread. Work handed over after
    /// shutdown has begun is dropped.
    ///
    /// - Returns: `false` when the loop no longer accepts work.
    @discardableResult
    public func execute(_ work: @escaping @Sendable () -> Void) -> Bool {
        state.withLock { state -> Bool in
            guard state.acceptingWork else { return false }
            state.pending.append(work)
            // uv_async_send coalesces wake-ups and is the one libuv call that is safe from any
            // thread; it is made under the lock so it can't race with the handle's close.
            uv_async_send(wakeup.assumingMemoryBound(to: uv_async_t.self))
            return true
        }
    }

    /// Runs `body` on the loop thread and returns its result to the caller.
    ///
    /// - Throws: What `body` throws, or ``SocketError`` `.closed` when the loop has shut down.
    public func submit<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, Error>) in
            let accepted = execute {
                do { continuation.resume(returning: try body()) } catch { continuation.resume(throwing: error) }
            }
            if !accepted {
                continuation.resume(throwing: SocketError(.closed, operation: "submit", message: "the event loop has shut down"))
            }
        }
    }

    /// The other half of a double buffer for ``execute(_:)``'s queue. Loop thread only.
    private var spare: [@Sendable () -> Void] = []

    private func runPending() {
        // Swap the queue with an empty spare rather than copying it: once both have grown, taking
        // work allocates nothing.
        var work = spare
        spare = []
        state.withLock { state in swap(&state.pending, &work) }
        for item in work { item() }
        work.removeAll(keepingCapacity: true)
        spare = work
    }

    /// Closes every handle still open on the loop, lets their close callbacks run, and ends the
    /// loop thread; waits until it has ended. Safe to call more than once; not from the loop thread.
    public func shutdown() async {
        beginShutdown()
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let done = exited.withLock { state -> Bool in
                if state.done { return true }
                state.waiters.append(continuation)
                return false
            }
            if done { continuation.resume() }
        }
    }

    /// Blocking form of ``shutdown()`` for non-async callers such as `main`.
    public func syncShutdown() {
        precondition(!inEventLoop, "syncShutdown() would wait for itself on the loop thread")
        beginShutdown()
        exited.wait { $0.done ? () : nil }
    }

    /// Blocks the calling thread until the loop has ended, without asking it to.
    public func waitUntilExited() {
        precondition(!inEventLoop, "waitUntilExited() would wait for itself on the loop thread")
        exited.wait { $0.done ? () : nil }
    }

    private func beginShutdown() {
        let first = state.withLock { state -> Bool in
            defer { state.shutdownRequested = true }
            return !state.shutdownRequested
        }
        guard first else { return }
        _ = execute { [self] in
            state.withLock { $0.acceptingWork = false }
            // Work accepted before the door closed still runs, so no submitter waits forever.
            runPending()
            closeAllHandles()
        }
    }

    private func closeAllHandles() {
        // Every handle our wrappers create carries its owner in `data`; the wake-up handle has nil.
        uv_walk(uvLoop, { handle, _ in
            guard let handle, uv_is_closing(handle) == 0 else { return }
            if let owner = handle.pointee.data {
                (Unmanaged<AnyObject>.fromOpaque(owner).takeUnretainedValue() as? LoopHandle)?.closeForShutdown()
            } else {
                // The wake-up handle: its memory is freed when the loop thread exits.
                uv_close(handle, nil)
            }
        }, nil)
    }

    /// The number of open handles on the loop, the loop's own wake-up handle not counted. Loop thread only.
    public var liveHandleCount: Int {
        assertInEventLoop()
        var count = 0
        withUnsafeMutablePointer(to: &count) { counter in
            uv_walk(uvLoop, { handle, arg in
                guard let handle, handle.pointee.data != nil else { return }
                arg!.assumingMemoryBound(to: Int.self).pointee += 1
            }, counter)
        }
        return count
    }

    /// The loop's notion of the time: monotonic nanoseconds from the ``ManualClock`` given to
    /// ``init(name:clock:)``, else from the real monotonic clock (`uv_hrtime`). Any thread.
    ///
    /// What the loop's owners compare against (idle timeouts, rate limits, round trips), so a
    /// test can advance a manual clock and then run the check it drives.
    /// - Note: libuv's timers (``Timer``, ``schedule(after:_:)``) still run on real time; a
    ///   manual clock does not make them fire.
    public var now: UInt64 {
        if let manualClock { return manualClock.nanoseconds }
        return uv_hrtime()
    }

    /// The former name of ``now``.
    /// Keeps the loop polling for I/O without sleeping (`epoll_wait` with a zero timeout) for
    /// `nanoseconds` of real time from now, instead of blocking until the next event. An event
    /// in that time is handled at once, without the cost of waking a sleeping thread (in a VM, a
    /// halted virtual CPU); the price is the CPU spent polling. Loop thread only.
    public func keepPolling(forNanoseconds nanoseconds: UInt64) {
        assertInEventLoop()
        pollUntil = uv_hrtime() &+ nanoseconds
        guard !isPolling else { return }
        let idle = poller.assumingMemoryBound(to: uv_idle_t.self)
        // Closed at shutdown: nothing more to poll for.
        guard uv_is_closing(UnsafeMutableRawPointer(idle).assumingMemoryBound(to: uv_handle_t.self)) == 0 else { return }
        isPolling = true
        uv_idle_start(idle) { handle in
            guard let loop = handle?.pointee.loop.pointee.data else { return }
            let owner = Unmanaged<EventLoop>.fromOpaque(loop).takeUnretainedValue()
            if uv_hrtime() >= owner.pollUntil {
                owner.isPolling = false
                uv_idle_stop(handle)
            }
        }
    }
}
