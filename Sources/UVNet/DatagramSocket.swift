import CLibUV

#if canImport(Glibc)
import Glibc
#endif

/// A UDP socket in the shape of flash.net's `DatagramSocket`, on a libuv `uv_udp_t`.
///
/// Loop-bound: create and use it on its loop's thread only (checked in debug builds). Receiving
/// uses `recvmmsg` batches into the loop's shared buffer and lends each datagram to ``onData``
/// without copying. A datagram is one packet: ``send(_:to:)`` refuses payloads over
/// ``maxDatagramSize`` rather than letting the network fragment or drop them.
///
/// The receive contract: the bytes of every datagram given to ``onData`` stay valid and
/// unchanged until the next ``onReceiveBatchEnd``, so a relay can queue pointers to them and
/// send them all at the batch end. libuv reuses the buffer after that.
public final class DatagramSocket: LoopHandle {
    /// The loop that owns this socket.
    public let loop: EventLoop
    let handle: UnsafeMutablePointer<uv_udp_t>

    /// Called for every datagram received after ``receive()``; the bytes are borrowed (see
    /// ``Datagram``) until the next ``onReceiveBatchEnd``.
    public var onData: ((Datagram) -> Void)?
    /// Called after each receive batch has been delivered, before the loop's receive buffer is
    /// reused: the place to flush batched sends that point into received datagrams. Also called
    /// when a read finds nothing left, with no datagram since the last call.
    public var onReceiveBatchEnd: (() -> Void)?
    /// Called when receiving fails (flash.net `IOErrorEvent`).
    public var onIOError: ((SocketError) -> Void)?
    /// Called once the socket has closed and libuv has released it (flash.net `Event.CLOSE`);
    /// unlike ``Socket/onClose``, also after a local ``close(_:)``, since a datagram socket has no peer.
    public var onClose: (() -> Void)?

    /// Whether ``bind(localPort:localAddress:)`` has succeeded.
    public private(set) var bound = false
    /// Whether ``connect(remoteAddress:remotePort:)`` has succeeded.
    public var connected: Bool { remote != nil }
    /// Whether ``receive()`` has been called and the socket is not closed.
    public private(set) var receiving = false
    /// Whether ``close()`` has been called.
    public private(set) var isClosed = false

    /// The link MTU that datagram sizes derive from (default 1500, Ethernet), in 68…65535.
    public var mtu: Int = 1500 {
        didSet { precondition((68...65_535).contains(mtu), "mtu must lie in 68...65535") }
    }

    private var remote: SocketAddress?
    private var localFamily: SocketAddress.Family = .ipv4

    /// Creates an unbound socket on `loop`. Loop thread only.
    ///
    /// - Parameters:
    ///   - loop: The loop that owns the socket.
    ///   - receivesInBatches: Whether libuv reads with `recvmmsg`, up to
    ///     ``EventLoop/receiveBatchCount`` datagrams per system call (the default). With false it
    ///     reads one datagram per `recvmsg`, and each datagram is then a batch of its own: its
    ///     ``onReceiveBatchEnd`` follows its ``onData`` at once. For tests of that path, and for
    ///     comparing the two.
    public init(loop: EventLoop, receivesInBatches: Bool = true) {
        loop.preconditionInEventLoop()
        self.loop = loop
        handle = UVHandle.allocate(UV_UDP, as: uv_udp_t.self)
        // AF_UNSPEC defers creating the descriptor to bind(), which picks the family.
        let batching = receivesInBatches ? UInt32(UV_UDP_RECVMMSG.rawValue) : 0
        let rc = uv_udp_init_ex(loop.uvLoop, handle, UInt32(AF_UNSPEC) | batching)
        precondition(rc == 0, "uv_udp_init_ex failed: \(rc)")
        UVHandle.attach(self, to: UVHandle.generic(handle))
    }

