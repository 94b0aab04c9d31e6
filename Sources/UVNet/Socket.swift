import CLibUV

/// A TCP connection in the shape of flash.net's `Socket`, on a libuv `uv_tcp_t`: a client made
/// with ``connect(host:port:)`` or a connection accepted by ``ServerSocket``.
///
/// Loop-bound: create and use it on its loop's thread only. Received bytes collect in an input
/// buffer read through the ``DataInput`` methods; ``DataOutput`` writes collect in an output
/// buffer until ``flush()`` hands them to libuv, whose queue ``bytesPending`` reports, for
/// back-pressure. As in flash.net, ``onClose`` fires only when the peer closes, never for ``close()``.
public final class Socket: LoopHandle, DataInput, DataOutput {
    /// The loop that owns this socket.
    public let loop: EventLoop
    private(set) var handle: UnsafeMutablePointer<uv_tcp_t>
    private var retiredHandles = 0

    /// Byte order of the multi-byte reads and writes; big-endian by default.
    public var endian: Endian = .bigEndian
    /// How long ``connect(host:port:)`` may take, name resolution included (flash.net default: 20 s).
    public var timeout: Duration = .seconds(20)

    /// Called when ``connect(host:port:)`` succeeds (flash.net `Event.CONNECT`).
    public var onConnect: (() -> Void)?
    /// Called when new bytes arrive, with their count (flash.net `ProgressEvent.SOCKET_DATA`).
    public var onData: ((Int) -> Void)?
    /// Called when the peer closes the connection (flash.net `Event.CLOSE`); the socket is closed after it.
    public var onClose: (() -> Void)?
    /// Called when connecting, reading or writing fails (flash.net `IOErrorEvent`); the socket is closed after it.
    ///
    /// A write the kernel refuses outright (the peer reset the connection) fails inside
    /// ``flush()``, so this may run from within a caller's own write.
    public var onIOError: ((SocketError) -> Void)?
    /// Called when a queued write has reached the kernel, with the bytes still pending
    /// (flash.net `OutputProgressEvent`): the moment to resume work paused for back-pressure.
    public var onOutputProgress: ((Int) -> Void)?

    /// Whether the socket is connected and not closed.
    public private(set) var connected = false
    /// Whether ``close()`` has been called or the connection has ended.
    public private(set) var isClosed = false

    private var input = ReceivedBytes()
    private var output: [UInt8] = []
    private var connectTimer: Timer?
    private var reading = false
    private var readPaused = false

    /// Creates an unconnected socket on `loop`. Loop thread only.
    public init(loop: EventLoop) {
        loop.preconditionInEventLoop()
        self.loop = loop
        handle = Self.makeHandle(loop)
        UVHandle.attach(self, to: UVHandle.generic(handle))
    }

    private static func makeHandle(_ loop: EventLoop) -> UnsafeMutablePointer<uv_tcp_t> {
        let handle = UVHandle.allocate(UV_TCP, as: uv_tcp_t.self)
        let rc = uv_tcp_init(loop.uvLoop, handle)
        precondition(rc == 0, "uv_tcp_init failed: \(rc)")
        return handle
    }

    private var stream: UnsafeMutablePointer<uv_stream_t> {
        UnsafeMutableRawPointer(handle).assumingMemoryBound(to: uv_stream_t.self)
    }

    /// Called by ``ServerSocket`` once `uv_accept` has filled the handle.
    func didAccept() {
        connected = true
        uv_tcp_nodelay(handle, 1)
        startReading()
    }

    // MARK: Connecting

