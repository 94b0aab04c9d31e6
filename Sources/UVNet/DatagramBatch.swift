import CLibUV

/// Datagrams queued to go out together in one `sendmmsg` call: borrowed bytes and a destination each.
///
/// The relay's fan-out shape: everything one receive batch forwards is appended here and sent
/// with one system call when the batch ends. The bytes are not copied, so they must stay valid
/// until ``flush(on:)`` (the loop's receive buffer does, until the next receive). Storage is
/// allocated once; appending and flushing never allocate. Loop-bound, like its socket.
public final class DatagramBatch {
    /// The most datagrams the batch holds; ``append(_:to:)`` refuses more until a flush.
    public let capacity: Int
    /// The number of datagrams queued. Read and bumped once per forwarded copy on one loop, so
    /// without the dynamic exclusivity check.
    @exclusivity(unchecked) public private(set) var count = 0
    private let headers: UnsafeMutablePointer<cuv_mmsghdr>
    private let vectors: UnsafeMutablePointer<iovec>
    private let addresses: UnsafeMutablePointer<sockaddr_in6>

    /// Creates an empty batch with room for `capacity` datagrams.
    public init(capacity: Int = 256) {
        precondition(capacity > 0, "a batch needs room for one datagram")
        self.capacity = capacity
        headers = .allocate(capacity: capacity)
        headers.initialize(repeating: cuv_mmsghdr(), count: capacity)
        vectors = .allocate(capacity: capacity)
        vectors.initialize(repeating: iovec(), count: capacity)
        addresses = .allocate(capacity: capacity)
        addresses.initialize(repeating: sockaddr_in6(), count: capacity)
    }

    deinit {
        headers.deallocate()
        vectors.deallocate()
        addresses.deallocate()
    }

    /// Queues `bytes` for `destination`; false when the batch is full (flush, then append again).
    @inline(__always)
    public func append(_ bytes: UnsafeRawBufferPointer, to destination: SocketAddress) -> Bool {
        guard count < capacity else { return false }
        let index = count
        vectors[index] = iovec(iov_base: UnsafeMutableRawPointer(mutating: bytes.baseAddress), iov_len: bytes.count)
        let slot = UnsafeMutableRawPointer(addresses + index)
        let length = destination.withSockAddr { sa, length -> socklen_t in
            slot.copyMemory(from: sa, byteCount: Int(length))
            return length
        }
        headers[index].msg_hdr = msghdr(msg_name: slot, msg_namelen: length, msg_iov: vectors + index, msg_iovlen: 1,
                                        msg_control: nil, msg_controllen: 0, msg_flags: 0)
        count += 1
        return true
    }

    /// The payload size of queued datagram `index`.
    public func length(at index: Int) -> Int {
        precondition(index < count)
        return vectors[index].iov_len
    }

    /// The destination of queued datagram `index`, read back from its `sendmmsg` header: what
    /// the kernel would be given. For harnesses that record a data plane's output unsent.
    @_spi(Benchmarks)
    public func destination(at index: Int) -> SocketAddress {
        precondition(index >= 0 && index < count, "no queued datagram \(index) of \(count)")
        let name = headers[index].msg_hdr.msg_name!.assumingMemoryBound(to: sockaddr.self)
        // `append` wrote this sockaddr from a SocketAddress, so it always converts back.
        return SocketAddress(name)!
    }

    /// The borrowed bytes of queued datagram `index`, read back from its `sendmmsg` header; valid
    /// only as long as the memory given to ``append(_:to:)``.
    @_spi(Benchmarks)
    public func bytes(at index: Int) -> UnsafeRawBufferPointer {
        precondition(index >= 0 && index < count, "no queued datagram \(index) of \(count)")
        let vector = headers[index].msg_hdr.msg_iov!.pointee
        return UnsafeRawBufferPointer(start: vector.iov_base, count: vector.iov_len)
    }

    /// Forgets every queued datagram without sending it.
    public func removeAll() {
        count = 0
    }

    /// Forgets the datagrams queued after the first `newCount`, as if never appended.
    public func truncate(to newCount: Int) {
        precondition(newCount >= 0 && newCount <= count)
        count = newCount
    }

    /// The outcome of a flush.
    public struct Outcome: Sendable, Equatable {
        /// Datagrams the kernel took.
        public var sent: Int
        /// Payload bytes of those datagrams.
        public var bytesSent: Int
        /// Datagrams dropped: the kernel's buffer was full or the destination refused.
        public var failed: Int

        /// Creates an outcome (for stand-ins of ``DatagramBatch/flush(on:)``).
        public init(sent: Int, bytesSent: Int, failed: Int) {
            self.sent = sent
            self.bytesSent = bytesSent
            self.failed = failed
        }
    }

    /// Sends every queued datagram from `socket`'s descriptor with as few `sendmmsg` calls as the
    /// kernel allows, then empties the batch. What the kernel refuses (`EAGAIN`: its buffer is
    /// full) is dropped and counted, never queued: a late game update is worth nothing.
    @discardableResult
    public func flush(on socket: DatagramSocket) -> Outcome {
        let fd = socket.fileDescriptor
        var outcome = Outcome(sent: 0, bytesSent: 0, failed: 0)
        guard count > 0 else { return outcome }
        guard fd >= 0 else {
            outcome.failed = count
            count = 0
            return outcome
        }
        var offset = 0
        while offset < count {
            let sent = Int(cuv_sendmmsg(fd, headers + offset, UInt32(count - offset)))
            if sent > 0 {
                for index in offset..<(offset + sent) { outcome.bytesSent += vectors[index].iov_len }
                outcome.sent += sent
                offset += sent
                continue
            }
            let error = cuv_errno()
            if error == EINTR { continue }
            if error == EAGAIN || error == EWOULDBLOCK {
                outcome.failed += count - offset
                break
            }
            // The first message failed for its own reason (say, an unreachable destination): skip it.
            outcome.failed += 1
            offset += 1
        }
        count = 0
        return outcome
    }
}
