import RelayBench
import RelayClient
import RelayWire
import TurnClient
import UVNet

/// The load generator of `gamerelay bench`: simulated members on one event loop that join
/// sessions, send timestamped DATA on a fixed schedule and record what the others receive.
///
/// Each member reaches the relay through a ``BenchTransport``: a GameRelay client, or a TURN
/// allocation with a channel bound to every other member of its session. The schedule, payload,
/// receivers, sequence tracking and latency recording are the same for both; a TURN sender sends
/// one ChannelData per receiver, and "expected" counts each of those. What a member sends (rate,
/// payload sizes) comes from the workload's ``BenchProfile``.
///
/// Every receiver keeps one stream per sender of its session (``ReceiveStreams``: sequence
/// tracking and RFC 3550 jitter), allocated once the members are set up, so the receive path
/// allocates nothing.
///
/// Loop-bound to the generator loop. Sends follow the schedule whatever the relay does (open
/// loop, no coordinated omission): a member that falls behind sends the missed datagrams at once
/// and the lag is recorded. Latency is receive time minus actual send time, recorded with
/// HdrHistogram's correction at the planned interval; datagrams planned during the warm-up are
/// sent but not counted.
///
/// With a tick rate the sessions are tick sessions (PROTOCOL.md §8) and every member sends
/// LATEST broadcasts. The clients hand each AGGREGATE entry to the receive path as an update of
/// its own (decoded in place by RelayWire's ``AggregateDatagram``, nothing allocated); each
/// counts as one delivery, its latency from the send time in its payload to the arrival of the
/// AGGREGATE that carried it, recorded as measured: waiting for the tick is the design, not a
/// stalled sender, so there is nothing to correct for. The AGGREGATEs themselves are counted
/// apart. With LATEST a receiver sees each sender's sequences rising with gaps where the
/// relay superseded a state; the trackers take a gap for what it is, never for a reorder.
///
/// With WebSocket members (PROTOCOL.md §7) the last K members of each session join over a
/// WebSocket of their own, sending and receiving the same timestamped DATA as binary messages.
/// Every delivery then also counts on its receiver's path, UDP or WebSocket, with a latency
/// histogram per path, so the two can be compared within one run.
final class BenchRunner {
    struct Workload: Sendable {
        var sessions: Int
        var members: Int
        /// What each member sends: rate and payload sizes.
        var profile: BenchProfile
        var duration: Duration
        var warmup: Duration
        /// Whether a member's due messages leave in one segmented send (Linux UDP GSO), which
        /// lets one core offer more than a relay core forwards; otherwise each datagram is its
        /// own send, the arrival pattern of game clients. Segments share one size, so this
        /// applies only to a profile with fixed-size payloads.
        var segmentedSends = false
        /// The sessions' tick rate in Hz (1…120), making them tick sessions whose members send
        /// LATEST broadcasts; nil for ordinary sessions.
        var tick: Int? = nil
        /// Whether every DATA carries the LATEST flag; tick runs always set it.
        var latest = false
        /// The members of each session that join over a WebSocket (PROTOCOL.md §7) rather
        /// than UDP: the last ones of the session, so its creator uses UDP unless all do.
        var webSocketMembers = 0

        /// Whether member `index` of a session joins over a WebSocket: the last
        /// ``webSocketMembers`` of each session do.
        func joinsOverWebSocket(_ index: Int) -> Bool {
            index >= members - webSocketMembers
        }
    }

    /// The figures of one run, read on the generator loop when it ends.
    struct Outcome: Sendable {
        var sent: UInt64
        var expected: UInt64
        var delivered: UInt64
        var duplicates: UInt64
        var reordered: UInt64
        var sendFailures: UInt64
        var latency: LatencyRecorder
        var sendLag: LatencyRecorder
        /// The final RFC 3550 jitter of every stream that received two datagrams or more.
        var streamJitterNanos: [Double]
        var generatorCPUNanos: UInt64
        var measuredSeconds: Double
        /// Tick runs: the datagrams that carried the window's updates (AGGREGATEs received from
        /// the window's start to the end of the drain, plus DATA forwarded at once); nil otherwise.
        var datagramsReceived: UInt64?
        /// With WebSocket members: the deliveries to them, and to the UDP members; nil otherwise.
        var deliveredToWebSocket: BenchPathMeasurements?
        var deliveredToUDP: BenchPathMeasurements?
    }

