import CoreMetrics
import RelayWire
import UVNet

/// What a data-plane loop tells the control loop on its own initiative (answers to the control
/// loop's requests travel with the request).
enum DataPlaneEvent: Sendable {
    /// The member of this connection proved a new address.
    case bound(connection: ConnectionID, address: SocketAddress)
    /// These connections' members were idle past the timeout and lost their bindings.
    case unbound([ConnectionID])
    /// These sessions were never joined and expired.
    case expired([SessionID])
}

/// The UDP side of the relay on one loop, and the sessions that loop owns: BIND with address
/// validation, DATA forwarding and PING/PONG, checked in the order of PROTOCOL.md §2.3 with
/// every drop counted under its reason.
///
/// Loop-bound to its own loop; with `--threads N` there is one per loop, each with its own
/// socket on the shared port, and the kernel steers every datagram of a session to the loop that
/// owns it. Its ``table`` is plain loop-bound state: no lock on the per-datagram path, and no
/// object shared with another loop. Forwarded bytes go out unchanged, straight from the receive
/// buffer: every copy a receive batch forwards is queued in a ``DatagramBatch`` and sent with one
/// `sendmmsg` when the batch ends, before the next receive can overwrite the buffer. Nothing
/// outlives the batch, so a full kernel buffer drops the datagram (counted).
///
/// In a tick session (PROTOCOL.md §8) a LATEST broadcast is copied into its sender's pending
/// state instead, and the session's timer on this loop runs ``runTick(_:number:)``, which writes each
/// receiver's AGGREGATEs into this loop's scratch slots and sends them through the same batch.
final class DataPlane {
    /// Where the datagrams go: the loop's socket, or functions that stand in for it in benchmarks.
    enum Output {
        /// The loop's UDP socket: replies with `sendmsg`, forwards with one `sendmmsg` per batch.
        case socket(DatagramSocket)
        /// Stand-ins: `flush` takes the batch of forwards, `reply` one BIND_ACK or PONG.
        case injected(flush: (DatagramBatch) -> DatagramBatch.Outcome, reply: (UnsafeRawBufferPointer, SocketAddress) -> Bool)
    }

    /// Where the plane reads the time: its loop's clock, or (without a loop) a manual or the
    /// system's monotonic clock.
    enum Clock {
        /// The loop's ``EventLoop/now``, which tests may drive by hand.
        case loop(EventLoop)
        /// A clock a test moves by hand.
        case manual(ManualClock)
        /// The system's monotonic clock.
        case system
    }

    /// The socket, when the output is one.
    let socket: DatagramSocket?
    /// The sessions this loop owns.
    let table = SessionTable()
    let config: RelayConfig
    private let clock: Clock
    private let cookies: BindCookie
    let notify: @Sendable (DataPlaneEvent) -> Void
    /// This loop's counters; copied to ``published`` after every receive batch. Loop-bound and
    /// bumped per datagram, so without the dynamic exclusivity check.
    @exclusivity(unchecked) var counters = RelayCounters()
    /// The counters and gauges as last published, readable from any thread.
    let published: PublishedCounters
    /// The forwards of the current receive batch, sent in one `sendmmsg` when it ends.
    private let batch: DatagramBatch
    private let flushBatch: (DatagramBatch) -> DatagramBatch.Outcome
    private let sendReply: (UnsafeRawBufferPointer, SocketAddress) -> Bool
    /// Room for a BIND_ACK or PONG: at most the 16-byte header plus a 64-byte PING payload.
    private let reply = UnsafeMutableRawBufferPointer.allocate(byteCount: PacketHeader.size + 64, alignment: 8)
    /// Where a tick's AGGREGATEs are written (PROTOCOL.md §8): ``aggregateSlotCount`` slots of
    /// `maxDatagram` bytes, allocated once per loop. A tick that needs more flushes the batch
    /// and starts over at the first slot, so a session of any size fits.
    private let aggregateSlots: UnsafeMutableRawBufferPointer
    /// Slots written and queued in ``batch`` since the last flush.
    @exclusivity(unchecked) private var aggregateSlotsUsed = 0
    /// The number of tick sessions this loop has created, which places the next one's phase.
    var tickSessionsCreated: UInt64 = 0
    /// Copies for WebSocket members queued during the current receive batch (or tick), handed to
    /// the control loop in one hop when it ends.
    @exclusivity(unchecked) private var outbox = StreamBatch()
    /// Where ``outbox`` goes, and the bound on what may be in flight: set by the relay when the
    /// plane runs beside a control loop. Without it, copies for WebSocket members are dropped.
    var streams: (handoff: StreamHandoff, deliver: @Sendable (StreamBatch) -> Void)?
    /// Bytes in flight toward the control loop as read when ``outbox`` got its first datagram:
    /// one atomic load per hop, not per copy.
    @exclusivity(unchecked) private var outboxBase = 0
    /// Copies for WebSocket members dropped for ``DropReason/backlog`` while the current datagram
    /// was fanned out: counted only if the datagram itself is forwarded.
    @exclusivity(unchecked) private var pendingBacklogDrops = 0
    /// Copies for WebSocket members the current datagram was fanned out to, queued or dropped:
    /// a datagram with one is not `no_target`.
    @exclusivity(unchecked) private var streamCopies = 0
    /// The most bytes ``outbox`` gathers before it is handed over within a batch.
    static let outboxHandOffBytes = 256 << 10