    /// The largest payload one datagram to `destination` may carry: the MTU less the IP and UDP
    /// headers (28 bytes for IPv4 and IPv4-mapped destinations, 48 for IPv6).
    public func datagramLimit(to destination: SocketAddress) -> Int {
        destination.isIPv4MappedOrIPv4 ? mtu - 28 : mtu - 48
    }

    /// The largest payload for this socket's own family: 1472 bytes for IPv4, 1452 for IPv6 at MTU 1500.
    public var maxDatagramSize: Int {
        if let remote { return datagramLimit(to: remote) }
        return localFamily == .ipv4 ? mtu - 28 : mtu - 48
    }

    /// Binds to a local address and port, as flash.net's `bind`; port 0 picks a free port and
    /// `"::"` binds both IPv6 and IPv4 (dual stack).
    ///
    /// - Parameter reusePort: Sets `SO_REUSEPORT` so several sockets (one per loop) share the port
    ///   and the kernel spreads senders across them. Check first that nobody else holds the port.
    /// - Throws: ``SocketError`` `.portOutOfRange`, `.invalidAddress`, `.alreadyBound`, `.addressInUse`, `.closed`.
    public func bind(localPort: Int = 0, localAddress: String = "0.0.0.0", reusePort: Bool = false) throws(SocketError) {
        loop.assertInEventLoop()
        try checkOpen("bind")
        guard !bound else { throw SocketError(.alreadyBound, operation: "bind", message: "the socket is already bound") }
        let address = try SocketAddress(ipAddress: localAddress, port: localPort)
        if reusePort {
            try bindReusingPort(address)
        } else {
            try address.withSockAddr { (sa, _) throws(SocketError) in
                try SocketError.check(uv_udp_bind(handle, sa, 0), "bind \(address)")
            }
        }
        localFamily = address.family
        bound = true
    }

