import Logging
import RelayWire
import UVNet

#if canImport(Glibc)
import Glibc
#endif

/// The relay of PROTOCOL.md: a control `ServerSocket` and the session directory on the control
/// loop, and ``RelayConfig/threads`` data-plane loops, each with a UDP socket on the shared port
/// and the sessions it owns.
///
/// Loop-bound: create, start and use it on its loop's thread, the control loop, which runs the
/// control connections, their idle timer and the metrics endpoint and nothing else, so no
/// control-channel flood can delay a datagram. Each session belongs to one data-plane loop, which
/// keeps its members, bindings and timers with no lock; a classic BPF program on the shared port
/// (`SO_ATTACH_REUSEPORT_CBPF`) steers every datagram of a session to that loop. The control loop
/// changes a session by sending its owner a message and replies when the owner has answered.
/// Hand the server to other threads inside a ``LoopBound``.
public final class RelayServer {
    /// The control loop: every control socket, connection and timer of the relay runs on it.
    public let loop: EventLoop
    /// The settings the relay was started with.
    public let config: RelayConfig
    let logger: Logger
    /// Which loop owns each live session, its code and its creator.
    let directory: SessionDirectory
    /// The control loop's own counters (connections, sessions, joins, leaves).
    var controlCounters = RelayCounters()
    private let cookies = BindCookie()
    /// The clock every loop of the relay reads, when a test drives time by hand.
    private let manualClock: ManualClock?

    private var controlSocket: ServerSocket?
    /// One data-plane loop: its plane (which owns the loop's UDP socket) and published counters.
    struct DataLoop {
        let loop: EventLoop
        let plane: LoopBound<DataPlane>
        let published: PublishedCounters
        /// The bound on WebSocket members' datagrams in flight between this loop and the control loop.
        let handoff: StreamHandoff
    }
    /// The data-plane loops, in the order they were started: a session's owner is an index here.
    private(set) var dataLoops: [DataLoop] = []
    /// The data-plane loops' event loops, once started: where forwarding runs (a benchmark in
    /// the same process reads their threads' CPU time on them).
    public var dataPlaneLoops: [EventLoop] { dataLoops.map(\.loop) }
    private var connections: [ConnectionID: ControlConnection] = [:]
    private var lastConnectionID: ConnectionID = 0
    /// Whether the kernel steers each session's datagrams to its owner loop.
    public private(set) var isSteering = false
    /// Replaces the loop count the steering program divides by; set before ``start()``. Tests
    /// give 0, which attaching refuses, to drive the relay's fallback to one data-plane loop.
    @_spi(Testing) public var steeringGroupSizeOverride: UInt32?
    /// Connections waiting for a turn: frames left after their budget, or output that drained.
    private var turnQueue: [ControlConnection] = []
    private var turnPending = false
    /// The most control connections at once: `--max-connections`, or fewer where the descriptor
    /// limit less ``RelayConfig/reservedDescriptors`` allows fewer.
    private var connectionLimit = Int.max
    /// Connections, sessions and failed joins per source address (PROTOCOL.md §1.5).
    let sources: SourceLimits
    /// Warnings about errors that peers can cause, at most one per kind and interval.
    var errorLog = ErrorLogThrottle()
    private var sweepTimer: Timer?
    /// Logs a summary of the datagrams dropped, per reason, every ``DropSummary/interval``.
    private var dropReportTimer: Timer?
    private var dropSummary = DropSummary()
    /// When the last sweep ran, to tell a stall of this loop from idle peers.
    private var lastSweep: UInt64 = 0
    private var drainTimer: Timer?
    private var metrics: RelayMetrics?
    private var metricsEndpoint: MetricsEndpoint?
    private var metricsTimer: Timer?

    /// The certificate and key new TLS connections are accepted with (PROTOCOL.md §6); nil
    /// without TLS. ``reloadTLS()`` replaces it; open connections keep the one they began with.
    public private(set) var tlsContext: TLSContext?
    /// Open control connections inside TLS (handshake begun or done).
    public internal(set) var tlsConnectionCount = 0
    /// Open control connections upgraded to a WebSocket (PROTOCOL.md §7).
    public internal(set) var webSocketConnectionCount = 0
    /// Output written to WebSocket connections and not yet taken by the kernel, all together (as
    /// of each connection's last write or progress): past ``RelayConfig/wsBacklogTotalBytes``,
    /// datagrams to every browser are dropped as `backlog`.
    public internal(set) var webSocketUnsentBytes = 0

    /// Whether a drain has begun: `create` and `join` answer `shutting_down`.
    public private(set) var isDraining = false
    private var drainCompleted = false
    /// Called once when a drain ends: every control connection closed or the drain timeout passed.
    public var onDrainComplete: (() -> Void)?