    private final class Member {
        var transport: BenchTransport
        /// With direct TURN peers: the plain socket the other members' channels lead to.
        var inbox: DatagramSocket?
        /// How the other members' receive paths name this sender: its relay member id, or over
        /// TURN its index in the session (the offset of the channel that leads to it).
        var senderID: UInt16 = 0
        /// Picks this member's payload sizes: its session's index × members + its index there.
        let number: Int
        /// Messages this member has sent, warm-up included: the datagram number its sizes use.
        var messagesSent: UInt64 = 0
        var nextPlanned: UInt64 = 0
        /// One stream per other member of the session, made once every member is set up.
        var streams = ReceiveStreams(senders: [])
        /// Whether it joined over a WebSocket: its deliveries count on that path.
        let isWebSocket: Bool
        init(transport: BenchTransport, number: Int, isWebSocket: Bool = false) {
            self.transport = transport
            self.number = number
            self.isWebSocket = isWebSocket
        }
    }

    let loop: EventLoop
    let workload: Workload
    private var members: [Member] = []
    /// The members of each session, to make every receiver's streams once all have their ids.
    private var sessionGroups: [[Member]] = []
    private var ticker: Timer?
    private let interval: UInt64
    private var measureStart: UInt64 = 0
    private var sendEnd: UInt64 = 0
    private var payload: [UInt8]

    private var sent: UInt64 = 0
    private var expected: UInt64 = 0
    private var delivered: UInt64 = 0
    private var duplicates: UInt64 = 0
    private var reordered: UInt64 = 0
    private var sendFailures: UInt64 = 0
    private var latency = LatencyRecorder()
    private var sendLag = LatencyRecorder()
    private var cpuAtStart: UInt64?
    private var cpuAtEnd: UInt64?
    /// Tick runs: the members' AGGREGATE count when the window opened.
    private var aggregatesAtStart = 0
    /// Tick runs: window updates that arrived as DATA, forwarded at once rather than aggregated.
    private var forwardedAtOnce: UInt64 = 0
    /// With WebSocket members: the window's deliveries to them, and to the UDP members.
    private var toWebSocket: BenchPathMeasurements?
    private var toUDP: BenchPathMeasurements?
    /// Called on the generator loop when the measured window opens (`true`) and closes (`false`),
    /// so the caller can sample the relay's CPU time at the same moments.
    var onWindowEdge: ((Bool) -> Void)?
    /// Members (GameRelay) or sessions (TURN) set up so far, for the progress line.
    private var setUpDone = 0
    /// Whether ``run(drain:_:)`` has started sending.
    private var isRunning = false
    private var progressTimer: Timer?

    init(loop: EventLoop, workload: Workload) {
        loop.preconditionInEventLoop()
        self.loop = loop
        self.workload = workload
        interval = UInt64(1e9 / workload.profile.rate)
        payload = [UInt8](repeating: 0xA5, count: max(workload.profile.payload.range.upperBound, 16))
        if workload.webSocketMembers > 0 {
            toWebSocket = BenchPathMeasurements(membersPerSession: workload.webSocketMembers)
            toUDP = BenchPathMeasurements(membersPerSession: workload.members - workload.webSocketMembers)
        }
    }