    /// AGGREGATE slots per loop: a tick of a session of 64 members with small states fills
    /// about as many, and one `sendmmsg` of 64 datagrams already amortises the call.
    static let aggregateSlotCount = 64

    /// Receives the duration of each receive batch when metrics are on.
    var batchTimer: CoreMetrics.Timer?
    /// The timers of this plane (kernel drop sampling, the idle sweep); closed with its socket.
    var timers: [UVNet.Timer] = []
    /// The socket's kernel drop count at the last sample (the kernel keeps 32 bits, which wrap).
    private var lastKernelDrops: UInt32?
    /// When the last sweep ran, to tell a stall of this loop from idle peers.
    var lastSweepTime: UInt64 = 0
    @exclusivity(unchecked) private var batchStart: UInt64 = 0
    /// Whether the current receive batch brought a datagram (libuv also ends "batches" that found
    /// the socket empty): its counters need publishing.
    @exclusivity(unchecked) private var batchDirty = false
    /// Whether the current receive batch sent something at once (a forward or a PONG), so the
    /// loop keeps polling after it. States held for a tick wait milliseconds anyway: polling for
    /// the next one would spend CPU to save microseconds nobody sees.
    @exclusivity(unchecked) private var batchSentAtOnce = false
    /// ``RelayConfig/busyPoll`` in nanoseconds.
    private let busyPollNanos: UInt64

    private enum Verdict {
        case drop(DropReason)
        case pong
        case forward
    }

    init(output: Output, clock: Clock, config: RelayConfig, cookies: BindCookie,
         published: PublishedCounters, notify: @escaping @Sendable (DataPlaneEvent) -> Void) {
        self.published = published
        self.clock = clock
        self.config = config
        self.cookies = cookies
        self.notify = notify
        busyPollNanos = UInt64(max(0, config.busyPoll.nanoseconds))
        // Room for a full receive batch at a typical fan-out, and always for one datagram to a full session.
        batch = DatagramBatch(capacity: max(1024, 2 * config.maxSessionCapacity))
        precondition(batch.capacity >= Self.aggregateSlotCount, "a tick's AGGREGATEs must fit the batch")
        aggregateSlots = .allocate(byteCount: Self.aggregateSlotCount * config.maxDatagram, alignment: 8)
        switch output {
        case .socket(let socket):
            self.socket = socket
            // A tick's AGGREGATEs to one receiver go out as one segmented message.
            batch.usesSegmentationOffload = DatagramBatch.segmentationOffloadIsAvailable
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
            publish()
        }
    }

    /// The time on this plane's clock (monotonic nanoseconds).
    @inline(__always)
    var now: UInt64 {
        switch clock {
        case .loop(let loop): loop.now
        case .manual(let manual): manual.nanoseconds
        case .system: MonotonicClock.nanoseconds
        }
    }

    /// Copies the counters and the table's gauges where other threads read them.
    func publish() {
        published.store(counters, gauges: .init(sessions: table.sessions.count, members: table.memberCount,
                                                boundMembers: table.boundMemberCount,
                                                tickSessions: table.tickingSessionCount,
                                                armedTicks: table.armedTickCount))
    }

    /// Adds what the kernel dropped at this loop's socket since the last sample (its receive queue
    /// was full) to the counters, and publishes them: with the receive batches' publishing, this
    /// also brings the ticks' counts out when no datagram arrives. Called on a timer, never per
    /// datagram.
    func sampleKernelDrops() {
        defer { publish() }
        guard let drops = socket?.receiveQueueDrops else { return }
        if let last = lastKernelDrops { counters.udpReceiveQueueDrops &+= UInt64(drops &- last) }
        lastKernelDrops = drops
    }