    /// The bound control address, once started.
    public private(set) var controlAddress: SocketAddress?
    /// The bound UDP address, once started.
    public private(set) var udpAddress: SocketAddress?
    /// The bound metrics address, once started with a metrics port.
    public private(set) var metricsAddress: SocketAddress?

    /// Creates a stopped relay. Loop thread only.
    ///
    /// - Parameters:
    ///   - random: The source of session ids, join codes and tokens; the default is the
    ///     system's cryptographic generator, and production must keep it so.
    ///   - clock: A clock for the data-plane loops that a test moves by hand (idle bindings and
    ///     empty sessions are judged by it); nil for real time.
    public init(loop: EventLoop, config: RelayConfig, logger: Logger = Logger(label: "gamerelay"),
                random: any RandomNumberGenerator = SystemRandomNumberGenerator(), clock: ManualClock? = nil) {
        loop.preconditionInEventLoop()
        self.loop = loop
        self.config = config
        self.logger = logger
        directory = SessionDirectory(loops: config.threads, random: random)
        sources = SourceLimits(config: config)
        manualClock = clock
    }

    /// Traffic and drop counters, added up over every loop (data-plane figures as of each loop's
    /// last receive batch).
    public var counters: RelayCounters {
        var total = controlCounters
        for dataLoop in dataLoops { total.add(dataLoop.published.load()) }
        return total
    }

    /// The control port, for replies that name it.
    var controlPort: Int { controlAddress?.port ?? config.port }
    /// The UDP port the relay listens on.
    var udpPort: Int { udpAddress?.port ?? 0 }
    /// The UDP port `hello` and `join` name: ``RelayConfig/advertisedUDPPort`` when clients
    /// reach the relay through a port mapping, else the port it listens on.
    public var advertisedUDPPort: Int { config.advertisedUDPPort ?? udpPort }
    /// The receive buffer the kernel granted the first data loop's UDP socket, in bytes as Linux
    /// reports it (twice the usable size); 0 before ``start()``.
    public private(set) var udpReceiveBuffer = 0

    // MARK: Starting and stopping

    /// Binds and listens on both sockets, and starts the data-plane loops.
    ///
    /// - Throws: ``SocketError`` naming the socket and address that could not be used.
    public func start() throws(SocketError) {
        loop.assertInEventLoop()
        try config.validate(orThrow: "start")
        if let certificate = config.tlsCertificateFile, let key = config.tlsKeyFile {
            tlsContext = try Self.loadTLS(certificate: certificate, key: key)
        }
        var attempts = 0
        while true {
            attempts += 1
            let control = ServerSocket(loop: loop)
            do throws(SocketError) {
                try control.bind(localPort: config.port, localAddress: config.host)
            } catch {
                control.close()
                throw SocketError(error.code, operation: "TCP bind \(config.host):\(config.port)", message: error.message, uvErrorCode: error.uvErrorCode)
            }
            let port = config.udpPort ?? control.localPort
            do throws(SocketError) {
                try startDataLoops(port: port)
            } catch {
                control.close()
                // With --port 0 the kernel picked a TCP port whose UDP twin is taken: pick again.
                if config.port == 0, config.udpPort == nil, error.code == .addressInUse, attempts < 16 { continue }
                throw error
            }
            do throws(SocketError) {
                try control.listen(backlog: 0)
            } catch {
                control.close()
                stop()
                throw error
            }
            control.onConnect = { [unowned self] socket in self.accept(socket) }
            control.onIOError = { [unowned self] error in self.acceptFailed(error, port: "control") }
            controlSocket = control
            controlAddress = control.localSocketAddress
            break
        }
        directory.setLoopCount(dataLoops.count)
        connectionLimit = min(config.maxConnections, Self.connectionLimit(reserving: config.reservedDescriptors))
        if let metricsPort = config.metricsPort {
            try startMetrics(port: metricsPort)
        }
        // From now, so that a stall before the first sweep is told from idle peers too.
        lastSweep = loop.now
        let sweep = Timer(loop: loop)
        sweep.start(after: sweepInterval, repeating: sweepInterval) { [unowned self] in self.sweep() }
        sweepTimer = sweep
        let dropReport = Timer(loop: loop)
        dropReport.start(after: DropSummary.interval, repeating: DropSummary.interval) { [unowned self] in reportDrops() }
        dropReportTimer = dropReport
        var metadata: Logger.Metadata = ["control": "\(controlAddress!)", "udp": "\(udpAddress!)",
                                         "udp_receive_buffer": .stringConvertible(udpReceiveBuffer),
                                         "data_loops": .stringConvertible(dataLoops.count),
                                         "steering": "\(isSteering ? "bpf" : "none")"]
        if let metricsAddress { metadata["metrics"] = "\(metricsAddress)" }
        if let advertised = config.advertisedUDPPort { metadata["advertised_udp_port"] = .stringConvertible(advertised) }
        metadata["max_control_connections"] = .stringConvertible(connectionLimit)
        metadata["tls"] = "\(tlsContext == nil ? "off" : config.tlsRequired ? "required" : "on")"
        logger.info("listening", metadata: metadata)
    }

