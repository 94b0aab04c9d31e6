#if canImport(Glibc)
import Glibc
#endif

/// A plain mutual-exclusion lock on a `pthread_mutex_t`, for state that several loops or threads share.
///
/// Not `Synchronization.Mutex`: on Linux (Swift 6.3) a thread that has to wait for a `Mutex`
/// acquires it inside the uninstrumented Synchronization library, so ThreadSanitizer misses
/// that ordering and reports false races whenever threads contend. TSan intercepts
/// `pthread_mutex_lock`, so with this lock it checks the guarded state for real. It also suits
/// state that is a graph of classes, which `Mutex`'s `sending` rules can't express; document
/// the invariant where the lock is used.
public final class Lock: @unchecked Sendable {
    // @unchecked: the mutex is the synchronisation; it lives on the heap, so its address never
    // changes while a thread holds or waits for it.
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>

    /// Creates an unlocked lock.
    public init() {
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        let rc = pthread_mutex_init(mutex, nil)
        precondition(rc == 0, "pthread_mutex_init failed: \(rc)")
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    /// Runs `body` holding the lock and returns its result. The lock is not recursive: `body`
    /// must not call back into code that takes it again.
    @inline(__always)
    public func withLock<R>(_ body: () throws -> R) rethrows -> R {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body()
    }
}