    /// Connects, creates the sessions, joins and binds every member; calls back with nil or an error.
    ///
    /// - Parameters:
    ///   - tls: The client context every member's control channel is made from; nil for plain.
    ///   - serverName: The name the relay's certificate must carry; `host` when nil.
    func setUp(host: String, port: Int, tls: TLSContext? = nil, serverName: String? = nil,
               _ completion: @escaping (String?) -> Void) {
        var remaining = workload.sessions * workload.members
        var failed = false
        func fail(_ message: String) {
            guard !failed else { return }
            failed = true
            completion(message)
        }
        func memberReady() {
            remaining -= 1
            setUpDone += 1
            if remaining == 0, !failed {
                makeStreams()
                completion(nil)
            }
        }
        /// Creates session `sessionIndex` with `creator`, then joins and binds its members.
        func populate(_ sessionIndex: Int, _ creator: RelayClient) {
            creator.create(capacity: workload.members, tick: workload.tick) { [self] created in
                guard case .success(let session) = created else {
                    if case .failure(let error) = created { fail("create: \(error)") }
                    return
                }
                guard session.tick == workload.tick else {
                    return fail("create: asked for tick \(workload.tick.map(String.init) ?? "none"), the relay made \(session.tick.map(String.init) ?? "none")")
                }
                var group: [Member] = []
                for index in 0..<workload.members {
                    let client = index == 0 ? creator : RelayClient(loop: loop)
                    let member = Member(transport: .gamerelay(client), number: sessionIndex * workload.members + index,
                                        isWebSocket: workload.joinsOverWebSocket(index))
                    members.append(member)
                    group.append(member)
                    client.onData = { [unowned self, unowned member] data in
                        received(from: data.sender, sequence: data.sequence, payload: data.payload, by: member,
                                 aggregated: data.tick != nil)
                    }
                    let join = {
                        client.join(session: session.session, name: "bench") { joined in
                            switch joined {
                            case .failure(let error): fail("join: \(error)")
                            case .success(let membership):
                                member.senderID = membership.member
                                client.bind { bound in
                                    if case .failure(let error) = bound { return fail("bind: \(error)") }
                                    memberReady()
                                }
                            }
                        }
                    }
                    if index == 0 {
                        join()
                    } else {
                        client.connect(host: host, port: port, tls: tls, serverName: serverName,
                                       transport: workload.joinsOverWebSocket(index) ? .webSocket() : .udp) { result in
                            if case .failure(let error) = result { return fail(Self.describe(connectFailure: error, host: host, port: port)) }
                            join()
                        }
                    }
                }
                sessionGroups.append(group)
            }
        }
        for sessionIndex in 0..<workload.sessions {
            let creator = RelayClient(loop: loop)
            creator.connect(host: host, port: port, tls: tls, serverName: serverName,
                            transport: workload.joinsOverWebSocket(0) ? .webSocket() : .udp) { [self] result in
                if case .failure(let error) = result { return fail(Self.describe(connectFailure: error, host: host, port: port)) }
                checkFeatures(creator, fail: fail) {
                    populate(sessionIndex, creator)
                }
            }
        }
    }

    /// For tick runs, asks the relay (`hello`) whether it has tick sessions and whether the
    /// payloads fit an AGGREGATE entry, since a larger one would be forwarded at once and the
    /// run would measure ordinary forwarding; with WebSocket members, whether it offers them.
    /// Then calls `next`. Without either, calls `next` at once.
    private func checkFeatures(_ client: RelayClient, fail: @escaping (String) -> Void, _ next: @escaping () -> Void) {
        guard workload.tick != nil || workload.webSocketMembers > 0 else { return next() }
        client.hello(client: "gamerelay-bench") { [workload] result in
            switch result {
            case .failure(let error):
                fail("hello: \(error)")
            case .success(let hello):
                guard workload.webSocketMembers == 0 || hello.features.contains("websocket") else {
                    return fail("--websocket-members: the relay (\(hello.server)) offers no WebSocket members")
                }
                guard workload.tick != nil else { return next() }
                guard hello.features.contains("tick") else { return fail("--tick: the relay (\(hello.server)) has no tick sessions") }
                let largest = hello.maxDatagram - AggregateEncoder.overhead
                guard workload.profile.payload.range.upperBound <= largest else {
                    return fail("--tick: a \(workload.profile.payload.range.upperBound)-byte payload would be forwarded at once, not aggregated: the relay's maxDatagram is \(hello.maxDatagram), so its tick sessions aggregate states of up to \(largest) bytes")
                }
                next()
            }
        }
    }