    /// Starts every data-plane loop with its socket on `port`. With more than one loop the port
    /// is shared with `SO_REUSEPORT`, but only after a plain bind has proven that nobody else
    /// holds it, so two relays never silently split one port.
    private func startDataLoops(port: Int) throws(SocketError) {
        var shared = port
        let reusePort = config.threads > 1
        if reusePort {
            let probe = DatagramSocket(loop: loop)
            defer { probe.close() }
            do throws(SocketError) {
                try probe.bind(localPort: port, localAddress: config.host)
            } catch {
                throw SocketError(error.code, operation: "UDP bind \(config.host):\(port)", message: error.message, uvErrorCode: error.uvErrorCode)
            }
            // Closing releases the port at once; only the handle's memory waits for the callback.
            shared = probe.localPort
            probe.close()
        }
        for index in 1...config.threads {
            do throws(SocketError) {
                try startDataLoop(index: index, port: shared, reusePort: reusePort)
            } catch {
                stopDataLoops()
                throw error
            }
        }
        if reusePort { steerSessions() }
    }

    /// Attaches the program that steers each datagram to its session's owner: the session field
    /// (bytes 4–7 of the payload) modulo the loop count is the socket's index in the port's
    /// group, which is the order the loops bound. Where the kernel refuses, one data-plane loop
    /// serves every session, and the others stop.
    private func steerSessions() {
        let first = dataLoops[0]
        let loops = steeringGroupSizeOverride ?? UInt32(dataLoops.count)
        let gate = StartGate<Void>()
        let plane = first.plane
        first.loop.execute {
            do throws(SocketError) {
                try plane.value.socket?.attachReusePortSteering(wordOffset: 4, groupSize: loops)
                gate.finish(.success(()))
            } catch {
                gate.finish(.failure(error))
            }
        }
        switch gate.wait() {
        case .success:
            isSteering = true
        case .failure(let error):
            logger.warning("the kernel refused the session steering program; running one data-plane loop",
                           metadata: ["error": "\(error.message)", "threads": .stringConvertible(config.threads)])
            let extra = dataLoops[1...]
            dataLoops.removeLast(dataLoops.count - 1)
            for dataLoop in extra { Self.stop(dataLoop) }
        }
    }

    /// The receive buffer each UDP socket asks for. Clients send in bursts (a game tick's worth
    /// at once) and a loop may be busy for a moment; Linux's default of about 200 KiB holds only a
    /// few hundred small datagrams. The kernel caps the request at `net.core.rmem_max`.
    static let udpReceiveBufferBytes = 4 << 20

    /// Asks for ``udpReceiveBufferBytes``; a refusal leaves the kernel's default, which works.
    static func enlargeReceiveBuffer(_ socket: DatagramSocket) {
        _ = try? socket.requestReceiveBufferSize(udpReceiveBufferBytes)
    }

    /// How often each data loop reads its socket's kernel drop count.
    static let kernelDropSampleInterval = Duration.seconds(1)

    /// Starts data-plane loop `index` with its own socket on `port`; waits until it is receiving.
    private func startDataLoop(index: Int, port: Int, reusePort: Bool) throws(SocketError) {
        let dataLoop = EventLoop(name: "relay-data-\(index)", clock: manualClock)
        let gate = StartGate<(LoopBound<DataPlane>, SocketAddress?, Int)>()
        let published = PublishedCounters()
        let handoff = StreamHandoff(limit: config.wsHandoffBytes)
        let (config, cookies, host) = (self.config, self.cookies, self.config.host)
        let control = LoopBound(self, loop: loop)
        let controlLoop = loop
        dataLoop.execute {
            let socket = DatagramSocket(loop: dataLoop)
            do throws(SocketError) {
                try socket.bind(localPort: port, localAddress: host, reusePort: reusePort)
                RelayServer.enlargeReceiveBuffer(socket)
                try socket.receive()
            } catch {
                socket.close()
                gate.finish(.failure(error))
                return
            }
            let plane = DataPlane(output: .socket(socket), clock: .loop(dataLoop), config: config,
                                  cookies: cookies, published: published) { event in
                controlLoop.execute { control.value.dataPlaneEvent(event) }
            }
            plane.streams = (handoff, { batch in
                controlLoop.execute { control.value.deliverToStreams(batch, handoff: handoff) }
            })
            // The kernel's count of datagrams it dropped at this socket, read here on the socket's own loop.
            let sampler = Timer(loop: dataLoop)
            sampler.start(after: RelayServer.kernelDropSampleInterval, repeating: RelayServer.kernelDropSampleInterval) { [unowned plane] in
                plane.sampleKernelDrops()
            }
            // Idle bindings and unjoined sessions expire on the loop that owns them.
            let sweep = Timer(loop: dataLoop)
            let interval = DataPlane.sweepInterval(config)
            plane.lastSweepTime = plane.now
            sweep.start(after: interval, repeating: interval) { [unowned plane] in plane.sweepTick() }
            plane.timers = [sampler, sweep]
            gate.finish(.success((LoopBound(plane, loop: dataLoop), socket.localSocketAddress, socket.receiveBufferSize)))
        }
        switch gate.wait() {
        case .success(let (plane, address, receiveBuffer)):
            dataLoops.append(DataLoop(loop: dataLoop, plane: plane, published: published, handoff: handoff))
            if udpAddress == nil {
                udpAddress = address
                udpReceiveBuffer = receiveBuffer
            }
        case .failure(let error):
            dataLoop.syncShutdown()
            let loopName = config.threads > 1 ? " for data loop \(index)" : ""
            throw SocketError(error.code, operation: "UDP bind \(host):\(port)\(loopName)", message: error.message, uvErrorCode: error.uvErrorCode)
        }
    }

