import UVNet

#if canImport(Glibc)
import Glibc
#endif

/// Hands one result from a loop that is starting up back to the thread that waits for it.
final class StartGate<Value: Sendable>: @unchecked Sendable {
    // @unchecked: `result` is only touched under `lock`.
    private let lock = Lock()
    private var result: Result<Value, SocketError>?

    /// Delivers the outcome (any thread).
    func finish(_ outcome: Result<Value, SocketError>) {
        lock.withLock { result = outcome }
    }

    /// Blocks until ``finish(_:)`` has been called. Only for start-up, which takes microseconds.
    func wait() -> Result<Value, SocketError> {
        while true {
            if let outcome = lock.withLock({ result }) { return outcome }
            usleep(100)
        }
    }
}
