import CLibUV
import CoreMetrics
import RelayWire
import UVNet

/// What a data-plane loop tells the control loop.
enum DataPlaneEvent: Sendable {
    /// The member with this registry key proved a new address.
    case bound(memberKey: UInt64, address: SocketAddress)
}

/// The UDP side of the relay on one loop: BIND with address validation, DATA forwarding and
/// PING/PONG, checked in the order of PROTOCOL.md §2.3 with every drop counted under its reason.
///
/// Loop-bound to its own loop; with `--threads N` there is one per loop, each with its own
/// socket on the shared port. Decisions are taken under the ``SharedRegistry`` lock. Forwarded
/// bytes go out unchanged, straight from the receive buffer: every copy a receive batch forwards
/// is queued in a ``DatagramBatch`` and sent with one `sendmmsg` when the batch ends, before the
/// next receive can overwrite the buffer. Nothing outlives the batch, so a full kernel buffer
/// drops the datagram (counted).
final class DataPlane {
    /// Where the datagrams go: the loop's socket, or functions that stand in for it in benchmarks.
    enum Output {
        /// The loop's UDP socket: replies with `sendmsg`, forwards with one `sendmmsg` per batch.
        case socket(DatagramSocket)
        /// Stand-ins: `flush` takes the batch of forwards, `reply` one BIND_ACK or PONG.
        case injected(flush: (DatagramBatch) -> DatagramBatch.Outcome, reply: (UnsafeRawBufferPointer, SocketAddress) -> Bool)
    }

    /// The socket, when the output is one.
    let socket: DatagramSocket?
    private let shared: SharedRegistry
    private let config: RelayConfig
    private let cookies: BindCookie
    private let notify: @Sendable (DataPlaneEvent) -> Void
    /// This loop's counters; copied to ``published`` after every receive batch. Loop-bound and
    /// bumped per datagram, so without the dynamic exclusivity check.
    @exclusivity(unchecked) private(set) var counters = RelayCounters()
    /// The counters as of the last receive batch, readable from any thread.
    let published: PublishedCounters
    /// The forwards of the current receive batch, sent in one `sendmmsg` when it ends.
    private let batch: DatagramBatch
    private let flushBatch: (DatagramBatch) -> DatagramBatch.Outcome
    private let sendReply: (UnsafeRawBufferPointer, SocketAddress) -> Bool
    /// Room for a BIND_ACK or PONG: at most the 16-byte header plus a 64-byte PING payload.
    private let reply = UnsafeMutableRawBufferPointer.allocate(byteCount: PacketHeader.size + 64, alignment: 8)

    /// Receives the duration of each receive batch when metrics are on.
    var batchTimer: CoreMetrics.Timer?
    /// The timer that calls ``sampleKernelDrops()``; kept here so it closes with the plane's socket.
    var sampler: UVNet.Timer?
    /// The socket's kernel drop count at the last sample (the kernel keeps 32 bits, which wrap).
    private var lastKernelDrops: UInt32?
    @exclusivity(unchecked) private var batchStart: UInt64 = 0
    @exclusivity(unchecked) private var batchDirty = false

    private enum Verdict {
        case drop(DropReason)
        case pong
        case forward
    }

    private enum BindVerdict {
        case drop(DropReason)
        case acknowledge
        case cookie(UInt64)
        case bound(memberKey: UInt64)
    }

    init(output: Output, shared: SharedRegistry, config: RelayConfig, cookies: BindCookie,
         published: PublishedCounters, notify: @escaping @Sendable (DataPlaneEvent) -> Void) {
        self.published = published
        self.shared = shared
        self.config = config
        self.cookies = cookies
        self.notify = notify
        // Room for a full receive batch at a typical fan-out, and always for one datagram to a full session.
        batch = DatagramBatch(capacity: max(1024, 2 * config.maxSessionCapacity))
        switch output {
        case .socket(let socket):
            self.socket = socket
            flushBatch = { [unowned socket] batch in batch.flush(on: socket) }
            sendReply = { [unowned socket] bytes, address in socket.trySendUnchecked(bytes, to: address) >= 0 }
        case .injected(let flush, let reply):
            socket = nil
            flushBatch = flush
            sendReply = reply
        }
        socket?.onData = { [unowned self] datagram in self.handle(datagram) }
        socket?.onReceiveBatchEnd = { [unowned self] in self.batchEnded() }
        socket?.onIOError = { [unowned self] _ in
            counters.udpReceiveErrors &+= 1
            published.store(counters)
        }
    }

