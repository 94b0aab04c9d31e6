#if canImport(Glibc)
import Glibc
#endif

/// A plain mutual-exclusion lock (`pthread_mutex_t`) for state shared by the relay's loops.
///
/// Chosen over `Synchronization.Mutex` because the guarded state is a graph of loop-owned
/// classes that `Mutex`'s `sending` rules can't express; the invariant is documented where the
/// lock is used, and checked with the thread sanitizer.
final class Lock: @unchecked Sendable {
    // @unchecked: the mutex itself is the synchronisation; its memory never moves.
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>

    init() {
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        let rc = pthread_mutex_init(mutex, nil)
        precondition(rc == 0, "pthread_mutex_init failed: \(rc)")
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    /// Runs `body` holding the lock. Never call back into code that may take it again.
    @inline(__always)
    func withLock<Result>(_ body: () throws -> Result) rethrows -> Result {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body()
    }
}
