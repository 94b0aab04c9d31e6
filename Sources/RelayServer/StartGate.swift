import UVNet

/// Hands one result from a loop that is starting up back to the thread that waits for it.
final class StartGate<Value: Sendable>: Sendable {
    private let result = Locked<Result<Value, SocketError>?>(nil)

    /// Delivers the outcome (any thread).
    func finish(_ outcome: Result<Value, SocketError>) {
        result.withLockThenBroadcast { $0 = outcome }
    }

    /// Blocks until ``finish(_:)`` has been called. Only for start-up, which takes microseconds.
    func wait() -> Result<Value, SocketError> {
        result.wait { $0 }
    }
}
