import CLibUV

/// Datagrams queued to go out together in one `sendmmsg` call: borrowed bytes and a destination each.
///
/// The relay's fan-out shape: everything one receive batch forwards is appended here and sent
/// with one system call when the batch ends. The bytes are not copied, so they must stay valid
/// until ``flush(on:)`` (the loop's receive buffer does, until the next receive). Storage is
/// allocated once; appending and flushing never allocate. Loop-bound, like its socket.
///
/// With ``usesSegmentationOffload``, consecutive datagrams to one destination can share one
/// message (``appendSegment(_:)``): Linux's UDP segmentation offload walks the IP stack once for
/// all of them and cuts them apart at the end, which is where most of a send's cost lies.
public final class DatagramBatch {
    /// The most datagrams the batch holds; ``append(_:to:)`` refuses more until a flush.
    public let capacity: Int
    /// The number of messages queued: one per datagram, but for the segments
    /// ``appendSegment(_:)`` adds to a message. Read and bumped once per forwarded copy on one
    /// loop, so without the dynamic exclusivity check.
    @exclusivity(unchecked) public private(set) var count = 0
    /// Whether ``appendSegment(_:)`` may join datagrams into one message (UDP segmentation
    /// offload). Off by default: only a batch flushed on a real socket of a kernel that has the
    /// offload (``segmentationOffloadIsAvailable``) should turn it on. A flush turns it off
    /// for good when the kernel refuses a segmented message (a route that can't take it).
    @exclusivity(unchecked) public var usesSegmentationOffload = false
    /// The number of iovecs in use: one per datagram, across all messages.
    @exclusivity(unchecked) private var vectorCount = 0
    private let headers: UnsafeMutablePointer<cuv_mmsghdr>
    private let vectors: UnsafeMutablePointer<iovec>
    private let addresses: UnsafeMutablePointer<sockaddr_in6>
    /// Each message's UDP_SEGMENT control message, used when it carries more than one datagram.
    private let controls: UnsafeMutableRawPointer
    private let controlSize = Int(cuv_segment_control_size())

    /// Whether this kernel has UDP segmentation offload (Linux 4.18+), checked once.
    public static let segmentationOffloadIsAvailable = cuv_supports_udp_segment() != 0