    /// Closes every data loop's socket and ends its thread; waits for each.
    private func stopDataLoops() {
        for dataLoop in dataLoops { Self.stop(dataLoop) }
        dataLoops.removeAll()
        udpAddress = nil
    }

    private static func stop(_ dataLoop: DataLoop) {
        let plane = dataLoop.plane
        dataLoop.loop.execute {
            for timer in plane.value.timers { timer.close() }
            plane.value.table.stopTicking()
            plane.value.socket?.close()
        }
        dataLoop.loop.syncShutdown()
    }

    /// Handles what a data plane reported, on the control loop.
    private func dataPlaneEvent(_ event: DataPlaneEvent) {
        switch event {
        case .bound(let connection, let address):
            // The member may have left between the BIND and this hop to the control loop; then
            // the connection holds no membership of that session any more, or is gone.
            guard let open = connections[connection] else { return }
            open.send(ControlEvent.bound(address: address.description))
            logger.debug("member bound", metadata: Self.memberMetadata(open.member, peer: open.peer, ["udp": "\(address)"]))
        case .unbound(let unbound):
            for connection in unbound {
                guard let open = connections[connection] else { continue }
                open.send(ControlEvent.unbound)
                logger.debug("member unbound: idle", metadata: Self.memberMetadata(open.member, peer: open.peer, [:]))
            }
        case .expired(let sessions):
            for id in sessions {
                sessionDeleted(id)
                logger.info("session expired unjoined", metadata: ["session": "\(id.hex)"])
            }
        }
    }

    /// Runs `work` on the loop that owns a session, then `then` with its answer back on the
    /// control loop. Messages between two loops keep their order, so a session's changes happen
    /// in the order the control loop sent them, and the answers return in the order they were made.
    func onOwner<Answer: Sendable>(_ owner: Int, _ work: @escaping @Sendable (DataPlane) -> Answer,
                                   then: @escaping @Sendable (RelayServer, Answer) -> Void) {
        // After stop() no loop is left to ask, and nobody is left to tell.
        guard owner < dataLoops.count else { return }
        let plane = dataLoops[owner].plane
        let server = LoopBound(self, loop: loop)
        let control = loop
        dataLoops[owner].loop.execute {
            let answer = work(plane.value)
            control.execute { then(server.value, answer) }
        }
    }

    /// Asks every data-plane loop to run a turn and calls `answered` on the control loop once
    /// all have: a loop that is stuck (a handler that never returns) never answers, so neither
    /// does this. What the Agones health pings wait for.
    public func whenDataLoopsAnswer(_ answered: @escaping () -> Void) {
        loop.assertInEventLoop()
        guard !dataLoops.isEmpty else { return }
        let round = LoopBound(DataLoopRound(remaining: dataLoops.count, done: answered), loop: loop)
        let control = loop
        for dataLoop in dataLoops {
            dataLoop.loop.execute { control.execute { round.value.answer() } }
        }
    }

    /// The bound on datagrams in flight toward data-plane loop `owner`; nil once stopped.
    func handoff(toward owner: Int) -> StreamHandoff? {
        owner < dataLoops.count ? dataLoops[owner].handoff : nil
    }

    /// Hands WebSocket members' datagrams to the loop that owns their session, in one hop.
    func handOff(_ batch: StreamBatch, toward owner: Int) {
        guard owner < dataLoops.count else { return }
        dataLoops[owner].handoff.sentTowardOwner(batch.byteCount)
        onOwner(owner) { $0.handleStreamDatagrams(batch) }
    }

