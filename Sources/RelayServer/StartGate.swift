import Synchronization
import UVNet

#if canImport(Glibc)
import Glibc
#endif

/// Hands one result from a loop that is starting up back to the thread that waits for it.
final class StartGate<Value: Sendable>: Sendable {
    private let slot = Mutex<Result<Value, SocketError>?>(nil)

    /// Delivers the outcome (any thread).
    func finish(_ result: Result<Value, SocketError>) {
        slot.withLock { $0 = result }
    }

    /// Blocks until ``finish(_:)`` has been called. Only for start-up, which takes microseconds.
    func wait() -> Result<Value, SocketError> {
        while true {
            if let result = slot.withLock({ $0 }) { return result }
            usleep(100)
        }
    }
}