    /// Adds what the kernel dropped at this loop's socket since the last sample (its receive queue
    /// was full) to the counters, and publishes them. Called on a timer, never per datagram.
    func sampleKernelDrops() {
        guard let drops = socket?.receiveQueueDrops else { return }
        if let last = lastKernelDrops { counters.udpReceiveQueueDrops &+= UInt64(drops &- last) }
        lastKernelDrops = drops
        published.store(counters)
    }

    deinit { reply.deallocate() }

    /// Sends the batch's forwards and publishes the counters: the end of a receive batch.
    func batchEnded() {
        flush()
        if batchStart != 0 {
            // One histogram update per batch, not per datagram: its lock stays off the per-datagram path.
            batchTimer?.recordNanoseconds(Int64(clamping: uv_hrtime() &- batchStart))
            batchStart = 0
        }
        if batchDirty {
            batchDirty = false
            published.store(counters)
        }
    }

    /// Checks one datagram and forwards, answers or drops it.
    func handle(_ datagram: Datagram) {
        let bytes = datagram.bytes
        let now = uv_hrtime()
        if batchStart == 0, batchTimer != nil { batchStart = now }
        batchDirty = true
        counters.datagramsReceived &+= 1
        counters.bytesReceived &+= UInt64(bytes.count)
        let header: PacketHeader
        switch PacketHeader.classify(bytes, maxDatagram: config.maxDatagram) {
        case .success(let parsed): header = parsed
        case .failure(let reason):
            counters.drop(reason)
            return
        }
        if header.type == PacketType.bind {
            handleBind(header, datagram, now: now)
            return
        }
        if batch.count + config.maxSessionCapacity > batch.capacity { flush() }
        let verdict = shared.withLock { registry in decide(header, bytes, source: datagram.source, now: now, registry) }
        switch verdict {
        case .drop(let reason):
            counters.drop(reason)
        case .pong:
            answer(header, type: PacketType.pong, payload: UnsafeRawBufferPointer(rebasing: bytes[PacketHeader.size...]), to: datagram.source)
            counters.pongsSent &+= 1
        case .forward:
            break
        }
    }

    private func flush() {
        guard batch.count > 0 else { return }
        let outcome = flushBatch(batch)
        batch.removeAll()
        counters.datagramsForwarded &+= UInt64(outcome.sent)
        counters.bytesForwarded &+= UInt64(outcome.bytesSent)
        counters.sendFailures &+= UInt64(outcome.failed)
    }

    /// The checks of §2.3 for DATA and PING; queues a forward's copies in ``batch``. Under the lock.
    private func decide(_ header: PacketHeader, _ bytes: UnsafeRawBufferPointer, source: SocketAddress, now: UInt64,
                        _ registry: SessionRegistry) -> Verdict {
        let size = bytes.count
        guard let sender = registry.member(session: header.session, member: header.member), let binding = sender.binding else {
            return .drop(.unbound)
        }
        guard binding == source else { return .drop(.addressMismatch) }
        // A parsed datagram from the bound address keeps the binding alive, whatever comes next.
        sender.lastSeen = now
        if header.type == PacketType.ping {
            return sender.limiter.admit(bytes: size, nowNanos: now) ? .pong : .drop(.rateLimited)
        }
        guard sender.replay.isFresh(header.sequence) else { return .drop(.duplicate) }
        if header.isLatest, sender.latest.isStale(header.sequence) { return .drop(.stale) }
        let mark = batch.count
        let senderID = sender.id
        let session = sender.session
        if header.target == PacketHeader.broadcastTarget {
            for route in session.routes where route.member != senderID {
                if let address = route.address { _ = batch.append(bytes, to: address) }
            }
        } else if header.target != senderID, let address = session.address(of: header.target) {
            _ = batch.append(bytes, to: address)
        }
        guard batch.count > mark else { return .drop(.noTarget) }
        guard sender.limiter.admit(bytes: size, nowNanos: now) else {
            batch.truncate(to: mark)
            return .drop(.rateLimited)
        }
        sender.replay.record(header.sequence)
        if header.isLatest { sender.latest.record(header.sequence) }
        return .forward
    }