    /// Writes the datagrams a data-plane loop fanned out to WebSocket members, each as one binary
    /// message; a member whose unsent output is over its bound misses its copy (`backlog`).
    /// Each connection is flushed once per batch.
    func deliverToStreams(_ batch: StreamBatch, handoff: StreamHandoff) {
        handoff.arrivedAtControl(batch.byteCount)
        var touched: [ControlConnection] = []
        batch.forEach { record, bytes in
            // Gone: the member left or closed while its copy crossed over.
            guard let connection = connections[record.connection] else { return }
            switch connection.writeDatagram(bytes) {
            case .gone:
                return
            case .backlog:
                controlCounters.drop(.backlog)
                return
            case .written:
                break
            }
            switch record.kind {
            case .data:
                controlCounters.datagramsForwarded &+= 1
                controlCounters.bytesForwarded &+= UInt64(bytes.count)
            case .aggregate:
                controlCounters.aggregatesSent &+= 1
                controlCounters.aggregateBytesSent &+= UInt64(bytes.count)
            case .pong: controlCounters.pongsSent &+= 1
            case .bindAck: controlCounters.bindAcksSent &+= 1
            case .fromMember: break
            }
            if !connection.hasUnflushedDatagrams {
                connection.hasUnflushedDatagrams = true
                touched.append(connection)
            }
        }
        for connection in touched { connection.flushDatagrams() }
    }

    /// Runs `work` on the loop that owns a session; nothing comes back.
    func onOwner(_ owner: Int, _ work: @escaping @Sendable (DataPlane) -> Void) {
        guard owner < dataLoops.count else { return }
        let plane = dataLoops[owner].plane
        dataLoops[owner].loop.execute { work(plane.value) }
    }

    /// A session's owner deleted it: the directory, its creator and its source forget it.
    func sessionDeleted(_ id: SessionID) {
        guard let entry = directory.remove(id) else { return }
        controlCounters.sessionsClosed &+= 1
        entry.creator?.sessionDeleted()
        sources.sessionDeleted(by: entry.creatorSource)
    }

    private func startMetrics(port: Int) throws(SocketError) {
        let metrics = RelayMetrics(loops: dataLoops.count)
        let endpoint: MetricsEndpoint
        do throws(SocketError) {
            endpoint = try MetricsEndpoint(loop: loop, host: config.host, port: port, handlers: .init(
                metrics: { [unowned self] in
                    updateMetrics()
                    return metrics.render()
                },
                ready: { [unowned self] in !isDraining }))
        } catch {
            stop()
            throw error
        }
        self.metrics = metrics
        metricsEndpoint = endpoint
        metricsAddress = endpoint.socket.localSocketAddress
        endpoint.onAcceptError = { [unowned self] error in self.acceptFailed(error, port: "metrics") }
        let batchTimer = metrics.batchDuration
        for dataLoop in dataLoops {
            let plane = dataLoop.plane
            dataLoop.loop.execute { plane.value.batchTimer = batchTimer }
        }
        // Counters reach the registry every second as well as on every scrape.
        let timer = Timer(loop: loop)
        timer.start(after: .seconds(1), repeating: .seconds(1)) { [unowned self] in updateMetrics() }
        metricsTimer = timer
    }

    private func updateMetrics() {
        metrics?.update(control: controlCounters, loops: loopCounters, gauges: .init(
            sessions: sessionCount, members: memberCount, boundMembers: boundMemberCount, tickSessions: tickSessionCount,
            controlConnections: connections.count, controlConnectionLimit: connectionLimit, sources: sources.count,
            draining: isDraining, tlsConnections: tlsConnectionCount, tlsCertificateExpiry: tlsContext?.certificateNotAfter ?? 0,
            webSocketConnections: webSocketConnectionCount, webSocketUnsentBytes: webSocketUnsentBytes))
    }

    /// The sweep period of the control loop, the same as the data planes'.
    private var sweepInterval: Duration { DataPlane.sweepInterval(config) }

    /// Closes every socket and timer and ends the data loops; the relay can't be started again.
    public func stop() {
        loop.assertInEventLoop()
        sweepTimer?.close()
        dropReportTimer?.close()
        drainTimer?.close()
        metricsTimer?.close()
        metricsEndpoint?.close()
        controlSocket?.close()
        stopDataLoops()
        for connection in connections.values { connection.finish(reason: .disconnect) }
        connections.removeAll()
        turnQueue.removeAll()
    }

