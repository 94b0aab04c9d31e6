import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Carries the outcome of starting the relay from the loop thread back to the main thread.
final class StartResult: Sendable {
    private let state = Mutex<(done: Bool, failure: String?)>((false, nil))

    /// Records the outcome: nil for success, else one line describing the failure.
    func finish(_ failure: String?) {
        state.withLock { $0 = (true, failure) }
    }

    /// Blocks until ``finish(_:)`` has been called; returns the failure, if any.
    func wait() -> String? {
        while true {
            let (done, failure) = state.withLock { $0 }
            if done { return failure }
            usleep(1000)
        }
    }
}