    /// Resolves `host` and connects to the first of its addresses that answers; the outcome
    /// arrives as ``onConnect`` or ``onIOError`` (flash.net's `connect`).
    ///
    /// - Throws: ``SocketError`` `.portOutOfRange` for a port outside 1…65535, `.alreadyConnected`, `.closed`.
    public func connect(host: String, port: Int) throws(SocketError) {
        loop.assertInEventLoop()
        if isClosed { throw SocketError(.closed, operation: "connect", message: "the socket is closed") }
        guard !connected, connectTimer == nil else {
            throw SocketError(.alreadyConnected, operation: "connect", message: "the socket is already connected or connecting")
        }
        guard (1...65_535).contains(port) else {
            throw SocketError(.portOutOfRange, operation: "connect", message: "port \(port) is outside 1...65535")
        }
        connectTimer = loop.schedule(after: timeout) { [weak self] in
            self?.fail(SocketError(.timedOut, operation: "connect \(host):\(port)", message: "no connection within \(self?.timeout ?? .zero)"))
        }
        // A literal address needs no resolver round trip.
        if let literal = try? SocketAddress(ipAddress: host, port: port) {
            attempt([literal], index: 0)
            return
        }
        resolve(host: host, port: port)
    }

    private final class Resolution {
        let socket: Socket
        let port: Int
        init(socket: Socket, port: Int) { self.socket = socket; self.port = port }
    }

    private func resolve(host: String, port: Int) {
        let request = UnsafeMutablePointer<uv_getaddrinfo_t>.allocate(capacity: 1)
        request.pointee.data = Unmanaged.passRetained(Resolution(socket: self, port: port)).toOpaque()
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_ADDRCONFIG
        let rc = uv_getaddrinfo(loop.uvLoop, request, { request, status, result in
            guard let request else { return }
            let resolution = Unmanaged<Resolution>.fromOpaque(request.pointee.data).takeRetainedValue()
            request.deallocate()
            defer { uv_freeaddrinfo(result) }
            let socket = resolution.socket
            guard socket.connectTimer != nil, !socket.isClosed else { return }
            guard status == 0 else {
                socket.fail(SocketError(uvError: status, operation: "resolve"))
                return
            }
            var addresses: [SocketAddress] = []
            var node = result
            while let info = node {
                if let sa = info.pointee.ai_addr, var address = SocketAddress(sa) {
                    address.port = resolution.port
                    addresses.append(address)
                }
                node = info.pointee.ai_next
            }
            socket.attempt(addresses, index: 0)
        }, host, nil, &hints)
        if rc != 0 {
            Unmanaged<Resolution>.fromOpaque(request.pointee.data).release()
            request.deallocate()
            fail(SocketError(uvError: rc, operation: "resolve \(host)"))
        }
    }

    private final class Attempt {
        let socket: Socket
        let addresses: [SocketAddress]
        let index: Int
        init(socket: Socket, addresses: [SocketAddress], index: Int) {
            self.socket = socket
            self.addresses = addresses
            self.index = index
        }
    }

    private func attempt(_ addresses: [SocketAddress], index: Int) {
        guard index < addresses.count else {
            fail(SocketError(.io, operation: "connect", message: "the name resolved to no usable address"))
            return
        }
        let request = UnsafeMutablePointer<uv_connect_t>.allocate(capacity: 1)
        request.pointee.data = Unmanaged.passRetained(Attempt(socket: self, addresses: addresses, index: index)).toOpaque()
        let rc = addresses[index].withSockAddr { sa, _ in
            uv_tcp_connect(request, handle, sa) { request, status in
                guard let request else { return }
                let attempt = Unmanaged<Attempt>.fromOpaque(request.pointee.data).takeRetainedValue()
                request.deallocate()
                attempt.socket.connectFinished(status: status, attempt: attempt)
            }
        }
        if rc != 0 {
            Unmanaged<Attempt>.fromOpaque(request.pointee.data).release()
            request.deallocate()
            connectFailed(SocketError(uvError: rc, operation: "connect \(addresses[index])"), addresses, index)
        }
    }

    private func connectFinished(status: Int32, attempt: Attempt) {
        guard !isClosed, connectTimer != nil else { return }
        guard status == 0 else {
            connectFailed(SocketError(uvError: status, operation: "connect \(attempt.addresses[attempt.index])"), attempt.addresses, attempt.index)
            return
        }
        connectTimer?.close()
        connectTimer = nil
        connected = true
        uv_tcp_nodelay(handle, 1)
        startReading()
        flushIfConnected()
        onConnect?()
    }