    /// Starts a drain (PROTOCOL.md §5): `shutdown` to every open connection, no new sessions or
    /// joins, and ``onDrainComplete`` once every connection has closed or the drain timeout passed.
    public func beginDrain() {
        loop.assertInEventLoop()
        guard !isDraining else { return }
        isDraining = true
        let drainMs = Int((Double(config.drainTimeout.nanoseconds) / 1e6).rounded(.up))
        logger.notice("draining", metadata: ["connections": .stringConvertible(connections.count), "drainMs": .stringConvertible(drainMs)])
        updateMetrics()
        let event = ControlEvent.shutdown(drainMs: drainMs)
        for connection in connections.values { connection.send(event) }
        drainTimer = loop.schedule(after: config.drainTimeout) { [unowned self] in
            logger.notice("drain timeout passed", metadata: ["connections": .stringConvertible(connections.count)])
            completeDrain()
        }
        if connections.isEmpty { completeDrain() }
    }

    private func completeDrain() {
        guard !drainCompleted else { return }
        drainCompleted = true
        drainTimer?.close()
        // Connections still open are told why they close (PROTOCOL.md §1.4) and half-closed; the
        // kernel sends what they were written even if the process exits next.
        let open = connections.values.filter { $0.state == .open }
        for connection in open { connection.close(for: .drain, leaving: .disconnect) }
        let done = onDrainComplete
        onDrainComplete = nil
        done?()
    }

    // MARK: Connections

    private func accept(_ socket: Socket) {
        let now = loop.now
        let source = socket.remoteSocketAddress.map(SourceLimits.source(of:))
        // At --max-connections, or the descriptor limit less the reserve: shed at once, so
        // /metrics and the relay's own descriptors keep working (PROTOCOL.md §1.5).
        guard connections.count < connectionLimit else { return shed(socket, .connections) }
        if let source, !sources.admitConnection(from: source, nowNanos: now) { return shed(socket, .connectionsPerSource) }
        controlCounters.controlConnectionsAccepted &+= 1
        lastConnectionID += 1
        let connection = ControlConnection(id: lastConnectionID, socket: socket, server: self, source: source, nowNanos: now)
        connections[connection.id] = connection
    }

    // MARK: TLS

    /// The extensions of PROTOCOL.md §6–§8 this relay offers, for `hello`'s `features`.
    var features: [String] { (tlsContext == nil ? [] : ["tls"]) + ["tick", "websocket"] }

    static func loadTLS(certificate: String, key: String) throws(SocketError) -> TLSContext {
        do throws(TLSError) {
            return try TLSContext.server(certificateFile: certificate, keyFile: key)
        } catch {
            throw SocketError(.tls, operation: "tls", message: error.message)
        }
    }

    /// Re-reads the certificate and key files (SIGHUP): connections accepted from now on use the
    /// new pair, open ones keep theirs. A pair that fails to load is logged once and the old one
    /// stays. Without TLS configured it does nothing.
    ///
    /// - Returns: Whether a new pair took effect.
    @discardableResult
    public func reloadTLS() -> Bool {
        loop.assertInEventLoop()
        guard tlsContext != nil, let certificate = config.tlsCertificateFile, let key = config.tlsKeyFile else { return false }
        do throws(SocketError) {
            let context = try Self.loadTLS(certificate: certificate, key: key)
            tlsContext = context
            controlCounters.tlsReloads &+= 1
            logger.notice("tls certificate reloaded", metadata: ["certificate": "\(certificate)", "not_after": .stringConvertible(context.certificateNotAfter)])
            return true
        } catch {
            controlCounters.tlsReloadFailures &+= 1
            logger.error("tls certificate reload failed; keeping the old one", metadata: ["error": "\(error.message)"])
            return false
        }
    }

    /// Closes a connection at accept, without a reply, and counts it against `limit`.
    private func shed(_ socket: Socket, _ limit: RelayLimit) {
        socket.close()
        controlCounters.refuse(limit)
        if errorLog.allow(.shed, nowNanos: loop.now) {
            logger.warning("control connection shed: at a connection limit",
                           metadata: ["limit": "\(limit.name)", "connection_limit": .stringConvertible(connectionLimit),
                                      "per_source": .stringConvertible(config.maxConnectionsPerSource),
                                      "peer": "\(socket.remoteSocketAddress?.description ?? "?")",
                                      "shed_total": .stringConvertible(controlCounters.refusals(.connections) &+ controlCounters.refusals(.connectionsPerSource))])
        }
    }

    /// Counts a refusal of a request for `limit` (the caller answers `rate_limited`).
    func refuse(_ limit: RelayLimit) {
        controlCounters.refuse(limit)
    }

    /// An accept failed (libuv has already shed the pending connection when the cause was `EMFILE`).
    private func acceptFailed(_ error: SocketError, port: String) {
        controlCounters.acceptErrors &+= 1
        if errorLog.allow(.accept, nowNanos: loop.now) {
            logger.warning("accept failed; connections are being shed",
                           metadata: ["port": "\(port)", "error": "\(error.message)", "accept_errors_total": .stringConvertible(controlCounters.acceptErrors)])
        }
    }

