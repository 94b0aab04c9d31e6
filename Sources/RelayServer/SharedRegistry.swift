/// The session registry shared by the control loop and every data-plane loop, behind one lock.
///
/// The invariant: every read or write of the registry, and of the mutable fields of its
/// ``Session``s and ``Member``s (members, routes, owner, binding, connection, last-seen time,
/// replay window, LATEST filter, rate limiters), happens inside ``withLock(_:)``. `let` fields (ids, tokens, names)
/// never change after publication and may be read anywhere. Code inside the lock never calls
/// out to sockets or connections: events are collected and sent after it is released.
final class SharedRegistry: @unchecked Sendable {
    // @unchecked: `registry` and the objects it reaches are only touched under `lock`.
    private let lock = Lock()
    private let registry: SessionRegistry

    init(random: any RandomNumberGenerator) {
        registry = SessionRegistry(random: random)
    }

    /// Runs `body` with the registry, holding the lock.
    @inline(__always)
    func withLock<Result>(_ body: (SessionRegistry) throws -> Result) rethrows -> Result {
        try lock.withLock { try body(registry) }
    }
}