    private func handleBind(_ header: PacketHeader, _ datagram: Datagram, now: UInt64) {
        let payload = UnsafeRawBufferPointer(rebasing: datagram.bytes[PacketHeader.size...])
        let source = datagram.source
        let verdict = shared.withLock { registry -> BindVerdict in
            guard let member = registry.member(session: header.session, member: header.member),
                  member.token.matches(UnsafeRawBufferPointer(rebasing: payload[..<MemberToken.size])) else {
                return .drop(.badToken)
            }
            if member.binding == source {
                member.lastSeen = now
                return .acknowledge
            }
            if payload.count == MemberToken.size {
                guard member.cookieAnswers.tryRecord(nowNanos: now) else { return .drop(.rateLimited) }
                return .cookie(cookies.make(session: member.session.id, member: member.id, address: source, nowNanos: now))
            }
            let cookie = UnsafeRawBufferPointer(rebasing: payload[MemberToken.size...]).loadUnaligned(as: UInt64.self)
            guard cookies.verify(cookie, session: member.session.id, member: member.id, address: source, nowNanos: now) else {
                return .drop(.badToken)
            }
            if member.binding == nil { counters.binds &+= 1 } else { counters.rebinds &+= 1 }
            member.binding = source
            member.lastSeen = now
            return .bound(memberKey: member.key)
        }
        switch verdict {
        case .drop(let reason):
            counters.drop(reason)
        case .acknowledge:
            answer(header, type: PacketType.bindAck, payload: UnsafeRawBufferPointer(start: nil, count: 0), to: source)
        case .cookie(var cookie):
            withUnsafeBytes(of: &cookie) { answer(header, type: PacketType.bindAck, payload: $0, to: source) }
        case .bound(let key):
            answer(header, type: PacketType.bindAck, payload: UnsafeRawBufferPointer(start: nil, count: 0), to: source)
            notify(.bound(memberKey: key, address: source))
        }
    }

    /// Sends the datagram's own header back with a new type and `payload`: BIND_ACK and PONG.
    private func answer(_ header: PacketHeader, type: UInt8, payload: UnsafeRawBufferPointer, to address: SocketAddress) {
        header.replying(as: type).write(to: reply)
        if payload.count > 0 {
            UnsafeMutableRawBufferPointer(rebasing: reply[PacketHeader.size...]).copyMemory(from: payload)
        }
        let sent = sendReply(UnsafeRawBufferPointer(rebasing: reply[..<(PacketHeader.size + payload.count)]), address)
        if !sent {
            counters.sendFailures &+= 1
        } else if type == PacketType.bindAck {
            counters.bindAcksSent &+= 1
        }
    }

}

/// One loop's counters as last published, readable from any thread.
final class PublishedCounters: @unchecked Sendable {
    // @unchecked: `value` is only touched under `lock` (a pthread mutex, which the thread
    // sanitizer understands, unlike Synchronization.Mutex on this toolchain).
    private let lock = Lock()
    private var value = RelayCounters()

    /// Replaces the published counters.
    func store(_ counters: RelayCounters) {
        lock.withLock { value = counters }
    }

    /// The counters as last published.
    func load() -> RelayCounters {
        lock.withLock { value }
    }
}