    deinit {
        reply.deallocate()
        aggregateSlots.deallocate()
    }

    /// Sends the batch's forwards and publishes the counters: the end of a receive batch.
    func batchEnded() {
        flush()
        if batchDirty {
            batchDirty = false
            publish()
            // The next datagram of a game's stream is likely a few tens of microseconds away:
            // waiting for it awake is cheaper in latency than being woken for it.
            if batchSentAtOnce, busyPollNanos > 0, let socket { socket.loop.keepPolling(forNanoseconds: busyPollNanos) }
            batchSentAtOnce = false
        }
        if batchStart != 0 {
            // One histogram update per batch, not per datagram: its lock stays off the per-datagram path.
            batchTimer?.recordNanoseconds(Int64(clamping: now &- batchStart))
            batchStart = 0
        }
    }

    /// Checks one datagram and forwards, answers or drops it.
    func handle(_ datagram: Datagram) {
        let bytes = datagram.bytes
        let now = self.now
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
        if batch.count + config.maxSessionCapacity > batch.capacity || outbox.byteCount > Self.outboxHandOffBytes { flush() }
        let queued = batch.count
        switch decide(header, bytes, source: datagram.source, now: now) {
        case .drop(let reason):
            counters.drop(reason)
        case .pong:
            answer(header, type: PacketType.pong, payload: UnsafeRawBufferPointer(rebasing: bytes[PacketHeader.size...]), to: datagram.source)
            counters.pongsSent &+= 1
            batchSentAtOnce = true
        case .forward:
            // Copies queued: forwarded now, not held as a pending state for the next tick.
            if batch.count != queued || streamCopies > 0 { batchSentAtOnce = true }
        }
    }

    private func flush() {
        handOffStreams()
        guard let outcome = sendBatch() else { return }
        counters.datagramsForwarded &+= UInt64(outcome.sent)
        counters.bytesForwarded &+= UInt64(outcome.bytesSent)
    }

    /// Sends and empties the batch (forwards or AGGREGATEs), counting failed sends; nil when it
    /// was empty.
    @inline(__always)
    private func sendBatch() -> DatagramBatch.Outcome? {
        guard batch.count > 0 else { return nil }
        let outcome = flushBatch(batch)
        batch.removeAll()
        counters.sendFailures &+= UInt64(outcome.failed)
        return outcome
    }

    /// The checks of §2.3 for DATA and PING; queues a forward's copies in ``batch``.
    @inline(__always)
    private func decide(_ header: PacketHeader, _ bytes: UnsafeRawBufferPointer, source: SocketAddress, now: UInt64) -> Verdict {
        guard let sender = table.member(session: header.session, member: header.member) else { return .drop(.unbound) }
        guard let binding = sender.binding else {
            // A WebSocket member's endpoint is its WebSocket: UDP naming it is someone else.
            return .drop(sender.isStream ? .addressMismatch : .unbound)
        }
        guard binding == source else { return .drop(.addressMismatch) }
        // A parsed datagram from the bound address keeps the binding alive, whatever comes next.
        sender.lastSeen = now
        return admit(header, bytes, from: sender, now: now)
    }

    /// The checks of §2.3 after the sender's endpoint: the rate limits, replay and LATEST, and
    /// the fan-out, for a datagram from UDP and from a WebSocket alike.
    @inline(__always)
    private func admit(_ header: PacketHeader, _ bytes: UnsafeRawBufferPointer, from sender: Member, now: UInt64) -> Verdict {
        let size = bytes.count
        streamCopies = 0
        if header.type == PacketType.ping {
            return sender.limiter.admit(bytes: size, nowNanos: now) ? .pong : .drop(.rateLimited)
        }
        guard sender.replay.isFresh(header.sequence) else { return .drop(.duplicate) }
        if header.isLatest, sender.latest.isStale(header.sequence) { return .drop(.stale) }
        let senderID = sender.id
        let session = sender.session
        if let pending = sender.pending, header.isLatest, header.target == PacketHeader.broadcastTarget,
           size - PacketHeader.size <= config.maxAggregatedState {
            return aggregate(header, bytes, from: sender, into: pending, now: now)
        }
        let mark = batch.count
        let outboxMark = outbox.records.count
        pendingBacklogDrops = 0
        if header.target == PacketHeader.broadcastTarget {
            for route in session.routes where route.member != senderID {
                if let endpoint = route.endpoint { forward(bytes, to: endpoint) }
            }
        } else if header.target != senderID, let endpoint = session.endpoint(of: header.target) {
            forward(bytes, to: endpoint)
        }
        guard batch.count > mark || streamCopies > 0 else { return .drop(.noTarget) }
        guard sender.limiter.admit(bytes: size, nowNanos: now) else {
            batch.truncate(to: mark)
            if streamCopies > 0 { outbox.truncate(to: outboxMark) }
            return .drop(.rateLimited)
        }
        if pendingBacklogDrops > 0 { counters.drop(.backlog, count: pendingBacklogDrops) }
        sender.replay.record(header.sequence)
        if header.isLatest { sender.latest.record(header.sequence) }
        return .forward
    }