    /// A failed connect in one line: a failed TLS handshake says so itself (with the host and
    /// OpenSSL's reason); anything else is prefixed with where the connection went.
    static func describe(connectFailure error: RelayClientError, host: String, port: Int) -> String {
        error.code == .tls ? error.message : "connect to \(host):\(port): \(error)"
    }

    /// Allocates a TURN relayed address for every member, then binds, on each member's
    /// allocation, channel `0x4000 + j` to member `j` of the same session: to `j`'s relayed
    /// address, or with direct peers to a plain UDP socket of `j`'s own; calls back with nil or
    /// an error.
    ///
    /// - Parameters:
    ///   - host: The TURN server's IP literal.
    ///   - credentials: Long-term credentials, or nil for a server without authentication.
    ///   - peers: Where the channels lead.
    func setUpTurn(host: String, port: Int, credentials: TurnCredentials?, peers: TurnPeers,
                   _ completion: @escaping (String?) -> Void) {
        let size = workload.members
        var remaining = workload.sessions
        var failed = false
        func fail(_ message: String) {
            guard !failed else { return }
            failed = true
            completion(message)
        }
        let loopbackFamily = (try? SocketAddress(ipAddress: host, port: 0))?.family ?? .ipv4
        for sessionIndex in 0..<workload.sessions {
            var session: [(member: Member, allocation: TurnAllocation)] = []
            var relayed = [SocketAddress?](repeating: nil, count: size)
            var allocated = 0
            for index in 0..<size {
                let allocation = TurnAllocation(loop: loop, credentials: credentials)
                let member = Member(transport: .turn(allocation, channels: []), number: sessionIndex * size + index)
                member.senderID = UInt16(index)
                members.append(member)
                session.append((member, allocation))
                allocation.onChannelData = { [unowned self, unowned member] channel, payload in
                    received(from: channel &- ChannelData.bindableChannels.lowerBound, sequence: nil, payload: payload, by: member)
                }
                do {
                    try allocation.connect(host: host, port: port)
                    if peers == .direct {
                        let inbox = DatagramSocket(loop: loop)
                        member.inbox = inbox
                        try inbox.bind(localPort: 0, localAddress: loopbackFamily == .ipv4 ? "127.0.0.1" : "::1")
                        try inbox.receive()
                    }
                } catch {
                    return fail("connect to \(host):\(port): \(error)")
                }
                allocation.allocate { [self] result in
                    switch result {
                    case .failure(let error): fail("allocate: \(error)")
                    case .success(let address):
                        relayed[index] = address
                        allocated += 1
                        guard allocated == size else { return }
                        let addresses = relayed.compactMap { $0 }
                        let targets = peers == .direct ? session.compactMap { $0.member.inbox?.localSocketAddress } : addresses
                        guard targets.count == size else { return fail("a member's peer socket has no address") }
                        if peers == .direct { listenDirectly(session.map(\.member), relayed: addresses) }
                        sessionGroups.append(session.map(\.member))
                        bindChannels(session, targets) { [self] error in
                            if let error { return fail(error) }
                            remaining -= 1
                            setUpDone += size
                            if remaining == 0, !failed {
                                makeStreams()
                                completion(nil)
                            }
                        }
                    }
                }
            }
        }
    }

    /// Gives every member one receive stream per other member of its session.
    private func makeStreams() {
        for group in sessionGroups {
            for member in group {
                member.streams = ReceiveStreams(senders: group.lazy.filter { $0 !== member }.map(\.senderID))
            }
        }
    }

