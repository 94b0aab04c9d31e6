import CLibUV

/// Watches for a Unix signal on an ``EventLoop`` (`uv_signal_t`) and runs a handler on the loop
/// thread each time it arrives, so signal handling needs no async-signal-safe code.
///
/// Loop-bound: create and use it on its loop's thread only.
public final class SignalWatcher: LoopHandle {
    /// The loop that owns this watcher.
    public let loop: EventLoop
    private let handle: UnsafeMutablePointer<uv_signal_t>
    private var handler: ((Int32) -> Void)?
    private var isClosed = false

    /// Starts watching `signal` (such as `SIGTERM`); `handler` receives the signal number.
    ///
    /// - Throws: ``SocketError`` when libuv can't install the watcher.
    public init(loop: EventLoop, signal: Int32, _ handler: @escaping (Int32) -> Void) throws(SocketError) {
        loop.preconditionInEventLoop()
        self.loop = loop
        self.handler = handler
        handle = UVHandle.allocate(UV_SIGNAL, as: uv_signal_t.self)
        let initialised = uv_signal_init(loop.uvLoop, handle)
        precondition(initialised == 0, "uv_signal_init failed: \(initialised)")
        UVHandle.attach(self, to: UVHandle.generic(handle))
        let rc = uv_signal_start(handle, { handle, signal in
            guard let data = handle?.pointee.data else { return }
            let watcher = Unmanaged<SignalWatcher>.fromOpaque(data).takeUnretainedValue()
            watcher.handler?(signal)
        }, signal)
        if rc != 0 {
            close()
            throw SocketError(uvError: rc, operation: "watch signal \(signal)")
        }
    }

    /// Stops watching and releases the watcher. Safe to call twice.
    public func close() {
        loop.assertInEventLoop()
        guard !isClosed else { return }
        isClosed = true
        handler = nil
        UVHandle.close(UVHandle.generic(handle))
    }

    func closeForShutdown() { close() }
}