    /// A LATEST broadcast in a tick session (PROTOCOL.md §8): it passes the rest of §2.3 as a
    /// forward would (a target exists, the rate limits are charged, the sequence is recorded),
    /// then its payload becomes the sender's pending state instead of being sent now.
    @inline(__always)
    private func aggregate(_ header: PacketHeader, _ bytes: UnsafeRawBufferPointer, from sender: Member,
                           into pending: PendingState, now: UInt64) -> Verdict {
        let session = sender.session
        guard session.hasBoundMember(otherThan: sender.id) else { return .drop(.noTarget) }
        guard sender.limiter.admit(bytes: bytes.count, nowNanos: now) else { return .drop(.rateLimited) }
        sender.replay.record(header.sequence)
        sender.latest.record(header.sequence)
        if pending.store(UnsafeRawBufferPointer(rebasing: bytes[PacketHeader.size...]), sequence: header.sequence) {
            counters.statesSuperseded &+= 1
        }
        session.hasChangedStates = true
        if !session.isTickArmed { armTick(session) }
        return .forward
    }

    // MARK: Ticks

    /// Runs one tick of a tick session (PROTOCOL.md §8): tick `number` (by default the last
    /// one's plus one), in which
    /// every bound member gets the states of the other members that changed since the last tick,
    /// in member-id order, in as many AGGREGATEs of at most `maxDatagram` bytes as they take.
    /// Those are written into the loop's scratch slots and sent with `sendmmsg`; nothing is
    /// allocated. A member with no entries gets nothing; a send the kernel refuses is dropped and
    /// counted, as forwards are.
    func runTick(_ session: Session, number: UInt32? = nil) {
        session.tickNumber = number ?? session.tickNumber &+ 1
        guard session.hasChangedStates else { return }
        session.hasChangedStates = false
        // Timers run between receive batches, so this is empty; the batch is shared all the same.
        flush()
        let tick = session.tickNumber
        let low = session.id.low32
        // Join order, and ids count up at join: member-id order, as the entries must be.
        let members = session.members
        for route in session.routes {
            guard let endpoint = route.endpoint else { continue }
            let receiver = route.member
            var encoder: AggregateEncoder?
            var isFirst = true
            for member in members where member.id != receiver {
                guard let state = member.pending, state.isChanged else { continue }
                if encoder?.append(member: member.id, sequence: state.sequence, payload: state.payload) == true { continue }
                if let full = encoder { queueAggregate(full.bytes, to: endpoint, isFirst: &isFirst) }
                var next = AggregateEncoder(into: nextAggregateSlot(), session: low, target: receiver, tick: tick)
                // A state is at most maxDatagram − 24 bytes: it always fits into an empty AGGREGATE.
                next.append(member: member.id, sequence: state.sequence, payload: state.payload)
                encoder = next
            }
            if let last = encoder { queueAggregate(last.bytes, to: endpoint, isFirst: &isFirst) }
            if outbox.byteCount > Self.outboxHandOffBytes { handOffStreams() }
        }
        for member in members { member.pending?.sent() }
        flushAggregates()
        // Not published here: thousands of sessions ticking would take the lock thousands of
        // times a second. The next receive batch, or the kernel-drop sample every second, does.
    }

    /// The next free AGGREGATE slot; when all are queued, sends them first.
    @inline(__always)
    private func nextAggregateSlot() -> UnsafeMutableRawBufferPointer {
        if aggregateSlotsUsed == Self.aggregateSlotCount { flushAggregates() }
        let start = aggregateSlotsUsed * config.maxDatagram
        aggregateSlotsUsed += 1
        return UnsafeMutableRawBufferPointer(rebasing: aggregateSlots[start..<(start + config.maxDatagram)])
    }

