#if canImport(Glibc)
import Glibc
#endif

/// A value behind a `pthread_mutex_t`, with a condition variable so a thread can block until
/// the value reaches a state another thread puts it in.
///
/// For the few places a thread must wait for another (a loop thread starting or ending, a
/// command waiting for a loop's answer): waiting on the condition wakes exactly when the value
/// changes, where polling would either burn a core or add latency. A pthread mutex rather than
/// `Synchronization.Mutex` for the reason given at ``Lock``: ThreadSanitizer sees its ordering.
/// Sendable when `Value` is, since the value then may cross threads.
public final class Locked<Value> {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let condition: UnsafeMutablePointer<pthread_cond_t>
    private var value: Value

    /// Wraps `value`.
    public init(_ value: Value) {
        self.value = value
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        var rc = pthread_mutex_init(mutex, nil)
        precondition(rc == 0, "pthread_mutex_init failed: \(rc)")
        // Timed waits measure against CLOCK_MONOTONIC, so a wall-clock step can't stretch or cut them.
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        condition = .allocate(capacity: 1)
        condition.initialize(to: pthread_cond_t())
        rc = pthread_cond_init(condition, &attributes)
        pthread_condattr_destroy(&attributes)
        precondition(rc == 0, "pthread_cond_init failed: \(rc)")
    }

    deinit {
        pthread_cond_destroy(condition)
        condition.deallocate()
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    /// Runs `body` on the value while holding the lock; waiters are not woken, so use it for
    /// changes no ``wait(until:)`` is waiting for.
    public func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value)
    }

    /// Runs `body` on the value while holding the lock, then wakes every thread blocked in
    /// ``wait(until:)`` or ``wait(until:timeout:)`` so each re-checks its condition.
    public func withLockThenBroadcast<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        pthread_mutex_lock(mutex)
        defer {
            pthread_cond_broadcast(condition)
            pthread_mutex_unlock(mutex)
        }
        return try body(&value)
    }

    /// Blocks the calling thread until `body`, run on the value under the lock, returns a
    /// result; `body` runs once at once and again after every broadcast.
    ///
    /// - Parameter body: Returns nil while the awaited state has not been reached.
    /// - Returns: The first non-nil result of `body`.
    public func wait<R>(until body: (inout Value) -> R?) -> R {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        while true {
            if let result = body(&value) { return result }
            pthread_cond_wait(condition, mutex)
        }
    }

    /// Blocks the calling thread until `body` returns a result or `timeout` has passed on the
    /// monotonic clock.
    ///
    /// - Parameters:
    ///   - body: Returns nil while the awaited state has not been reached.
    ///   - timeout: The longest wait; zero or negative checks once without waiting.
    /// - Returns: The first non-nil result of `body`, or nil when the time ran out first.
    public func wait<R>(until body: (inout Value) -> R?, timeout: Duration) -> R? {
        var deadline = Self.deadline(after: timeout)
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        while true {
            if let result = body(&value) { return result }
            if pthread_cond_timedwait(condition, mutex, &deadline) == ETIMEDOUT {
                return body(&value)
            }
        }
    }

    /// `CLOCK_MONOTONIC` now plus `timeout`, clamped so a huge timeout can't overflow.
    private static func deadline(after timeout: Duration) -> timespec {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        let (seconds, attoseconds) = timeout.components
        guard seconds > 0 || (seconds == 0 && attoseconds > 0) else { return now }
        let cappedSeconds = min(seconds, Int64(Int32.max))
        var total = Int64(now.tv_nsec) + attoseconds / 1_000_000_000
        let carry = total / 1_000_000_000
        total %= 1_000_000_000
        return timespec(tv_sec: now.tv_sec + Int(cappedSeconds + carry), tv_nsec: Int(total))
    }
}

// @unchecked: `value` is touched only between `pthread_mutex_lock` and `pthread_mutex_unlock`,
// and only a Sendable value may be reached from several threads through it.
extension Locked: @unchecked Sendable where Value: Sendable {}