    /// Direct peers: a datagram reaches a member's inbox from the sender's relayed address,
    /// which names the sender.
    private func listenDirectly(_ session: [Member], relayed: [SocketAddress]) {
        var senders: [SocketAddress: UInt16] = [:]
        for (index, address) in relayed.enumerated() { senders[address] = UInt16(index) }
        for member in session {
            member.inbox?.onData = { [unowned self, unowned member] datagram in
                guard let sender = senders[datagram.source] else { return }
                received(from: sender, sequence: nil, payload: datagram.bytes, by: member)
            }
        }
    }

    /// Binds every allocation of one session to every other member's peer address; channel
    /// numbers name the peer's index in the session.
    private func bindChannels(_ session: [(member: Member, allocation: TurnAllocation)], _ targets: [SocketAddress],
                              _ completion: @escaping (String?) -> Void) {
        let size = session.count
        var pending = size * (size - 1)
        var failed = false
        for (index, entry) in session.enumerated() {
            for peer in 0..<size where peer != index {
                let channel = ChannelData.bindableChannels.lowerBound + UInt16(peer)
                entry.allocation.bindChannel(to: targets[peer], channel: channel) { result in
                    guard !failed else { return }
                    if case .failure(let error) = result {
                        failed = true
                        return completion("channel bind: \(error)")
                    }
                    pending -= 1
                    guard pending == 0 else { return }
                    for (position, entry) in session.enumerated() {
                        let channels = (0..<size).filter { $0 != position }.map { ChannelData.bindableChannels.lowerBound + UInt16($0) }
                        entry.member.transport = .turn(entry.allocation, channels: channels)
                    }
                    completion(nil)
                }
            }
        }
    }

    /// Sends on schedule for the warm-up plus the duration, waits `drain` for stragglers, then reports.
    func run(drain: Duration, _ completion: @escaping (Outcome) -> Void) {
        let now = MonotonicClock.nanoseconds
        let total = UInt64(members.count)
        // Spread the members' phases over one interval so the load is smooth, not bursty.
        for (index, member) in members.enumerated() {
            member.nextPlanned = now + interval * UInt64(index) / max(total, 1)
        }
        measureStart = now + UInt64(workload.warmup.components.seconds) * 1_000_000_000 + UInt64(workload.warmup.components.attoseconds / 1_000_000_000)
        sendEnd = measureStart + UInt64(workload.duration.components.seconds) * 1_000_000_000 + UInt64(workload.duration.components.attoseconds / 1_000_000_000)
        isRunning = true
        let ticker = Timer(loop: loop)
        self.ticker = ticker
        ticker.start(after: .zero, repeating: .milliseconds(1)) { [unowned self] in
            tick()
            let now = MonotonicClock.nanoseconds
            if cpuAtStart == nil, now >= measureStart {
                aggregatesAtStart = aggregatesReceived
                cpuAtStart = threadCPUNanos()
                onWindowEdge?(true)
            }
            if now >= sendEnd {
                cpuAtEnd = threadCPUNanos()
                onWindowEdge?(false)
                self.ticker?.close()
                self.ticker = nil
                loop.schedule(after: drain) { [unowned self] in completion(outcome()) }
            }
        }
    }

    private func tick() {
        let now = MonotonicClock.nanoseconds
        let sizes = workload.profile.payload
        let latest = workload.latest || workload.tick != nil
        for member in members {
            let first = member.nextPlanned
            var due = 0
            while member.nextPlanned <= now, member.nextPlanned < sendEnd {
                member.nextPlanned += interval
                due += 1
            }
            guard due > 0 else { continue }
            let interval = self.interval
            let transport = member.transport
            if workload.segmentedSends, sizes.isFixed {
                let perMessage = transport.datagramsPerMessage
                // Everything this member owes by now leaves as one burst, stamped with one send time.
                let sentAt = MonotonicClock.nanoseconds
                member.messagesSent += UInt64(due)
                let taken = transport.sendBurst(count: due, payloadSize: sizes.range.lowerBound) { index, bytes in
                    Self.stamp(bytes, planned: first + UInt64(index) * interval, sentAt: sentAt)
                }
                for index in 0..<due {
                    record(planned: first + UInt64(index) * interval, sentAt: sentAt, by: member,
                           reached: min(max(taken - index * perMessage, 0), perMessage))
                }
            } else {
                for index in 0..<due {
                    let planned = first + UInt64(index) * interval
                    let size = sizes.size(sender: member.number, packet: member.messagesSent)
                    member.messagesSent += 1
                    let sentAt = MonotonicClock.nanoseconds
                    let reached = payload.withUnsafeMutableBytes { whole in
                        let bytes = UnsafeMutableRawBufferPointer(rebasing: whole[..<size])
                        Self.stamp(bytes, planned: planned, sentAt: sentAt)
                        return transport.send(UnsafeRawBufferPointer(bytes), latest: latest)
                    }
                    record(planned: planned, sentAt: sentAt, by: member, reached: reached)
                }
            }
        }
    }