    private func connectFailed(_ error: SocketError, _ addresses: [SocketAddress], _ index: Int) {
        guard index + 1 < addresses.count else {
            fail(error)
            return
        }
        // A handle whose connect failed can't be reused: retire it and try the next address on a fresh one.
        retiredHandles += 1
        UVHandle.close(UVHandle.generic(handle))
        handle = Self.makeHandle(loop)
        UVHandle.attach(self, to: UVHandle.generic(handle))
        attempt(addresses, index: index + 1)
    }

    private func fail(_ error: SocketError) {
        guard !isClosed else { return }
        let handler = onIOError
        close()
        handler?(error)
    }

    // MARK: Reading

    private func startReading() {
        guard !reading, !isClosed else { return }
        let rc = uv_read_start(stream, { handle, _, buf in
            let socket = Unmanaged<Socket>.fromOpaque(handle!.pointee.data).takeUnretainedValue()
            // TCP reads copy into the socket's input at once, so they can share the loop's buffer.
            assert(socket.loop.receiveBufferBorrower == nil, "the loop's receive buffer is handed out while a datagram batch borrows it")
            let buffer = socket.loop.receiveBuffer
            buf!.pointee = uv_buf_init(buffer.baseAddress!.assumingMemoryBound(to: CChar.self), UInt32(socket.readSize))
        }, { stream, nread, buf in
            guard let data = stream?.pointee.data else { return }
            Unmanaged<Socket>.fromOpaque(data).takeUnretainedValue().didRead(nread, buf!.pointee)
        })
        if rc == 0 { reading = true } else { fail(SocketError(uvError: rc, operation: "read")) }
    }

    private func didRead(_ nread: Int, _ buf: uv_buf_t) {
        if nread > 0 {
            input.append(UnsafeRawBufferPointer(start: buf.base, count: nread))
            onData?(nread)
        } else if nread == Int(UV_EOF.rawValue) {
            let handler = onClose
            connected = false
            close()
            handler?()
        } else if nread < 0 {
            fail(SocketError(uvError: Int32(nread), operation: "read"))
        }
    }

    /// Stops reading from the kernel until ``resumeReading()``: the peer is slowed by TCP flow control.
    public func pauseReading() {
        loop.assertInEventLoop()
        // `reading` stays set through close(), and a closed socket's handle may already be freed.
        guard reading, !readPaused, !isClosed else { return }
        uv_read_stop(stream)
        readPaused = true
        reading = false
    }

    /// Resumes reading after ``pauseReading()``.
    public func resumeReading() {
        loop.assertInEventLoop()
        guard readPaused else { return }
        readPaused = false
        startReading()
    }

    /// The most bytes one read takes from the kernel, 1…65536 (default 65536). A smaller size
    /// bounds what a peer's burst puts in ``bytesAvailable`` before the owner can pause reading.
    public var readSize: Int = EventLoop.receiveSlotSize {
        didSet { readSize = min(max(readSize, 1), EventLoop.receiveSlotSize) }
    }

    /// Whether ``pauseReading()`` is in force.
    public var isReadingPaused: Bool { readPaused }

    /// The number of received bytes not yet read.
    public var bytesAvailable: Int { input.count }

    /// The first received byte not yet read, without consuming it: what a server sniffs to tell
    /// one protocol from another on a shared port.
    public var nextByte: UInt8? { input.first }

    /// Consumes `count` received bytes and lends them to `body`; throws `.endOfFile`, consuming
    /// nothing, when fewer are available.
    public func readRawBytes<R>(count: Int, _ body: (UnsafeRawBufferPointer) throws(SocketError) -> R) throws(SocketError) -> R {
        loop.assertInEventLoop()
        return try input.read(count: count, body)
    }