    /// Queues one AGGREGATE for `endpoint`: after the tick's first for it, as a segment of the
    /// same message where the offload can take it, so a receiver's several AGGREGATEs walk the
    /// kernel's UDP path once.
    @inline(__always)
    private func queueAggregate(_ bytes: UnsafeRawBufferPointer, to endpoint: Endpoint, isFirst: inout Bool) {
        switch endpoint {
        // Never full: the batch holds at least as many datagrams as there are slots.
        case .udp(let address):
            if isFirst || !batch.appendSegment(bytes) { _ = batch.append(bytes, to: address) }
        case .stream(let connection):
            if !queueForStream(bytes, connection: connection, kind: .aggregate) { counters.drop(.backlog) }
        }
        isFirst = false
    }

    /// Sends the queued AGGREGATEs and frees their slots.
    private func flushAggregates() {
        aggregateSlotsUsed = 0
        handOffStreams()
        guard let outcome = sendBatch() else { return }
        counters.aggregatesSent &+= UInt64(outcome.sent)
        counters.aggregateBytesSent &+= UInt64(outcome.bytesSent)
    }

    /// Queues one copy of a forwarded datagram for `endpoint`.
    @inline(__always)
    private func forward(_ bytes: UnsafeRawBufferPointer, to endpoint: Endpoint) {
        switch endpoint {
        case .udp(let address): _ = batch.append(bytes, to: address)
        case .stream(let connection):
            streamCopies += 1
            if !queueForStream(bytes, connection: connection, kind: .data) { pendingBacklogDrops += 1 }
        }
    }

    // MARK: WebSocket members

    /// Queues a copy for a WebSocket member in ``outbox``, unless the bytes in flight toward the
    /// control loop would pass ``RelayConfig/wsHandoffBytes``.
    ///
    /// - Returns: Whether it was queued; the caller counts a refusal as `backlog`.
    private func queueForStream(_ bytes: UnsafeRawBufferPointer, connection: ConnectionID, kind: StreamBatch.Kind) -> Bool {
        guard let streams else { return false }
        if outbox.isEmpty { outboxBase = streams.handoff.inFlightTowardControl }
        guard outboxBase + outbox.byteCount + bytes.count <= streams.handoff.limit else { return false }
        outbox.append(bytes, connection: connection, kind: kind)
        return true
    }

    /// Hands the copies queued for WebSocket members to the control loop, in one hop.
    private func handOffStreams() {
        guard !outbox.isEmpty, let streams else { return }
        let batch = outbox
        outbox = StreamBatch()
        streams.handoff.sentTowardControl(batch.byteCount)
        streams.deliver(batch)
    }

    /// Handles datagrams WebSocket members sent (PROTOCOL.md §7), handed over by the control
    /// loop: it has already checked their headers and that each names its sender's own
    /// membership. A member bound to its WebSocket needs no BIND: one with the right token gets
    /// an empty BIND_ACK; PINGs get PONGs; the rest is checked and fanned out as from UDP.
    func handleStreamDatagrams(_ datagrams: StreamBatch) {
        let now = self.now
        datagrams.forEach { record, bytes in
            guard let header = PacketHeader(parsing: bytes),
                  let sender = table.member(session: header.session, member: header.member),
                  sender.isStream, sender.connection == record.connection else {
                // The member left (or was kicked) while its datagram crossed to this loop.
                return counters.drop(.unbound)
            }
            if header.type == PacketType.bind {
                let token = UnsafeRawBufferPointer(rebasing: bytes[PacketHeader.size..<(PacketHeader.size + MemberToken.size)])
                guard sender.token.matches(token) else { return counters.drop(.badToken) }
                return answerStream(header, type: PacketType.bindAck, payload: UnsafeRawBufferPointer(start: nil, count: 0),
                                    to: record.connection, kind: .bindAck)
            }
            if batch.count + config.maxSessionCapacity > batch.capacity || outbox.byteCount > Self.outboxHandOffBytes { flush() }
            switch admit(header, bytes, from: sender, now: now) {
            case .drop(let reason):
                counters.drop(reason)
            case .pong:
                answerStream(header, type: PacketType.pong, payload: UnsafeRawBufferPointer(rebasing: bytes[PacketHeader.size...]),
                             to: record.connection, kind: .pong)
            case .forward:
                break
            }
        }
        streams?.handoff.arrivedAtOwner(datagrams.byteCount)
        flush()
        publish()
    }