    /// The soft descriptor limit less `reserve`, or `Int.max` where there is no limit.
    static func connectionLimit(reserving reserve: Int) -> Int {
        var limit = rlimit()
        guard getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur != rlim_t.max else { return Int.max }
        return max(1, Int(clamping: limit.rlim_cur) - reserve)
    }

    /// Gives `connection` a turn of its own soon: after the I/O this loop turn has already polled,
    /// so every busy connection gets its budget in turn.
    func scheduleTurn(_ connection: ControlConnection) {
        guard !connection.isScheduled else { return }
        connection.isScheduled = true
        turnQueue.append(connection)
        guard !turnPending else { return }
        turnPending = true
        // `execute` rather than a zero timer: libuv 1.44 runs a timer re-armed for "now" from its
        // own callback again at once, which would starve the loop's I/O.
        let server = LoopBound(self, loop: loop)
        loop.execute { server.value.runTurns() }
    }

    private func runTurns() {
        turnPending = false
        let queued = turnQueue
        turnQueue.removeAll(keepingCapacity: true)
        for connection in queued {
            connection.isScheduled = false
            connection.serve()
        }
    }

    /// The number of open control connections.
    public var controlConnectionCount: Int { connections.count }
    /// The control connections in each framing: tests wait on it to know the relay has read
    /// the bytes they sent, not just accepted the connection.
    func connectionCount(framing: ControlConnection.Framing) -> Int {
        connections.values.reduce(0) { $0 + ($1.framing == framing ? 1 : 0) }
    }
    /// The number of live sessions.
    public var sessionCount: Int { directory.count }
    /// The number of members across sessions, as the data-plane loops last published it.
    public var memberCount: Int { dataLoops.reduce(0) { $0 + $1.published.loadGauges().members } }
    /// The number of members with a UDP binding, as the data-plane loops last published it.
    public var boundMemberCount: Int { dataLoops.reduce(0) { $0 + $1.published.loadGauges().boundMembers } }
    /// The number of tick sessions (PROTOCOL.md §8), each with its tick timer open, as the
    /// data-plane loops last published it.
    public var tickSessionCount: Int { dataLoops.reduce(0) { $0 + $1.published.loadGauges().tickSessions } }
    /// The number of tick sessions whose timer is armed (a pending state waits for its tick), as
    /// the data-plane loops last published it: the tick sessions that cost their loop anything.
    public var armedTickCount: Int { dataLoops.reduce(0) { $0 + $1.published.loadGauges().armedTicks } }

    /// Each data-plane loop's counters as last published, in loop order (loop 1 first).
    public var loopCounters: [RelayCounters] { dataLoops.map { $0.published.load() } }

    /// A connection stopped serving requests: its membership ends with `reason`.
    func connectionEnded(_ connection: ControlConnection, reason: LeaveReason) {
        if let member = connection.member {
            connection.member = nil
            removeMember(member, reason: reason)
        }
    }

    /// The open connection with this number, if any.
    func connection(_ id: ConnectionID) -> ControlConnection? {
        connections[id]
    }

    /// The numbers of the open connections upgraded to a WebSocket.
    var webSocketConnectionIDs: [ConnectionID] {
        connections.values.filter(\.isWebSocket).map(\.id)
    }

    /// A connection is fully closed.
    func connectionClosed(_ connection: ControlConnection) {
        connections[connection.id] = nil
        if let source = connection.source { sources.connectionClosed(from: source) }
        if connection.isScheduled { turnQueue.removeAll { $0 === connection } }
        if isDraining, connections.isEmpty { completeDrain() }
    }

    // MARK: Membership events

    /// Ends a membership on its owner, then tells the remaining members, and any new owner.
    func removeMember(_ member: MembershipRef, reason: LeaveReason) {
        controlCounters.leaves &+= 1
        onOwner(member.owner, { $0.leave(member, reason: reason) }, then: { server, removal in
            if let removal { server.announce(removal) }
        })
    }

    /// Sends the `left` and `owner` events of a removal (after the reply of the request that caused it).
    func announce(_ removal: MemberRemoval) {
        logger.info("member left", metadata: ["session": "\(removal.session.hex)", "member": .stringConvertible(removal.member),
                                              "reason": "\(removal.reason)"])
        if removal.sessionDeleted {
            sessionDeleted(removal.session)
            logger.info("session closed", metadata: ["session": "\(removal.session.hex)"])
            return
        }
        let left = ControlEvent.left(member: removal.member, reason: removal.reason)
        for connection in removal.remaining { connections[connection]?.send(left) }
        if let newOwner = removal.newOwner {
            let owner = ControlEvent.owner(member: newOwner)
            for connection in removal.remaining { connections[connection]?.send(owner) }
        }
    }