    // MARK: Writing

    /// Appends bytes to the output buffer; they are sent by ``flush()``.
    public func writeRawBytes(_ bytes: UnsafeRawBufferPointer) {
        loop.assertInEventLoop()
        output.append(contentsOf: bytes)
    }

    /// Hands the output buffer to libuv, which writes it as the connection allows (flash.net `flush`).
    /// Bytes written before the connection is up wait for it, and bytes written while an earlier
    /// flush is still queued follow it in one write.
    public func flush() {
        loop.assertInEventLoop()
        flushIfConnected()
    }

    /// A queued write is in libuv's hands. Output written meanwhile waits in `output` and follows
    /// in one write when it completes: a peer that reads slowly then costs one request and one
    /// buffer, not a request per reply.
    private var writeInFlight = false
    /// ``shutdownOutput()`` was called while output still waited: the FIN follows that output.
    private var shutdownRequested = false

    private func flushIfConnected() {
        guard connected, !isClosed, !output.isEmpty, !writeInFlight else { return }
        // Most writes fit in the kernel's buffer at once: try that first, so a reply costs no
        // request and no copy. libuv refuses (EAGAIN) while earlier writes are queued, which keeps
        // the order; anything not taken, and any error, goes the queued way below, which reports
        // errors through the write callback as before.
        let tried = output.withUnsafeBytes { bytes -> Int32 in
            var buf = uv_buf_init(UnsafeMutablePointer(mutating: bytes.baseAddress!.assumingMemoryBound(to: CChar.self)), UInt32(bytes.count))
            return uv_try_write(stream, &buf, 1)
        }
        if tried < 0, tried != Int32(UV_EAGAIN.rawValue) {
            // The kernel refused outright (the peer reset, the connection broke): queueing would
            // only hold memory until a callback reports the same error a turn later, and a peer
            // that pipelines requests and resets would make every reply such a write.
            output.removeAll()
            fail(SocketError(uvError: tried, operation: "write"))
            return
        }
        let taken = Int(max(0, tried))
        if taken == output.count {
            output.removeAll()
            return
        }
        let count = output.count - taken
        // libuv keeps pointing at a write's buffer until its callback: one allocation holds both.
        let memory = UnsafeMutableRawPointer.allocate(byteCount: MemoryLayout<uv_write_t>.size + count, alignment: 16)
        let request = memory.bindMemory(to: uv_write_t.self, capacity: 1)
        let payload = memory + MemoryLayout<uv_write_t>.size
        output.withUnsafeBytes { payload.copyMemory(from: $0.baseAddress! + taken, byteCount: count) }
        output.removeAll()
        var buf = uv_buf_init(payload.assumingMemoryBound(to: CChar.self), UInt32(count))
        let rc = uv_write(request, stream, &buf, 1) { request, status in
            guard let request else { return }
            let stream = request.pointee.handle
            UnsafeMutableRawPointer(request).deallocate()
            guard status != Int32(UV_ECANCELED.rawValue), let data = stream?.pointee.data else { return }
            Unmanaged<Socket>.fromOpaque(data).takeUnretainedValue().writeCompleted(status: status)
        }
        if rc != 0 {
            memory.deallocate()
            fail(SocketError(uvError: rc, operation: "write"))
            return
        }
        writeInFlight = true
    }

    private func writeCompleted(status: Int32) {
        writeInFlight = false
        guard status >= 0 else {
            fail(SocketError(uvError: status, operation: "write"))
            return
        }
        guard !isClosed else { return }
        flushIfConnected()
        guard !isClosed else { return }
        if shutdownRequested, !writeInFlight, output.isEmpty {
            shutdownRequested = false
            startShutdown()
        }
        onOutputProgress?(bytesPending)
    }

    /// Bytes written but not yet taken by the kernel: the unflushed output plus libuv's write queue.
    public var bytesPending: Int {
        output.count + (isClosed ? 0 : Int(uv_stream_get_write_queue_size(stream)))
    }