    /// The most datagrams one segmented message carries (the kernel's limit on older kernels).
    public static let maxSegmentsPerMessage = 64
    /// The most payload bytes one segmented message carries: under the 64 KiB of one IP packet.
    public static let maxSegmentedBytes = 60_000

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
        controls = .allocate(byteCount: capacity * Int(cuv_segment_control_size()), alignment: 8)
    }

    deinit {
        headers.deallocate()
        vectors.deallocate()
        addresses.deallocate()
        controls.deallocate()
    }

    /// Queues `bytes` for `destination`; false when the batch is full (flush, then append again).
    @inline(__always)
    public func append(_ bytes: UnsafeRawBufferPointer, to destination: SocketAddress) -> Bool {
        guard count < capacity, vectorCount < capacity else { return false }
        let index = count
        vectors[vectorCount] = iovec(iov_base: UnsafeMutableRawPointer(mutating: bytes.baseAddress), iov_len: bytes.count)
        let slot = UnsafeMutableRawPointer(addresses + index)
        let length = destination.withSockAddr { sa, length -> socklen_t in
            slot.copyMemory(from: sa, byteCount: Int(length))
            return length
        }
        headers[index].msg_hdr = msghdr(msg_name: slot, msg_namelen: length, msg_iov: vectors + vectorCount, msg_iovlen: 1,
                                        msg_control: nil, msg_controllen: 0, msg_flags: 0)
        count += 1
        vectorCount += 1
        return true
    }

    /// Queues `bytes` as one more datagram of the last message, to the same destination, when
    /// segmentation offload can carry it there: the message's datagrams so far are all as long as
    /// its first, `bytes` is no longer than that (a shorter one ends the message), and the
    /// message stays within ``maxSegmentsPerMessage`` and ``maxSegmentedBytes``.
    ///
    /// - Returns: false when it can't (the caller appends it as a message of its own).
    @inline(__always)
    public func appendSegment(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard usesSegmentationOffload, count > 0, vectorCount < capacity, bytes.count > 0 else { return false }
        let index = count - 1
        let first = headers[index].msg_hdr.msg_iov!
        let segments = Int(headers[index].msg_hdr.msg_iovlen)
        let size = first.pointee.iov_len
        guard bytes.count <= size, size <= Int(UInt16.max), vectors[vectorCount - 1].iov_len == size,
              segments < Self.maxSegmentsPerMessage, size * segments + bytes.count <= Self.maxSegmentedBytes else { return false }
        vectors[vectorCount] = iovec(iov_base: UnsafeMutableRawPointer(mutating: bytes.baseAddress), iov_len: bytes.count)
        vectorCount += 1
        headers[index].msg_hdr.msg_iovlen = segments + 1
        if segments == 1 {
            cuv_set_segment_size(&headers[index].msg_hdr, controls + index * controlSize, UInt16(size))
        }
        return true
    }

    /// The number of datagrams queued: ``count`` plus the extra segments of segmented messages.
    public var datagramCount: Int { vectorCount }

    /// The payload size of queued datagram `index`.
    public func length(at index: Int) -> Int {
        precondition(index < count)
        let header = headers[index].msg_hdr
        var total = 0
        for segment in 0..<Int(header.msg_iovlen) { total += header.msg_iov![segment].iov_len }
        return total
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
    /// only as long as the memory given to ``append(_:to:)``. A message of one datagram only.
    @_spi(Benchmarks)
    public func bytes(at index: Int) -> UnsafeRawBufferPointer {
        precondition(index >= 0 && index < count, "no queued datagram \(index) of \(count)")
        precondition(headers[index].msg_hdr.msg_iovlen == 1, "datagram \(index) is a segmented message")
        let vector = headers[index].msg_hdr.msg_iov!.pointee
        return UnsafeRawBufferPointer(start: vector.iov_base, count: vector.iov_len)
    }

    /// Forgets every queued datagram without sending it.
    public func removeAll() {
        count = 0
        vectorCount = 0
    }

    /// Forgets the datagrams queued after the first `newCount`, as if never appended.
    public func truncate(to newCount: Int) {
        precondition(newCount >= 0 && newCount <= count)
        if newCount < count { vectorCount = headers[newCount].msg_hdr.msg_iov - vectors }
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
    /// full) is dropped and counted, never queued: a late game update is worth nothing. A
    /// segmented message the kernel refuses as such (`EINVAL`, `EIO`, `EMSGSIZE`: a route or
    /// device without the offload) goes out one datagram at a time, and the batch stops
    /// segmenting.
    @discardableResult
    public func flush(on socket: DatagramSocket) -> Outcome {
        let fd = socket.fileDescriptor
        var outcome = Outcome(sent: 0, bytesSent: 0, failed: 0)
        guard count > 0 else { return outcome }
        guard fd >= 0 else {
            outcome.failed = vectorCount
            removeAll()
            return outcome
        }
        var offset = 0
        while offset < count {
            let sent = Int(cuv_sendmmsg(fd, headers + offset, UInt32(count - offset)))
            if sent > 0 {
                for index in offset..<(offset + sent) {
                    let header = headers[index].msg_hdr
                    outcome.sent += Int(header.msg_iovlen)
                    for segment in 0..<Int(header.msg_iovlen) { outcome.bytesSent += header.msg_iov![segment].iov_len }
                }
                offset += sent
                continue
            }
            let error = cuv_errno()
            if error == EINTR { continue }
            if error == EAGAIN || error == EWOULDBLOCK {
                outcome.failed += vectorCount - (headers[offset].msg_hdr.msg_iov - vectors)
                break
            }
            let segments = Int(headers[offset].msg_hdr.msg_iovlen)
            if segments > 1, error == EINVAL || error == EIO || error == EMSGSIZE {
                usesSegmentationOffload = false
                sendOneByOne(offset, fd: fd, into: &outcome)
            } else {
                // The message failed for its own reason (say, an unreachable destination): skip it.
                outcome.failed += segments
            }
            offset += 1
        }
        removeAll()
        return outcome
    }

    /// Sends the datagrams of segmented message `index` as messages of their own, reusing its header.
    private func sendOneByOne(_ index: Int, fd: Int32, into outcome: inout Outcome) {
        let first = headers[index].msg_hdr.msg_iov!
        let segments = Int(headers[index].msg_hdr.msg_iovlen)
        headers[index].msg_hdr.msg_control = nil
        headers[index].msg_hdr.msg_controllen = 0
        headers[index].msg_hdr.msg_iovlen = 1
        for segment in 0..<segments {
            headers[index].msg_hdr.msg_iov = first + segment
            var result: Int32
            repeat { result = cuv_sendmmsg(fd, headers + index, 1) } while result < 0 && cuv_errno() == EINTR
            if result == 1 {
                outcome.sent += 1
                outcome.bytesSent += first[segment].iov_len
            } else {
                outcome.failed += 1
            }
        }
    }
}