    /// The counters the progress line shows, copied at one moment: a handful of integers, so
    /// taking one costs the schedule nothing.
    struct ProgressSnapshot: Sendable, Equatable {
        /// Monotonic time of the snapshot, in nanoseconds.
        var now: UInt64
        /// Members ready out of all, while setting up.
        var membersReady: Int
        var membersTotal: Int
        /// Whether sending has started; until then the run is setting up.
        var isRunning: Bool
        /// When the measured window opens and sending ends (monotonic nanoseconds); 0 before the run.
        var measureStart: UInt64
        var sendEnd: UInt64
        /// The window's counts so far (zero during the warm-up).
        var sent: UInt64
        var expected: UInt64
        var delivered: UInt64
    }

    /// The counters now, for the progress line.
    func progressSnapshot() -> ProgressSnapshot {
        ProgressSnapshot(now: MonotonicClock.nanoseconds, membersReady: min(setUpDone, workload.sessions * workload.members),
                         membersTotal: workload.sessions * workload.members, isRunning: isRunning,
                         measureStart: measureStart, sendEnd: sendEnd, sent: sent, expected: expected, delivered: delivered)
    }

    /// Hands a ``ProgressSnapshot`` to `report` every `interval`, from set-up to tear-down, on
    /// this loop's timer: the schedule's own 1 ms ticker never formats or writes anything.
    func startProgress(every interval: Duration, _ report: @escaping (ProgressSnapshot) -> Void) {
        loop.preconditionInEventLoop()
        let timer = Timer(loop: loop)
        progressTimer = timer
        timer.start(after: interval, repeating: interval) { [unowned self] in report(progressSnapshot()) }
    }

    /// Stops the progress reports.
    func stopProgress() {
        progressTimer?.close()
        progressTimer = nil
    }

    /// Writes the planned and actual send times into a payload, and fills the rest.
    @inline(__always)
    private static func stamp(_ bytes: UnsafeMutableRawBufferPointer, planned: UInt64, sentAt: UInt64) {
        bytes.storeBytes(of: planned.bigEndian, toByteOffset: 0, as: UInt64.self)
        bytes.storeBytes(of: sentAt.bigEndian, toByteOffset: 8, as: UInt64.self)
        if bytes.count > 16 { UnsafeMutableRawBufferPointer(rebasing: bytes[16...]).initializeMemory(as: UInt8.self, repeating: 0xA5) }
    }

    /// Counts one planned message of `sender` that reached `reached` of its datagrams' worth
    /// of the kernel.
    @inline(__always)
    private func record(planned: UInt64, sentAt: UInt64, by sender: Member, reached: Int) {
        guard planned >= measureStart else { return }
        let transport = sender.transport
        sendLag.recordRaw(nanoseconds: sentAt &- planned)
        if reached > 0 {
            sent += 1
            expected += UInt64(fanout(of: transport, sent: reached))
            if toWebSocket != nil {
                // The session's other members, split by how they receive.
                let webSocketReceivers = workload.webSocketMembers - (sender.isWebSocket ? 1 : 0)
                toWebSocket!.expected += UInt64(webSocketReceivers)
                toUDP!.expected += UInt64(workload.members - 1 - webSocketReceivers)
            }
        }
        sendFailures += UInt64(transport.datagramsPerMessage - reached)
    }