    private func bindReusingPort(_ address: SocketAddress) throws(SocketError) {
        // libuv 1.44 has no UV_UDP_REUSEPORT: make the descriptor ourselves and hand it over.
        let domain = address.family == .ipv4 ? AF_INET : AF_INET6
        let fd = socket(domain, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SocketError(uvError: -errno, operation: "socket") }
        var one: Int32 = 1
        var rc = setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, socklen_t(MemoryLayout<Int32>.size))
        if rc == 0 {
            rc = address.withSockAddr { sa, len in CLibUV.bind(fd, sa, len) }
        }
        if rc != 0 {
            let error = SocketError(uvError: -errno, operation: "bind \(address)")
            CLibUV.close(fd)
            throw error
        }
        let opened = uv_udp_open(handle, fd)
        if opened != 0 {
            CLibUV.close(fd)
            throw SocketError(uvError: opened, operation: "uv_udp_open")
        }
    }

    /// Makes the kernel deliver each datagram for this socket's `SO_REUSEPORT` group to the
    /// socket a word of its payload names, rather than to one picked by hashing the sender's
    /// address: so every datagram of a session can reach the loop that owns the session.
    ///
    /// The 32-bit big-endian word at `wordOffset` of the UDP payload, modulo `groupSize`, is the
    /// index of the receiving socket in the order the group's sockets were bound (when one
    /// closes, Linux moves the last into its place). A payload too short to hold the word goes
    /// to index 0; an index beyond the group falls back to the hash. Attaching to any one
    /// socket steers the whole group, for as long as the group exists; attaching again replaces
    /// the program. Needs Linux 4.5 or later (`SO_ATTACH_REUSEPORT_CBPF`).
    ///
    /// - Parameters:
    ///   - wordOffset: Where the word starts, in bytes from the start of the UDP payload.
    ///   - groupSize: The number of sockets in the group, at least 1.
    /// - Throws: ``SocketError`` `.notBound` before ``bind(localPort:localAddress:reusePort:)``,
    ///   `.invalidArgument` for a group size of 0, `.closed`, or the kernel's refusal with its
    ///   errno text (`EINVAL` when the socket was not bound with `reusePort`).
    public func attachReusePortSteering(wordOffset: UInt32, groupSize: UInt32) throws(SocketError) {
        let operation = "attach reuseport steering"
        loop.assertInEventLoop()
        try checkOpen(operation)
        guard bound else { throw SocketError(.notBound, operation: operation, message: "bind the socket with reusePort first") }
        guard groupSize > 0 else {
            throw SocketError(.invalidArgument, operation: operation, message: "a reuseport group has at least one socket")
        }
        let result = cuv_attach_reuseport_steering(fileDescriptor, wordOffset, groupSize)
        guard result == 0 else {
            var error = SocketError(uvError: result, operation: operation)
            error.message = "the kernel refused the steering program: \(error.message)"
            if result == -EINVAL { error.message += "; was the socket bound with reusePort?" }
            throw error
        }
    }

    /// Connects the socket to one remote address: from then on only datagrams from that address
    /// reach ``onData``, and ``send(_:to:)`` needs no destination (flash.net's `connect`).
    ///
    /// The kernel filters other sources; a datagram a stranger sent before `connect` may still be
    /// queued, so the socket checks the source of each datagram as well. An unbound socket is
    /// bound to an ephemeral port of the remote address's family.
    /// - Throws: ``SocketError`` `.alreadyConnected`, `.invalidAddress`, `.portOutOfRange`, `.closed`, or an I/O error.
    public func connect(remoteAddress: String, remotePort: Int) throws(SocketError) {
        loop.assertInEventLoop()
        try checkOpen("connect")
        guard remote == nil else { throw SocketError(.alreadyConnected, operation: "connect", message: "the socket is already connected") }
        let address = try SocketAddress(ipAddress: remoteAddress, port: remotePort)
        guard address.port != 0 else {
            throw SocketError(.portOutOfRange, operation: "connect", message: "remote port 0 is not a destination")
        }
        if !bound {
            try bind(localPort: 0, localAddress: address.family == .ipv4 ? "0.0.0.0" : "::")
        }
        try address.withSockAddr { (sa, _) throws(SocketError) in
            try SocketError.check(uv_udp_connect(handle, sa), "connect \(address)")
        }
        remote = address
    }

    /// Starts delivering datagrams to ``onData`` (flash.net's `receive`).
    ///
    /// - Throws: ``SocketError`` `.notBound` before ``bind(localPort:localAddress:reusePort:)`` or ``connect(remoteAddress:remotePort:)``.
    public func receive() throws(SocketError) {
        loop.assertInEventLoop()
        try checkOpen("receive")
        guard bound else { throw SocketError(.notBound, operation: "receive", message: "bind the socket before receiving") }
        guard !receiving else { return }
        try SocketError.check(uv_udp_recv_start(handle, Self.allocate, Self.received), "receive")
        receiving = true
    }

    /// Sends one datagram of `bytes` to `destination`, or to the connected address when nil.
    ///
    /// The kernel takes the bytes at once when it can; when its buffer is full the bytes are
    /// copied and queued in libuv, in order.
    /// - Throws: ``SocketError`` `.datagramTooLarge` over ``datagramLimit(to:)``, `.notConnected`
    ///   with no destination on an unconnected socket, `.alreadyConnected` with a destination on a
    ///   connected one, `.closed`, or an I/O error.
    public func send(_ bytes: UnsafeRawBufferPointer, to destination: SocketAddress? = nil) throws(SocketError) {
        if try trySend(bytes, to: destination) { return }
        try queueCopy(bytes, to: destination)
    }

    /// Sends one datagram of `bytes` to `destination` (or to the connected address when nil) if
    /// the kernel takes it at once, and otherwise drops it: nothing is ever queued.
    ///
    /// For traffic where a late datagram is worth nothing (game state, voice): a sender that
    /// outpaces the network loses datagrams and can count them, instead of growing a queue.
    /// - Returns: true when sent; false when the kernel's buffer was full (`EAGAIN`) and the
    ///   datagram was dropped.
    /// - Throws: What ``send(_:to:)`` throws.
    public func trySend(_ bytes: UnsafeRawBufferPointer, to destination: SocketAddress? = nil) throws(SocketError) -> Bool {
        loop.assertInEventLoop()
        try checkOpen("send")
        let target = try resolveDestination(destination)
        let limit = datagramLimit(to: target)
        guard bytes.count <= limit else {
            throw SocketError(.datagramTooLarge, operation: "send",
                              message: "a \(bytes.count)-byte datagram exceeds the \(limit)-byte limit for one packet to \(target) (MTU \(mtu))")
        }
        if !bound {
            try bind(localPort: 0, localAddress: target.family == .ipv4 ? "0.0.0.0" : "::")
        }
        let result = trySendUnchecked(bytes, to: destination)
        if result >= 0 { return true }
        guard result == Int32(UV_EAGAIN.rawValue) else {
            throw SocketError(uvError: result, operation: "send to \(target)")
        }
        return false
    }

    /// The most datagrams one ``sendSegments(_:segmentSize:)`` call may carry (Linux's limit).
    public static let maxSegments = 64

    /// Sends `bytes` to the connected address as consecutive datagrams of `segmentSize` bytes
    /// each (the last may be shorter) in one system call, with Linux's UDP segmentation offload:
    /// the IP stack is walked once for all of them, and the receiver sees ordinary datagrams.
    ///
    /// Nothing is queued: when the kernel has no room the call throws and nothing was sent.
    /// - Throws: ``SocketError`` `.notConnected`, `.invalidArgument` (an empty or too large
    ///   burst, more than ``maxSegments`` datagrams, or a kernel without segmentation offload),
    ///   `.datagramTooLarge`, `.closed`, or the kernel's error.
    public func sendSegments(_ bytes: UnsafeRawBufferPointer, segmentSize: Int) throws(SocketError) {
        let remote = try checkBurst(bytes, segmentSize: segmentSize)
        let result = cuv_send_segments(fileDescriptor, bytes.baseAddress, bytes.count, UInt16(segmentSize))
        guard result == 0 else { throw SocketError(uvError: result, operation: "send to \(remote)") }
    }

    /// Sends `bytes` to the connected address as datagrams of `segmentSize` bytes each: in one
    /// ``sendSegments(_:segmentSize:)`` where the kernel takes it, otherwise one ``send(_:to:)``
    /// per datagram (a kernel without segmentation offload, or a full buffer).
    ///
    /// - Returns: How many datagrams left or were queued; the rest failed.
    /// - Throws: ``SocketError``: what ``sendSegments(_:segmentSize:)`` refuses before sending
    ///   (`.notConnected`, `.invalidArgument`, `.datagramTooLarge`, `.closed`); nothing is sent then.
    @discardableResult
    public func sendBurst(_ bytes: UnsafeRawBufferPointer, segmentSize: Int) throws(SocketError) -> Int {
        try checkBurst(bytes, segmentSize: segmentSize)
        let count = (bytes.count + segmentSize - 1) / segmentSize
        if cuv_send_segments(fileDescriptor, bytes.baseAddress, bytes.count, UInt16(segmentSize)) == 0 { return count }
        var sent = 0
        for index in 0..<count {
            let datagram = UnsafeRawBufferPointer(rebasing: bytes[(index * segmentSize)..<min((index + 1) * segmentSize, bytes.count)])
            if (try? send(datagram)) != nil { sent += 1 }
        }
        return sent
    }

    /// The connected address, once `bytes` is known to be a burst one segmented send can carry.
    @discardableResult
    private func checkBurst(_ bytes: UnsafeRawBufferPointer, segmentSize: Int) throws(SocketError) -> SocketAddress {
        loop.assertInEventLoop()
        try checkOpen("send")
        guard let remote else { throw SocketError(.notConnected, operation: "send", message: "segmented sends need a connected socket") }
        guard segmentSize > 0, !bytes.isEmpty, bytes.count <= 65_000,
              (bytes.count + segmentSize - 1) / segmentSize <= Self.maxSegments else {
            throw SocketError(.invalidArgument, operation: "send", message: "\(bytes.count) bytes in \(segmentSize)-byte datagrams is not a burst of 1...\(Self.maxSegments)")
        }
        let limit = datagramLimit(to: remote)
        guard segmentSize <= limit else {
            throw SocketError(.datagramTooLarge, operation: "send", message: "a \(segmentSize)-byte datagram exceeds the \(limit)-byte limit for one packet to \(remote)")
        }
        return remote
    }

    /// Sends `length` bytes of `bytes` from `offset` (0 = all after `offset`) to `address`:`port`,
    /// or to the connected address when `address` is nil: flash.net's `send`.
    ///
    /// - Throws: ``SocketError`` `.invalidArgument` for a range outside `bytes`, plus everything ``send(_:to:)`` throws.
    public func send(_ bytes: ByteArray, offset: Int = 0, length: Int = 0, address: String? = nil, port: Int = 0) throws(SocketError) {
        let destination: SocketAddress? = try address.map { (text) throws(SocketError) in try SocketAddress(ipAddress: text, port: port) }
        let total = bytes.length
        let count = length == 0 ? total - offset : length
        guard offset >= 0, count >= 0, offset + count <= total else {
            throw SocketError(.invalidArgument, operation: "send", message: "offset \(offset) and length \(length) lie outside the \(total) bytes given")
        }
        try bytes.withUnsafeBytes { (raw) throws(SocketError) in
            try send(UnsafeRawBufferPointer(rebasing: raw[offset..<(offset + count)]), to: destination)
        }
    }

    /// Hot-path send: one `sendmsg` of `bytes` to `destination` with no size check and no queueing.
    ///
    /// - Returns: the bytes sent, or a negative libuv error code; `UV_EAGAIN` means the kernel's
    ///   buffer was full (or libuv still has queued sends) and nothing was sent; `UV_EBADF` means
    ///   the socket is closed.
    @inline(__always)
    public func trySendUnchecked(_ bytes: UnsafeRawBufferPointer, to destination: SocketAddress?) -> Int32 {
        // After close the handle's memory is libuv's to free: touching it would be a use after
        // free, and libuv would even open a fresh descriptor on it to send from.
        guard !isClosed else { return Int32(UV_EBADF.rawValue) }
        var buf = uv_buf_init(UnsafeMutablePointer(mutating: bytes.baseAddress?.assumingMemoryBound(to: CChar.self)), UInt32(bytes.count))
        if let destination, remote == nil {
            return destination.withSockAddr { sa, _ in uv_udp_try_send(handle, &buf, 1, sa) }
        }
        return uv_udp_try_send(handle, &buf, 1, nil)
    }

    private func resolveDestination(_ destination: SocketAddress?) throws(SocketError) -> SocketAddress {
        switch (destination, remote) {
        case (nil, let remote?): return remote
        case (nil, nil):
            throw SocketError(.notConnected, operation: "send", message: "no destination given and the socket is not connected")
        case (let destination?, nil):
            guard destination.port != 0 else {
                throw SocketError(.portOutOfRange, operation: "send", message: "port 0 is not a destination")
            }
            return destination
        case (.some, .some):
            throw SocketError(.alreadyConnected, operation: "send", message: "a connected socket sends only to its remote address; pass no destination")
        }
    }

    private func queueCopy(_ bytes: UnsafeRawBufferPointer, to destination: SocketAddress?) throws(SocketError) {
        // A queued send keeps pointing at its buffer until the kernel takes it, so it gets a copy.
        let request = UnsafeMutableRawPointer.allocate(byteCount: MemoryLayout<uv_udp_send_t>.size + bytes.count, alignment: 16)
        let send = request.bindMemory(to: uv_udp_send_t.self, capacity: 1)
        let payload = request + MemoryLayout<uv_udp_send_t>.size
        if let base = bytes.baseAddress { payload.copyMemory(from: base, byteCount: bytes.count) }
        var buf = uv_buf_init(payload.assumingMemoryBound(to: CChar.self), UInt32(bytes.count))
        let callback: uv_udp_send_cb = { request, _ in UnsafeMutableRawPointer(request!).deallocate() }
        let rc: Int32
        if let destination, remote == nil {
            rc = destination.withSockAddr { sa, _ in uv_udp_send(send, handle, &buf, 1, sa, callback) }
        } else {
            rc = uv_udp_send(send, handle, &buf, 1, nil, callback)
        }
        if rc < 0 {
            request.deallocate()
            throw SocketError(uvError: rc, operation: "send")
        }
    }

    /// Stops receiving and releases the socket; queued sends are cancelled. Safe to call twice.
    ///
    /// - Parameter completion: Runs once libuv has released the handle.
    public func close(_ completion: (() -> Void)? = nil) {
        loop.assertInEventLoop()
        guard !isClosed else { return }
        isClosed = true
        receiving = false
        // Closed inside its own batch, the socket gets no batch end from libuv; the buffer is free
        // again once this callback returns.
        if loop.receiveBufferBorrower == ObjectIdentifier(self) { loop.receiveBufferBorrower = nil }
        closeCompletion = completion
        UVHandle.close(UVHandle.generic(handle))
    }

    private var closeCompletion: (() -> Void)?

    func closeForShutdown() { close() }

    func handleDidClose() {
        onData = nil
        onReceiveBatchEnd = nil
        onIOError = nil
        let completion = closeCompletion
        let closed = onClose
        closeCompletion = nil
        onClose = nil
        completion?()
        closed?()
    }

    /// The local address the socket is bound to, or nil when unbound.
    public var localSocketAddress: SocketAddress? {
        guard bound, !isClosed else { return nil }
        return SocketAddress.read { sa, length in uv_udp_getsockname(handle, sa, length) }
    }

    /// The local IP address as text, or nil when unbound (flash.net `localAddress`).
    public var localAddress: String? { localSocketAddress?.ipAddress }
    /// The local port, or 0 when unbound (flash.net `localPort`).
    public var localPort: Int { localSocketAddress?.port ?? 0 }
    /// The connected address, or nil (flash.net `remoteAddress`, as a value).
    public var remoteSocketAddress: SocketAddress? { remote }
    /// The connected IP address as text, or nil (flash.net `remoteAddress`).
    public var remoteAddress: String? { remote?.ipAddress }
    /// The connected port, or 0 (flash.net `remotePort`).
    public var remotePort: Int { remote?.port ?? 0 }

    /// The kernel's receive buffer for this socket, in bytes (`SO_RCVBUF` as Linux reports it:
    /// twice the size asked for, the other half being its bookkeeping); 0 when unbound or closed.
    public var receiveBufferSize: Int {
        loop.assertInEventLoop()
        guard bound, !isClosed else { return 0 }
        var value: Int32 = 0
        return uv_recv_buffer_size(UVHandle.generic(handle), &value) == 0 ? Int(value) : 0
    }

    /// Asks the kernel for a receive buffer of `bytes`, so a burst that arrives while the loop is
    /// busy waits in the queue instead of being dropped; Linux grants at most
    /// `net.core.rmem_max`, silently.
    ///
    /// - Returns: The size granted, as ``receiveBufferSize`` reports it.
    /// - Throws: ``SocketError`` `.closed`, `.invalidArgument` when `bytes` is not positive or the
    ///   socket is not bound yet.
    @discardableResult
    public func requestReceiveBufferSize(_ bytes: Int) throws(SocketError) -> Int {
        loop.assertInEventLoop()
        try checkOpen("receive buffer")
        guard bytes > 0, bytes <= Int(Int32.max) else {
            throw SocketError(.invalidArgument, operation: "receive buffer", message: "the size must lie in 1...\(Int32.max)")
        }
        guard bound else { throw SocketError(.invalidArgument, operation: "receive buffer", message: "bind the socket first") }
        var value = Int32(bytes)
        try SocketError.check(uv_recv_buffer_size(UVHandle.generic(handle), &value), "receive buffer")
        return receiveBufferSize
    }

    /// Datagrams the kernel has dropped at this socket, most because its receive queue was full:
    /// Linux's `SK_MEMINFO_DROPS` through `SO_MEMINFO` (Linux 4.12 and later), a 32-bit count
    /// that wraps. Nil when the socket is closed or the kernel can't say.
    ///
    /// A relay that falls behind loses datagrams here, before any of its own counters sees them.
    public var receiveQueueDrops: UInt32? {
        loop.assertInEventLoop()
        let fd = fileDescriptor
        guard fd >= 0 else { return nil }
        // SK_MEMINFO_VARS is 9 and SK_MEMINFO_DROPS its last; newer kernels may report more.
        // On the stack: a relay samples this on a timer and its loops allocate nothing at rest.
        return withUnsafeTemporaryAllocation(of: UInt32.self, capacity: 16) { info -> UInt32? in
            info.initialize(repeating: 0)
            var length = socklen_t(info.count * MemoryLayout<UInt32>.size)
            let rc = getsockopt(fd, SOL_SOCKET, Self.soMemInfo, info.baseAddress, &length)
            guard rc == 0, Int(length) >= 9 * MemoryLayout<UInt32>.size else { return nil }
            return info[8]
        }
    }

    /// `SO_MEMINFO` from `<asm-generic/socket.h>`, which Glibc's module does not export.
    private static let soMemInfo: Int32 = 55

    /// The socket's file descriptor, for socket options libuv does not wrap; -1 when there is
    /// none, and once the socket is closed.
    public var fileDescriptor: Int32 {
        guard !isClosed else { return -1 }
        var fd = uv_os_fd_t()
        return uv_fileno(UVHandle.generic(handle), &fd) == 0 ? fd : -1
    }

    private func checkOpen(_ operation: String) throws(SocketError) {
        if isClosed { throw SocketError(.closed, operation: operation, message: "the socket is closed") }
    }

    private static let allocate: uv_alloc_cb = { handle, _, buf in
        let socket = Unmanaged<DatagramSocket>.fromOpaque(handle!.pointee.data).takeUnretainedValue()
        assert(socket.loop.receiveBufferBorrower == nil, "the loop's receive buffer is handed out while a datagram batch borrows it")
        let buffer = socket.loop.receiveBuffer
        buf!.pointee = uv_buf_init(buffer.baseAddress!.assumingMemoryBound(to: CChar.self), UInt32(buffer.count))
    }

    private static let received: uv_udp_recv_cb = { handle, nread, buf, addr, flags in
        guard let data = handle?.pointee.data else { return }
        let socket = Unmanaged<DatagramSocket>.fromOpaque(data).takeUnretainedValue()
        if nread < 0 {
            socket.onIOError?(SocketError(uvError: Int32(nread), operation: "receive"))
            return
        }
        // No address: the end of a recvmmsg batch (UV_UDP_MMSG_FREE) or nothing left (EAGAIN).
        guard let addr else {
            socket.batchEnded()
            return
        }
        // A recvmmsg chunk shares the buffer with the rest of its batch, which ends with the
        // callback above. Anything else came from a plain recvmsg, and libuv may read the next
        // datagram into the same buffer before any batch end: that datagram is a batch of its own.
        let isChunk = flags & UInt32(UV_UDP_MMSG_CHUNK.rawValue) != 0
        if isChunk { socket.loop.receiveBufferBorrower = ObjectIdentifier(socket) }
        defer { if !isChunk { socket.batchEnded() } }
        guard let source = SocketAddress(addr) else { return }
        if let remote = socket.remote, remote != source { return }
        let bytes = UnsafeRawBufferPointer(start: buf!.pointee.base, count: nread)
        socket.onData?(Datagram(bytes: bytes, source: source))
    }

    private func batchEnded() {
        if loop.receiveBufferBorrower == ObjectIdentifier(self) { loop.receiveBufferBorrower = nil }
        // Closed by its own onData: libuv ends no batch for a closed socket either.
        guard !isClosed else { return }
        onReceiveBatchEnd?()
    }
}