    /// Half-closes the connection: flushes, then sends FIN once every queued write is out.
    /// Reading goes on, so the peer's last bytes can be drained before ``close()``.
    public func shutdownOutput() {
        loop.assertInEventLoop()
        flushIfConnected()
        guard connected, !isClosed else { return }
        if writeInFlight || !output.isEmpty {
            shutdownRequested = true
            return
        }
        startShutdown()
    }

    private func startShutdown() {
        let request = UnsafeMutablePointer<uv_shutdown_t>.allocate(capacity: 1)
        if uv_shutdown(request, stream, { request, _ in request?.deallocate() }) != 0 {
            request.deallocate()
        }
    }

    /// The kernel's send buffer for this connection, in bytes (`SO_SNDBUF` as Linux reports it:
    /// twice the size asked for); 0 when closed.
    public var sendBufferSize: Int {
        loop.assertInEventLoop()
        guard !isClosed else { return 0 }
        var value: Int32 = 0
        return uv_send_buffer_size(UVHandle.generic(handle), &value) == 0 ? Int(value) : 0
    }

    /// Fixes the kernel's send buffer at `bytes` (Linux doubles it and stops growing it on its
    /// own): what a peer that does not read can leave in the kernel is then bounded too, and
    /// ``bytesPending`` grows, and back-pressure starts, once that much is unread.
    ///
    /// - Returns: The size granted, as ``sendBufferSize`` reports it.
    /// - Throws: ``SocketError`` `.closed`, `.invalidArgument` for a size outside 1…`Int32.max`.
    @discardableResult
    public func requestSendBufferSize(_ bytes: Int) throws(SocketError) -> Int {
        loop.assertInEventLoop()
        if isClosed { throw SocketError(.closed, operation: "send buffer", message: "the socket is closed") }
        guard bytes > 0, bytes <= Int(Int32.max) else {
            throw SocketError(.invalidArgument, operation: "send buffer", message: "the size must lie in 1...\(Int32.max)")
        }
        var value = Int32(bytes)
        try SocketError.check(uv_send_buffer_size(UVHandle.generic(handle), &value), "send buffer")
        return sendBufferSize
    }

    // MARK: Closing

    /// Closes the connection without firing ``onClose`` (as in flash.net); unflushed output is
    /// discarded. Safe to call twice.
    public func close() {
        loop.assertInEventLoop()
        guard !isClosed else { return }
        isClosed = true
        connected = false
        connectTimer?.close()
        connectTimer = nil
        UVHandle.close(UVHandle.generic(handle))
    }

    func closeForShutdown() { close() }

    func handleDidClose() {
        if retiredHandles > 0 {
            retiredHandles -= 1
            return
        }
        onConnect = nil
        onData = nil
        onClose = nil
        onIOError = nil
        onOutputProgress = nil
    }

    // MARK: Addresses

    /// The local endpoint, or nil when not connected.
    public var localSocketAddress: SocketAddress? {
        guard !isClosed else { return nil }
        return SocketAddress.read { sa, length in uv_tcp_getsockname(handle, sa, length) }
    }

    /// The peer's endpoint, or nil when not connected.
    public var remoteSocketAddress: SocketAddress? {
        guard connected, !isClosed else { return nil }
        return SocketAddress.read { sa, length in uv_tcp_getpeername(handle, sa, length) }
    }

    /// The local IP address as text (flash.net `localAddress`).
    public var localAddress: String? { localSocketAddress?.ipAddress }
    /// The local port, or 0 (flash.net `localPort`).
    public var localPort: Int { localSocketAddress?.port ?? 0 }
    /// The peer's IP address as text (flash.net `remoteAddress`).
    public var remoteAddress: String? { remoteSocketAddress?.ipAddress }
    /// The peer's port, or 0 (flash.net `remotePort`).
    public var remotePort: Int { remoteSocketAddress?.port ?? 0 }
}
