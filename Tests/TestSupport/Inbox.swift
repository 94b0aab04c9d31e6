import Synchronization

/// Collects values that loop callbacks report, for a test to wait on with a deadline.
public final class Inbox<Value: Sendable>: Sendable {
    private let items = Mutex<[Value]>([])

    /// Creates an empty inbox.
    public init() {}

    /// Adds a value (any thread).
    public func put(_ value: Value) {
        items.withLock { $0.append(value) }
    }

    /// Everything received so far.
    public var all: [Value] { items.withLock { $0 } }

    /// Waits until at least `count` values arrived, or throws ``TestFailure`` after `timeout`.
    @discardableResult
    public func wait(for count: Int = 1, timeout: Duration = .seconds(20), _ what: String) async throws -> [Value] {
        let deadline = ContinuousClock.now + timeout
        while true {
            let snapshot = all
            if snapshot.count >= count { return snapshot }
            if ContinuousClock.now >= deadline { throw TestFailure("timed out waiting for \(count) × \(what); got \(snapshot)") }
            try await Task.sleep(for: .milliseconds(2))
        }
    }

    /// Waits until a value satisfying `isLast` arrived, or throws ``TestFailure`` after `timeout`;
    /// returns everything received up to then.
    @discardableResult
    public func wait(until isLast: (Value) -> Bool, timeout: Duration = .seconds(20), _ what: String) async throws -> [Value] {
        let deadline = ContinuousClock.now + timeout
        while true {
            let snapshot = all
            if snapshot.contains(where: isLast) { return snapshot }
            if ContinuousClock.now >= deadline { throw TestFailure("timed out waiting for \(what); got \(snapshot)") }
            try await Task.sleep(for: .milliseconds(2))
        }
    }
}
