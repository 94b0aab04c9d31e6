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
/// socket on the shared port. Decisions are taken under the ``SharedRegistry`` lock and the
/// sends made after it is released. Forwarded bytes go out unchanged, straight from the
/// receive buffer, with a synchronous send per target; nothing is queued, so a full kernel
/// buffer drops the datagram (counted) rather than keeping a pointer the next receive overwrites.
final class DataPlane {
    let socket: DatagramSocket
    let loop: EventLoop
    private let shared: SharedRegistry
    private let config: RelayConfig
    private let cookies: BindCookie
    private let notify: @Sendable (DataPlaneEvent) -> Void
    /// This loop's counters; copied to ``published`` after every receive batch.
    private(set) var counters = RelayCounters()
    /// The counters as of the last receive batch, readable from any thread.
    let published: PublishedCounters
    /// The bound addresses of the current datagram's targets, reused so fan-out never allocates.
    private var targets: [SocketAddress] = []
    /// Room for a BIND_ACK or PONG: at most the 16-byte header plus a 64-byte PING payload.
    private let reply = UnsafeMutableRawBufferPointer.allocate(byteCount: PacketHeader.size + 64, alignment: 8)

    /// Receives the duration of each receive batch when metrics are on.
    var batchTimer: CoreMetrics.Timer?
    private var batchStart: UInt64 = 0
    private var batchDirty = false

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

    init(socket: DatagramSocket, shared: SharedRegistry, config: RelayConfig, cookies: BindCookie,
         published: PublishedCounters, notify: @escaping @Sendable (DataPlaneEvent) -> Void) {
        self.socket = socket
        self.published = published
        self.loop = socket.loop
        self.shared = shared
        self.config = config
        self.cookies = cookies
        self.notify = notify
        targets.reserveCapacity(config.maxSessionCapacity)
        socket.onData = { [unowned self] datagram in self.handle(datagram) }
        socket.onReceiveBatchEnd = { [unowned self] in self.batchEnded() }
    }

    deinit { reply.deallocate() }

    private func batchEnded() {
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
        targets.removeAll(keepingCapacity: true)
        let verdict = shared.withLock { registry in decide(header, size: bytes.count, source: datagram.source, now: now, registry) }
        switch verdict {
        case .drop(let reason):
            counters.drop(reason)
        case .pong:
            answer(header, type: PacketType.pong, payload: UnsafeRawBufferPointer(rebasing: bytes[PacketHeader.size...]), to: datagram.source)
            counters.pongsSent &+= 1
        case .forward:
            for address in targets { send(bytes, to: address) }
        }
    }

    /// The checks of §2.3 for DATA and PING; fills ``targets`` for a forward. Under the lock.
    private func decide(_ header: PacketHeader, size: Int, source: SocketAddress, now: UInt64, _ registry: SessionRegistry) -> Verdict {
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
        if header.target == PacketHeader.broadcastTarget {
            for member in sender.session.members where member !== sender {
                if let address = member.binding { targets.append(address) }
            }
        } else if let target = sender.session.member(id: header.target), target !== sender, let address = target.binding {
            targets.append(address)
        }
        guard !targets.isEmpty else { return .drop(.noTarget) }
        guard sender.limiter.admit(bytes: size, nowNanos: now) else { return .drop(.rateLimited) }
        sender.replay.record(header.sequence)
        if header.isLatest { sender.latest.record(header.sequence) }
        return .forward
    }

    @inline(__always)
    private func send(_ bytes: UnsafeRawBufferPointer, to address: SocketAddress) {
        let result = socket.trySendUnchecked(bytes, to: address)
        if result >= 0 {
            counters.datagramsForwarded &+= 1
            counters.bytesForwarded &+= UInt64(bytes.count)
        } else {
            counters.sendFailures &+= 1
        }
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
        let result = socket.trySendUnchecked(UnsafeRawBufferPointer(rebasing: reply[..<(PacketHeader.size + payload.count)]), to: address)
        if result < 0 {
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
