import CLibUV
import CoreMetrics
import RelayWire
import UVNet

/// The UDP side of the relay: BIND with address validation, DATA forwarding, PING/PONG,
/// checked in the order of PROTOCOL.md §2.3 with every drop counted under its reason.
///
/// Loop-bound to the relay's loop. Forwarded bytes go out unchanged, straight from the receive
/// buffer, with a synchronous send per target; nothing is queued, so a full kernel buffer drops
/// the datagram (counted) rather than holding a pointer the next receive would overwrite.
final class DataPlane {
    let socket: DatagramSocket
    private unowned let server: RelayServer
    private let config: RelayConfig
    private let cookies = BindCookie()
    /// Room for a BIND_ACK or PONG: at most the 16-byte header plus a 64-byte PING payload.
    private let reply = UnsafeMutableRawBufferPointer.allocate(byteCount: PacketHeader.size + 64, alignment: 8)

    /// Receives the duration of each receive batch when metrics are on.
    var batchTimer: CoreMetrics.Timer?
    private var batchStart: UInt64 = 0

    init(socket: DatagramSocket, server: RelayServer, config: RelayConfig) {
        self.socket = socket
        self.server = server
        self.config = config
        socket.onData = { [unowned self] datagram in self.handle(datagram) }
        socket.onReceiveBatchEnd = { [unowned self] in self.batchEnded() }
    }

    private func batchEnded() {
        guard batchStart != 0 else { return }
        // One histogram update per batch, not per datagram: the lock it takes stays off the per-datagram path.
        batchTimer?.recordNanoseconds(Int64(clamping: uv_hrtime() &- batchStart))
        batchStart = 0
    }

    deinit { reply.deallocate() }

    /// Checks one datagram and forwards, answers or drops it.
    func handle(_ datagram: Datagram) {
        let bytes = datagram.bytes
        let now = uv_hrtime()
        if batchStart == 0, batchTimer != nil { batchStart = now }
        server.counters.datagramsReceived &+= 1
        server.counters.bytesReceived &+= UInt64(bytes.count)
        let header: PacketHeader
        switch PacketHeader.classify(bytes, maxDatagram: config.maxDatagram) {
        case .success(let parsed): header = parsed
        case .failure(let reason):
            server.counters.drop(reason)
            return
        }
        if header.type == PacketType.bind {
            handleBind(header, datagram, now: now)
            return
        }
        guard let member = server.registry.member(session: header.session, member: header.member),
              let binding = member.binding else {
            server.counters.drop(.unbound)
            return
        }
        guard binding == datagram.source else {
            server.counters.drop(.addressMismatch)
            return
        }
        // A parsed datagram from the bound address keeps the binding alive, whatever comes next.
        member.lastSeen = now
        if header.type == PacketType.ping {
            guard member.limiter.admit(bytes: bytes.count, nowNanos: now) else {
                server.counters.drop(.rateLimited)
                return
            }
            answer(header, type: PacketType.pong, payload: UnsafeRawBufferPointer(rebasing: bytes[PacketHeader.size...]), to: datagram.source)
            server.counters.pongsSent &+= 1
            return
        }
        forward(header, bytes, from: member, now: now)
    }

    private func forward(_ header: PacketHeader, _ bytes: UnsafeRawBufferPointer, from sender: Member, now: UInt64) {
        guard sender.replay.isFresh(header.sequence) else {
            server.counters.drop(.duplicate)
            return
        }
        if header.isLatest, sender.latest.isStale(header.sequence) {
            server.counters.drop(.stale)
            return
        }
        let session = sender.session
        var unicastTarget: Member?
        if header.target == PacketHeader.broadcastTarget {
            guard session.members.contains(where: { $0 !== sender && $0.binding != nil }) else {
                server.counters.drop(.noTarget)
                return
            }
        } else {
            guard let target = session.member(id: header.target), target !== sender, target.binding != nil else {
                server.counters.drop(.noTarget)
                return
            }
            unicastTarget = target
        }
        guard sender.limiter.admit(bytes: bytes.count, nowNanos: now) else {
            server.counters.drop(.rateLimited)
            return
        }
        sender.replay.record(header.sequence)
        if header.isLatest { sender.latest.record(header.sequence) }
        if let unicastTarget {
            send(bytes, to: unicastTarget)
        } else {
            for member in session.members where member !== sender {
                send(bytes, to: member)
            }
        }
    }

    @inline(__always)
    private func send(_ bytes: UnsafeRawBufferPointer, to member: Member) {
        guard let address = member.binding else { return }
        let result = socket.trySendUnchecked(bytes, to: address)
        if result >= 0 {
            server.counters.datagramsForwarded &+= 1
            server.counters.bytesForwarded &+= UInt64(bytes.count)
        } else {
            server.counters.sendFailures &+= 1
        }
    }

    private func handleBind(_ header: PacketHeader, _ datagram: Datagram, now: UInt64) {
        let payload = UnsafeRawBufferPointer(rebasing: datagram.bytes[PacketHeader.size...])
        guard let member = server.registry.member(session: header.session, member: header.member),
              member.token.matches(UnsafeRawBufferPointer(rebasing: payload[..<MemberToken.size])) else {
            server.counters.drop(.badToken)
            return
        }
        let source = datagram.source
        if member.binding == source {
            member.lastSeen = now
            answer(header, type: PacketType.bindAck, payload: UnsafeRawBufferPointer(start: nil, count: 0), to: source)
            return
        }
        if payload.count == MemberToken.size {
            guard member.cookieAnswers.tryRecord(nowNanos: now) else {
                server.counters.drop(.rateLimited)
                return
            }
            var cookie = cookies.make(session: member.session.id, member: member.id, address: source, nowNanos: now)
            withUnsafeBytes(of: &cookie) { answer(header, type: PacketType.bindAck, payload: $0, to: source) }
            return
        }
        let cookie = UnsafeRawBufferPointer(rebasing: payload[MemberToken.size...]).loadUnaligned(as: UInt64.self)
        guard cookies.verify(cookie, session: member.session.id, member: member.id, address: source, nowNanos: now) else {
            server.counters.drop(.badToken)
            return
        }
        if member.binding == nil { server.counters.binds &+= 1 } else { server.counters.rebinds &+= 1 }
        member.binding = source
        member.lastSeen = now
        answer(header, type: PacketType.bindAck, payload: UnsafeRawBufferPointer(start: nil, count: 0), to: source)
        server.memberBound(member, to: source)
    }

    /// Sends the datagram's own header back with a new type and `payload`: BIND_ACK and PONG.
    private func answer(_ header: PacketHeader, type: UInt8, payload: UnsafeRawBufferPointer, to address: SocketAddress) {
        header.replying(as: type).write(to: reply)
        if payload.count > 0 {
            UnsafeMutableRawBufferPointer(rebasing: reply[PacketHeader.size...]).copyMemory(from: payload)
        }
        let result = socket.trySendUnchecked(UnsafeRawBufferPointer(rebasing: reply[..<(PacketHeader.size + payload.count)]), to: address)
        if result < 0 {
            server.counters.sendFailures &+= 1
        } else if type == PacketType.bindAck {
            server.counters.bindAcksSent &+= 1
        }
    }

    /// Removes bindings that have seen no refreshing datagram for the idle timeout.
    func sweepIdleBindings(now: UInt64) {
        let timeout = config.idleTimeout.nanoseconds
        for member in server.registry.allMembers where member.binding != nil && now &- member.lastSeen >= timeout {
            member.binding = nil
            server.counters.idleUnbinds &+= 1
            server.memberUnbound(member)
        }
    }
}
