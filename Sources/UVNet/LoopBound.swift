/// A value that belongs to one ``EventLoop`` and may be carried across threads, but only read or
/// changed on that loop's thread: checked at run time on every access, as SwiftNIO's `NIOLoopBound`.
///
/// Use it to hand a loop-bound object (a socket, a server) out of ``EventLoop/submit(_:)`` and back in.
public struct LoopBound<Value>: @unchecked Sendable {
    // @unchecked: every access to `_value` goes through the precondition below, which confines
    // it to the owning loop's thread.
    private var _value: Value
    /// The loop whose thread may touch the value.
    public let loop: EventLoop

    /// Wraps `value`; must be called on `loop`'s thread.
    public init(_ value: Value, loop: EventLoop) {
        loop.preconditionInEventLoop()
        self._value = value
        self.loop = loop
    }

    /// The value; traps when accessed off the loop's thread.
    public var value: Value {
        get {
            loop.preconditionInEventLoop()
            return _value
        }
        set {
            loop.preconditionInEventLoop()
            _value = newValue
        }
    }
}