    /// Queues the datagram's own header with a new type and `payload` for a WebSocket member:
    /// its BIND_ACK or PONG.
    private func answerStream(_ header: PacketHeader, type: UInt8, payload: UnsafeRawBufferPointer,
                              to connection: ConnectionID, kind: StreamBatch.Kind) {
        if !queueForStream(writeReply(header, type: type, payload: payload), connection: connection, kind: kind) {
            counters.drop(.backlog)
        }
    }

    /// Writes the datagram's own header with a new type, then `payload`, into the reply buffer.
    private func writeReply(_ header: PacketHeader, type: UInt8, payload: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        header.replying(as: type).write(to: reply)
        if payload.count > 0 {
            UnsafeMutableRawBufferPointer(rebasing: reply[PacketHeader.size...]).copyMemory(from: payload)
        }
        return UnsafeRawBufferPointer(rebasing: reply[..<(PacketHeader.size + payload.count)])
    }

    private func handleBind(_ header: PacketHeader, _ datagram: Datagram, now: UInt64) {
        let payload = UnsafeRawBufferPointer(rebasing: datagram.bytes[PacketHeader.size...])
        let source = datagram.source
        if let member = table.member(session: header.session, member: header.member), member.isStream {
            // Bound to its WebSocket for good: a BIND over UDP can't move it (PROTOCOL.md §7).
            return counters.drop(.addressMismatch)
        }
        guard let member = table.member(session: header.session, member: header.member),
              member.token.matches(UnsafeRawBufferPointer(rebasing: payload[..<MemberToken.size])) else {
            return counters.drop(.badToken)
        }
        if member.binding == source {
            member.lastSeen = now
            return answer(header, type: PacketType.bindAck, payload: UnsafeRawBufferPointer(start: nil, count: 0), to: source)
        }
        if payload.count == MemberToken.size {
            guard member.cookieAnswers.tryRecord(nowNanos: now) else { return counters.drop(.rateLimited) }
            var cookie = cookies.make(session: member.session.id, member: member.id, address: source, nowNanos: now)
            return withUnsafeBytes(of: &cookie) { answer(header, type: PacketType.bindAck, payload: $0, to: source) }
        }
        let cookie = UnsafeRawBufferPointer(rebasing: payload[MemberToken.size...]).loadUnaligned(as: UInt64.self)
        guard cookies.verify(cookie, session: member.session.id, member: member.id, address: source, nowNanos: now) else {
            return counters.drop(.badToken)
        }
        if member.binding == nil { counters.binds &+= 1 } else { counters.rebinds &+= 1 }
        table.setBinding(member, to: source)
        member.lastSeen = now
        answer(header, type: PacketType.bindAck, payload: UnsafeRawBufferPointer(start: nil, count: 0), to: source)
        // The gauges first, so whoever reads them after the `bound` event sees this binding.
        publish()
        if member.connection != 0 { notify(.bound(connection: member.connection, address: source)) }
    }

    /// Sends the datagram's own header back with a new type and `payload`: BIND_ACK and PONG.
    private func answer(_ header: PacketHeader, type: UInt8, payload: UnsafeRawBufferPointer, to address: SocketAddress) {
        let sent = sendReply(writeReply(header, type: type, payload: payload), address)
        if !sent {
            counters.sendFailures &+= 1
        } else if type == PacketType.bindAck {
            counters.bindAcksSent &+= 1
        }
    }

}

/// One loop's counters and gauges as last published, readable from any thread.
final class PublishedCounters: @unchecked Sendable {
    // @unchecked: `value` is only touched under `lock` (a pthread mutex, which the thread
    // sanitizer understands, unlike Synchronization.Mutex on this toolchain).
    private let lock = Lock()
    private var value = RelayCounters()
    private var gauges = Gauges()

    /// What a loop's session table holds.
    struct Gauges {
        /// Sessions the loop owns.
        var sessions = 0
        /// Members of those sessions.
        var members = 0
        /// Members with a UDP binding.
        var boundMembers = 0
        /// Tick sessions, each with its tick timer open.
        var tickSessions = 0
        /// Tick sessions whose timer is armed: a pending state waits for its tick.
        var armedTicks = 0
    }

    /// Replaces the published counters and gauges.
    func store(_ counters: RelayCounters, gauges: Gauges) {
        lock.withLock {
            value = counters
            self.gauges = gauges
        }
    }

    /// The counters as last published.
    func load() -> RelayCounters {
        lock.withLock { value }
    }

    /// The gauges as last published.
    func loadGauges() -> Gauges {
        lock.withLock { gauges }
    }
}