    // MARK: Timers

    private func sweep() {
        let now = loop.now
        // libuv runs due timers before it polls for I/O, so after a stall of this loop (a paused
        // VM, a starved thread) what peers sent meanwhile is still unread: judging them now would
        // time out live connections for the relay's own pause. Judge after one more poll instead.
        let sinceLast = now &- lastSweep
        let late = sinceLast > sweepInterval.nanoseconds + DataPlane.stallTolerance
        lastSweep = now
        if late {
            logger.warning("relay loop stalled; idle checks wait one more sweep",
                           metadata: ["stall_ms": .stringConvertible((sinceLast - sweepInterval.nanoseconds) / 1_000_000)])
            return
        }
        sources.prune(nowNanos: now)
        let controlIdle = config.controlIdleTimeout.nanoseconds
        let handshakeLimit = min(config.tlsHandshakeTimeout, config.controlIdleTimeout).nanoseconds
        // Filtering first allocates only when someone idled out; closing changes `connections`.
        let silent = connections.values.filter {
            $0.state == .open && (now &- $0.lastActivity >= controlIdle || ($0.isHandshaking && now &- $0.acceptedAt >= handshakeLimit))
        }
        for connection in silent {
            if connection.isHandshaking {
                connection.handshakeTimedOut()
                continue
            }
            logger.debug("control connection idle", metadata: ["peer": "\(connection.peer)"])
            connection.close(for: .idle, leaving: .timeout)
        }
        reportDataPlaneErrors()
        returnMemoryAfterBursts(now: now)
    }

    /// The least time between two ``returnMemoryAfterBursts(now:)`` trims.
    private static let trimInterval: UInt64 = 5_000_000_000
    private var lastTrim: (at: UInt64, closed: UInt64, yielded: UInt64) = (0, 0, 0)

    /// Gives the memory a burst of control traffic used back to the system. The buffers of
    /// connections that closed, and of frames handled in turns, are freed to malloc, but glibc
    /// keeps a fragmented heap mapped; `malloc_trim` returns its free pages. Runs at most every
    /// 5 s, and only after connections closed or yielded turns since the last time.
    private func returnMemoryAfterBursts(now: UInt64) {
        let closed = controlCounters.controlConnectionsAccepted &- UInt64(connections.count)
        let yielded = controlCounters.controlTurnsYielded
        guard now &- lastTrim.at >= Self.trimInterval, closed != lastTrim.closed || yielded != lastTrim.yielded else { return }
        lastTrim = (now, closed, yielded)
        ProcessMemory.releaseFreePages()
    }

    /// Logs one line per drop reason whose count rose since the last report: never a line per datagram.
    private func reportDrops() {
        for line in dropSummary.update(counters) {
            logger.info("datagrams dropped", metadata: ["reason": "\(line.reason)", "new": .stringConvertible(line.new),
                                                        "total": .stringConvertible(line.total)])
        }
    }

    /// A member's session and id, and its peer, for log lines.
    static func memberMetadata(_ member: MembershipRef?, peer: String, _ extra: Logger.Metadata) -> Logger.Metadata {
        var metadata = extra
        metadata["peer"] = "\(peer)"
        if let member {
            metadata["session"] = "\(member.session.hex)"
            metadata["member"] = .stringConvertible(member.member)
        }
        return metadata
    }

    /// Logs (at most once per interval) receive errors the data planes counted since the last report.
    private func reportDataPlaneErrors() {
        let errors = counters.udpReceiveErrors
        guard errors > errorLog.reportedReceiveErrors, errorLog.allow(.receive, nowNanos: loop.now) else { return }
        logger.warning("UDP receive errors", metadata: ["new": .stringConvertible(errors - errorLog.reportedReceiveErrors), "total": .stringConvertible(errors)])
        errorLog.reportedReceiveErrors = errors
    }
}

extension RelayConfig {
    func validate(orThrow operation: String) throws(SocketError) {
        do throws(RelayConfigError) {
            try validate()
        } catch {
            throw SocketError(.invalidArgument, operation: operation, message: error.description)
        }
    }
}

/// One round of ``RelayServer/whenDataLoopsAnswer(_:)``: counts the loops still to answer.
/// Loop-bound to the control loop.
final class DataLoopRound {
    private var remaining: Int
    private var done: (() -> Void)?

    init(remaining: Int, done: @escaping () -> Void) {
        self.remaining = remaining
        self.done = done
    }

    func answer() {
        remaining -= 1
        if remaining == 0, let done {
            self.done = nil
            done()
        }
    }
}
