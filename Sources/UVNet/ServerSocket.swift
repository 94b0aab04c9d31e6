import CLibUV

/// A listening TCP socket in the shape of flash.net's `ServerSocket`, on a libuv `uv_tcp_t`.
///
/// Loop-bound: create and use it on its loop's thread only. Each accepted connection is handed
/// to ``onConnect`` as a connected ``Socket`` that is already reading.
public final class ServerSocket: LoopHandle {
    /// The loop that owns this socket.
    public let loop: EventLoop
    let handle: UnsafeMutablePointer<uv_tcp_t>

    /// Receives each accepted connection (flash.net `ServerSocketConnectEvent`). Without a handler,
    /// accepted connections are closed at once.
    public var onConnect: ((Socket) -> Void)?
    /// Called when accepting fails (flash.net `IOErrorEvent`); the socket keeps listening.
    public var onIOError: ((SocketError) -> Void)?

    /// Whether ``bind(localPort:localAddress:)`` has succeeded.
    public private(set) var bound = false
    /// Whether ``listen(backlog:)`` has succeeded.
    public private(set) var listening = false
    /// Whether ``close()`` has been called.
    public private(set) var isClosed = false

    /// Creates an unbound server socket on `loop`. Loop thread only.
    public init(loop: EventLoop) {
        loop.preconditionInEventLoop()
        self.loop = loop
        handle = UVHandle.allocate(UV_TCP, as: uv_tcp_t.self)
        let rc = uv_tcp_init(loop.uvLoop, handle)
        precondition(rc == 0, "uv_tcp_init failed: \(rc)")
        UVHandle.attach(self, to: UVHandle.generic(handle))
    }

    /// Binds to a local address and port; port 0 picks a free port, `"::"` accepts IPv6 and IPv4.
    ///
    /// - Throws: ``SocketError`` `.portOutOfRange`, `.invalidAddress`, `.alreadyBound`, `.addressInUse`, `.closed`.
    public func bind(localPort: Int = 0, localAddress: String = "0.0.0.0") throws(SocketError) {
        loop.assertInEventLoop()
        try checkOpen("bind")
        guard !bound else { throw SocketError(.alreadyBound, operation: "bind", message: "the socket is already bound") }
        let address = try SocketAddress(ipAddress: localAddress, port: localPort)
        try address.withSockAddr { (sa, _) throws(SocketError) in
            try SocketError.check(uv_tcp_bind(handle, sa, 0), "bind \(address)")
        }
        // libuv defers EADDRINUSE from bind to listen; flash.net reports it from bind.
        let deferred = handle.pointee.delayed_error
        if deferred != 0 {
            throw SocketError(uvError: deferred, operation: "bind \(address)")
        }
        bound = true
    }

    /// Starts accepting connections; `backlog` 0 means the system maximum (`SOMAXCONN`).
    ///
    /// - Throws: ``SocketError`` `.notBound` before ``bind(localPort:localAddress:)``, `.closed`, or an I/O error.
    public func listen(backlog: Int = 0) throws(SocketError) {
        loop.assertInEventLoop()
        try checkOpen("listen")
        guard bound else { throw SocketError(.notBound, operation: "listen", message: "bind the socket before listening") }
        guard !listening else { return }
        guard backlog >= 0 else { throw SocketError(.invalidArgument, operation: "listen", message: "backlog must not be negative") }
        let depth = backlog == 0 ? SOMAXCONN : Int32(clamping: backlog)
        try SocketError.check(uv_listen(UnsafeMutableRawPointer(handle).assumingMemoryBound(to: uv_stream_t.self), depth, { server, status in
            guard let data = server?.pointee.data else { return }
            Unmanaged<ServerSocket>.fromOpaque(data).takeUnretainedValue().accept(status: status)
        }), "listen")
        listening = true
    }

    private func accept(status: Int32) {
        if status < 0 {
            onIOError?(SocketError(uvError: status, operation: "accept"))
            return
        }
        let socket = Socket(loop: loop)
        let rc = uv_accept(
            UnsafeMutableRawPointer(handle).assumingMemoryBound(to: uv_stream_t.self),
            UnsafeMutableRawPointer(socket.handle).assumingMemoryBound(to: uv_stream_t.self))
        guard rc == 0 else {
            socket.close()
            onIOError?(SocketError(uvError: rc, operation: "accept"))
            return
        }
        guard let onConnect else {
            socket.close()
            return
        }
        socket.didAccept()
        onConnect(socket)
    }

    /// Stops listening and releases the socket. Accepted sockets stay open. Safe to call twice.
    ///
    /// Both handlers are dropped, so a handler that captures the server (such as one that closes
    /// it on error) does not keep it alive.
    public func close() {
        loop.assertInEventLoop()
        guard !isClosed else { return }
        isClosed = true
        listening = false
        onConnect = nil
        onIOError = nil
        UVHandle.close(UVHandle.generic(handle))
    }

    func closeForShutdown() { close() }

    /// The local address the socket is bound to, or nil when unbound.
    public var localSocketAddress: SocketAddress? {
        guard bound, !isClosed else { return nil }
        return SocketAddress.read { sa, length in uv_tcp_getsockname(handle, sa, length) }
    }

    /// The local IP address as text, or nil when unbound (flash.net `localAddress`).
    public var localAddress: String? { localSocketAddress?.ipAddress }
    /// The local port, or 0 when unbound (flash.net `localPort`).
    public var localPort: Int { localSocketAddress?.port ?? 0 }

    private func checkOpen(_ operation: String) throws(SocketError) {
        if isClosed { throw SocketError(.closed, operation: operation, message: "the socket is closed") }
    }
}

extension SocketAddress {
    /// Reads an address through a `getsockname`-style call; nil when it fails.
    static func read(_ call: (UnsafeMutablePointer<sockaddr>, UnsafeMutablePointer<Int32>) -> Int32) -> SocketAddress? {
        var storage = sockaddr_storage()
        var length = Int32(MemoryLayout<sockaddr_storage>.size)
        return withUnsafeMutablePointer(to: &storage) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                call(sa, &length) == 0 ? SocketAddress(sa) : nil
            }
        }
    }
}