    /// The receivers one send reaches: the relay fans a GameRelay DATA out to the other
    /// members; each ChannelData the kernel took reaches one.
    @inline(__always)
    private func fanout(of transport: BenchTransport, sent: Int) -> Int {
        if case .gamerelay = transport { return workload.members - 1 }
        return sent
    }

    /// Records one delivery. `sequence` nil (TURN, whose frames carry none) derives it from the
    /// planned send time: a sender's planned times step by exactly `interval`, so
    /// `planned / interval` counts up by one per message. `aggregated`: it came as an AGGREGATE
    /// entry, whose wait for the tick is recorded as measured.
    private func received(from sender: UInt16, sequence: UInt32?, payload: UnsafeRawBufferPointer, by member: Member,
                          aggregated: Bool = false) {
        let now = MonotonicClock.nanoseconds
        guard payload.count >= 16 else { return }
        let planned = UInt64(bigEndian: payload.loadUnaligned(fromByteOffset: 0, as: UInt64.self))
        let sentAt = UInt64(bigEndian: payload.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
        guard planned >= measureStart, planned < sendEnd else { return }
        let sequence = sequence ?? UInt32(truncatingIfNeeded: planned / interval)
        // A sender outside the session (none, with a correct relay) is not a delivery.
        guard let verdict = member.streams.record(sender: sender, sequence: sequence, sentAt: sentAt, receivedAt: now) else { return }
        switch verdict {
        case .duplicate:
            duplicates += 1
            return
        case .reordered:
            reordered += 1
        case .inOrder:
            break
        }
        delivered += 1
        if aggregated {
            latency.recordRaw(nanoseconds: now &- sentAt)
        } else {
            if workload.tick != nil { forwardedAtOnce += 1 }
            latency.record(nanoseconds: now &- sentAt, expectedIntervalNanos: interval)
        }
        if toWebSocket != nil {
            if member.isWebSocket {
                Self.record(now &- sentAt, aggregated: aggregated, interval: interval, on: &toWebSocket!)
            } else {
                Self.record(now &- sentAt, aggregated: aggregated, interval: interval, on: &toUDP!)
            }
        }
    }

    /// Counts one delivery on its receiving path, its latency recorded as the overall one is.
    @inline(__always)
    private static func record(_ nanoseconds: UInt64, aggregated: Bool, interval: UInt64, on path: inout BenchPathMeasurements) {
        path.delivered += 1
        if aggregated {
            path.latency.recordRaw(nanoseconds: nanoseconds)
        } else {
            path.latency.record(nanoseconds: nanoseconds, expectedIntervalNanos: interval)
        }
    }

    /// The AGGREGATE datagrams every member has received so far.
    private var aggregatesReceived: Int {
        members.reduce(0) { total, member in
            if case .gamerelay(let client) = member.transport { return total + client.aggregatesReceived }
            return total
        }
    }

    private func outcome() -> Outcome {
        Outcome(sent: sent, expected: expected, delivered: delivered, duplicates: duplicates, reordered: reordered,
                sendFailures: sendFailures, latency: latency, sendLag: sendLag,
                streamJitterNanos: members.flatMap { $0.streams.jitterNanos },
                generatorCPUNanos: (cpuAtEnd ?? 0) &- (cpuAtStart ?? 0),
                measuredSeconds: Double(sendEnd - measureStart) / 1e9,
                datagramsReceived: workload.tick == nil ? nil : UInt64(max(aggregatesReceived - aggregatesAtStart, 0)) + forwardedAtOnce,
                deliveredToWebSocket: toWebSocket, deliveredToUDP: toUDP)
    }

    /// Closes every client and allocation.
    func tearDown() {
        ticker?.close()
        stopProgress()
        for member in members {
            member.transport.close()
            member.inbox?.close()
        }
        members.removeAll()
        sessionGroups.removeAll()
    }
}
