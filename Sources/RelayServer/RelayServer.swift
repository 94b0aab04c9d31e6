import CLibUV
import Logging
import RelayWire
import UVNet

/// The relay of PROTOCOL.md: a control `ServerSocket`, one UDP `DatagramSocket` per data-plane
/// loop, the session registry, and the timers that expire idle bindings, silent connections and
/// empty sessions.
///
/// Loop-bound: create, start and use it on its loop's thread (the control loop, which also runs
/// the first data plane). With ``RelayConfig/threads`` above 1 the relay starts more loops, each
/// with its own socket on the same UDP port (`SO_REUSEPORT`); they share the registry under a
/// lock. Hand the server to other threads inside a ``LoopBound``.
public final class RelayServer {
    /// The loop every socket and timer of the relay runs on.
    public let loop: EventLoop
    /// The settings the relay was started with.
    public let config: RelayConfig
    let logger: Logger
    let shared: SharedRegistry
    /// The control loop's own counters (connections, sessions, joins, idle unbinds).
    var controlCounters = RelayCounters()
    private let cookies = BindCookie()

    private var controlSocket: ServerSocket?
    /// The data plane on this loop.
    private var dataPlane: DataPlane?
    /// The data planes on the other loops, with their loops.
    private var extraPlanes: [(loop: EventLoop, plane: LoopBound<DataPlane>)] = []
    private var publishedCounters: [PublishedCounters] = []
    private var connections: [ObjectIdentifier: ControlConnection] = [:]
    private var sweepTimer: Timer?
    /// When the last sweep ran (`uv_hrtime`), to tell a stall of this loop from idle peers.
    private var lastSweep: UInt64 = 0
    private var drainTimer: Timer?
    private var metrics: RelayMetrics?
    private var metricsEndpoint: MetricsEndpoint?
    private var metricsTimer: Timer?

    /// Whether a drain has begun: `create` and `join` answer `shutting_down`.
    public private(set) var isDraining = false
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
    /// - Parameter random: The source of session ids, join codes and tokens; the default is the
    ///   system's cryptographic generator, and production must keep it so.
    public init(loop: EventLoop, config: RelayConfig, logger: Logger = Logger(label: "gamerelay"),
                random: any RandomNumberGenerator = SystemRandomNumberGenerator()) {
        loop.preconditionInEventLoop()
        self.loop = loop
        self.config = config
        self.logger = logger
        shared = SharedRegistry(random: random)
    }

    /// Traffic and drop counters, added up over every loop (data-plane figures as of each loop's
    /// last receive batch).
    public var counters: RelayCounters {
        var total = controlCounters
        for published in publishedCounters { total.add(published.load()) }
        return total
    }

    /// The control port, for replies that name it.
    var controlPort: Int { controlAddress?.port ?? config.port }
    /// The UDP port, for replies that name it.
    var udpPort: Int { udpAddress?.port ?? 0 }
    /// The receive buffer the kernel granted the control loop's UDP socket, in bytes as Linux
    /// reports it (twice the usable size); 0 before ``start()``.
    public private(set) var udpReceiveBuffer = 0

    // MARK: Starting and stopping

    /// Binds and listens on both sockets.
    ///
    /// - Throws: ``SocketError`` naming the socket and address that could not be used.
    public func start() throws(SocketError) {
        loop.assertInEventLoop()
        try config.validate(orThrow: "start")
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
            let udp: DatagramSocket
            do throws(SocketError) {
                udp = try bindUDP(port: port)
            } catch {
                control.close()
                // With --port 0 the kernel picked a TCP port whose UDP twin is taken: pick again.
                if config.port == 0, config.udpPort == nil, error.code == .addressInUse, attempts < 16 { continue }
                throw SocketError(error.code, operation: "UDP bind \(config.host):\(port)", message: error.message, uvErrorCode: error.uvErrorCode)
            }
            try control.listen(backlog: 0)
            try udp.receive()
            control.onConnect = { [unowned self] socket in self.accept(socket) }
            controlSocket = control
            dataPlane = makeDataPlane(udp)
            controlAddress = control.localSocketAddress
            udpAddress = udp.localSocketAddress
            udpReceiveBuffer = udp.receiveBufferSize
            break
        }
        for index in 1..<config.threads {
            do throws(SocketError) {
                try startDataLoop(index: index, port: udpAddress!.port)
            } catch {
                stop()
                throw error
            }
        }
        if let metricsPort = config.metricsPort {
            try startMetrics(port: metricsPort)
        }
        let sweep = Timer(loop: loop)
        sweep.start(after: sweepInterval, repeating: sweepInterval) { [unowned self] in self.sweep() }
        sweepTimer = sweep
        var metadata: Logger.Metadata = ["control": "\(controlAddress!)", "udp": "\(udpAddress!)",
                                         "udp_receive_buffer": "\(udpReceiveBuffer)"]
        if let metricsAddress { metadata["metrics"] = "\(metricsAddress)" }
        logger.info("listening", metadata: metadata)
    }

    /// Binds the control loop's UDP socket. With more than one data-plane loop the port is shared
    /// with `SO_REUSEPORT`, but only after a plain bind has proven that nobody else holds it, so
    /// two relays never silently split one port.
    private func bindUDP(port: Int) throws(SocketError) -> DatagramSocket {
        let udp = DatagramSocket(loop: loop)
        do throws(SocketError) {
            if config.threads > 1 {
                let probe = DatagramSocket(loop: loop)
                defer { probe.close() }
                try probe.bind(localPort: port, localAddress: config.host)
                // Closing releases the port at once; only the handle's memory waits for the callback.
                let probedPort = probe.localPort
                probe.close()
                try udp.bind(localPort: probedPort, localAddress: config.host, reusePort: true)
            } else {
                try udp.bind(localPort: port, localAddress: config.host)
            }
            Self.enlargeReceiveBuffer(udp)
        } catch {
            udp.close()
            throw error
        }
        return udp
    }

    /// The receive buffer each UDP socket asks for. Clients send in bursts (a game tick's worth
    /// at once) and a loop may be busy for a moment; Linux's default of about 200 KiB holds only a
    /// few hundred small datagrams. The kernel caps the request at `net.core.rmem_max`.
    static let udpReceiveBufferBytes = 4 << 20

    /// Asks for ``udpReceiveBufferBytes``; a refusal leaves the kernel's default, which works.
    static func enlargeReceiveBuffer(_ socket: DatagramSocket) {
        _ = try? socket.requestReceiveBufferSize(udpReceiveBufferBytes)
    }

    private func makeDataPlane(_ socket: DatagramSocket) -> DataPlane {
        let published = PublishedCounters()
        publishedCounters.append(published)
        let control = LoopBound(self, loop: loop)
        let controlLoop = loop
        return DataPlane(output: .socket(socket), shared: shared, config: config, cookies: cookies, published: published) { event in
            if controlLoop.inEventLoop {
                control.value.dataPlaneEvent(event)
            } else {
                controlLoop.execute { control.value.dataPlaneEvent(event) }
            }
        }
    }

    /// Starts data-plane loop `index` with its own socket on `port`; waits until it is receiving.
    private func startDataLoop(index: Int, port: Int) throws(SocketError) {
        let dataLoop = EventLoop(name: "relay-data-\(index)")
        let gate = StartGate<LoopBound<DataPlane>>()
        let published = PublishedCounters()
        let (shared, config, cookies, host) = (self.shared, self.config, self.cookies, self.config.host)
        let control = LoopBound(self, loop: loop)
        let controlLoop = loop
        dataLoop.execute {
            let socket = DatagramSocket(loop: dataLoop)
            do throws(SocketError) {
                try socket.bind(localPort: port, localAddress: host, reusePort: true)
                RelayServer.enlargeReceiveBuffer(socket)
                try socket.receive()
            } catch {
                socket.close()
                gate.finish(.failure(error))
                return
            }
            let plane = DataPlane(output: .socket(socket), shared: shared, config: config, cookies: cookies, published: published) { event in
                controlLoop.execute { control.value.dataPlaneEvent(event) }
            }
            gate.finish(.success(LoopBound(plane, loop: dataLoop)))
        }
        switch gate.wait() {
        case .success(let plane):
            publishedCounters.append(published)
            extraPlanes.append((dataLoop, plane))
        case .failure(let error):
            dataLoop.syncShutdown()
            throw SocketError(error.code, operation: "UDP bind \(host):\(port) for loop \(index)", message: error.message, uvErrorCode: error.uvErrorCode)
        }
    }

    /// Handles what a data plane reported, on the control loop.
    private func dataPlaneEvent(_ event: DataPlaneEvent) {
        switch event {
        case .bound(let key, let address):
            let connection = shared.withLock { registry in registry.member(key: key)?.connection }
            // The member may have left between the BIND and this hop to the control loop.
            connection?.send(ControlEvent.bound(address: address.description))
        }
    }

    private func startMetrics(port: Int) throws(SocketError) {
        let metrics = RelayMetrics()
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
        dataPlane?.batchTimer = metrics.batchDuration
        let batchTimer = metrics.batchDuration
        for (planeLoop, plane) in extraPlanes {
            planeLoop.execute { plane.value.batchTimer = batchTimer }
        }
        // Counters reach the registry every second as well as on every scrape.
        let timer = Timer(loop: loop)
        timer.start(after: .seconds(1), repeating: .seconds(1)) { [unowned self] in updateMetrics() }
        metricsTimer = timer
    }

    private func updateMetrics() {
        metrics?.update(from: counters, gauges: .init(
            sessions: sessionCount, members: memberCount, boundMembers: boundMemberCount,
            controlConnections: connections.count, draining: isDraining))
    }

    /// How late a sweep may run before it is taken for a stall of the loop rather than load:
    /// busy iterations take microseconds to milliseconds, a pause that times peers out seconds.
    private static let stallTolerance: UInt64 = 250_000_000

    /// The sweep period: half the slack PROTOCOL.md §4 allows the tightest timer (max(50 ms, 10 %)).
    private var sweepInterval: Duration {
        let tightest = [config.idleTimeout, config.controlIdleTimeout, config.emptySessionTimeout]
            .map { max(Duration.milliseconds(50), $0 / 10) }
            .min()!
        return min(max(tightest / 2, .milliseconds(5)), .milliseconds(500))
    }

    /// Closes every socket and timer; the relay can't be started again.
    public func stop() {
        loop.assertInEventLoop()
        sweepTimer?.close()
        drainTimer?.close()
        metricsTimer?.close()
        metricsEndpoint?.close()
        controlSocket?.close()
        dataPlane?.socket?.close()
        for (planeLoop, plane) in extraPlanes {
            planeLoop.execute { plane.value.socket?.close() }
            planeLoop.syncShutdown()
        }
        extraPlanes.removeAll()
        for connection in connections.values { connection.finish(reason: .disconnect) }
        connections.removeAll()
    }

    /// Starts a drain (PROTOCOL.md §5): `shutdown` to every open connection, no new sessions or
    /// joins, and ``onDrainComplete`` once every connection has closed or the drain timeout passed.
    public func beginDrain() {
        loop.assertInEventLoop()
        guard !isDraining else { return }
        isDraining = true
        let drainMs = Int((Double(config.drainTimeout.nanoseconds) / 1e6).rounded(.up))
        logger.notice("draining", metadata: ["connections": "\(connections.count)", "drainMs": "\(drainMs)"])
        updateMetrics()
        let event = ControlEvent.shutdown(drainMs: drainMs)
        for connection in connections.values { connection.send(event) }
        drainTimer = loop.schedule(after: config.drainTimeout) { [unowned self] in
            logger.notice("drain timeout passed", metadata: ["connections": "\(connections.count)"])
            completeDrain()
        }
        if connections.isEmpty { completeDrain() }
    }

    private func completeDrain() {
        guard let done = onDrainComplete else { return }
        onDrainComplete = nil
        drainTimer?.close()
        done()
    }

    // MARK: Connections

    private func accept(_ socket: Socket) {
        controlCounters.controlConnectionsAccepted &+= 1
        let connection = ControlConnection(socket: socket, server: self, nowNanos: uv_hrtime())
        connections[ObjectIdentifier(connection)] = connection
    }

    /// The number of open control connections.
    public var controlConnectionCount: Int { connections.count }
    /// The number of live sessions.
    public var sessionCount: Int { shared.withLock { $0.sessions.count } }
    /// The number of members across sessions.
    public var memberCount: Int { shared.withLock { $0.memberCount } }
    /// The number of members with a UDP binding.
    public var boundMemberCount: Int { shared.withLock { $0.boundMemberCount } }

    /// A connection stopped serving requests: its membership ends with `reason`.
    func connectionEnded(_ connection: ControlConnection, reason: LeaveReason) {
        if let member = connection.member {
            connection.member = nil
            removeMember(member, reason: reason)
        }
    }

    /// A connection is fully closed.
    func connectionClosed(_ connection: ControlConnection) {
        connections[ObjectIdentifier(connection)] = nil
        if isDraining, connections.isEmpty { completeDrain() }
    }

    // MARK: Membership events

    /// Ends a membership and tells the remaining members, then any new owner.
    func removeMember(_ member: Member, reason: LeaveReason) {
        announce(detachMember(member, reason: reason))
    }

    /// What ``detachMember(_:reason:)`` did, for ``announce(_:)`` to tell the others.
    struct MemberRemoval {
        let member: UInt16
        let reason: LeaveReason
        let session: SessionID
        let remaining: [ControlConnection]
        let newOwner: UInt16?
        let sessionDeleted: Bool
    }

    /// Revokes a membership in the registry at once, before any reply says so: with several
    /// loops, a datagram sent after the reply must already find the member gone.
    func detachMember(_ member: Member, reason: LeaveReason) -> MemberRemoval {
        let session = member.session
        controlCounters.leaves &+= 1
        return shared.withLock { registry in
            let (newOwner, deleted) = registry.remove(member)
            return MemberRemoval(member: member.id, reason: reason, session: session.id,
                                 remaining: session.members.compactMap(\.connection), newOwner: newOwner, sessionDeleted: deleted)
        }
    }

    /// Sends the `left` and `owner` events of a removal (after the reply of the request that caused it).
    func announce(_ removal: MemberRemoval) {
        if removal.sessionDeleted {
            controlCounters.sessionsClosed &+= 1
            logger.debug("session closed", metadata: ["session": "\(removal.session.hex)"])
            return
        }
        let left = ControlEvent.left(member: removal.member, reason: removal.reason)
        for connection in removal.remaining { connection.send(left) }
        if let newOwner = removal.newOwner {
            let owner = ControlEvent.owner(member: newOwner)
            for connection in removal.remaining { connection.send(owner) }
        }
    }

    // MARK: Timers

    private func sweep() {
        let now = uv_hrtime()
        // libuv runs due timers before it polls for I/O, so after a stall of this loop (a paused
        // VM, a starved thread) what peers sent meanwhile is still unread: judging them now would
        // time out live connections for the relay's own pause. Judge after one more poll instead.
        let sinceLast = now &- lastSweep
        let late = lastSweep != 0 && sinceLast > sweepInterval.nanoseconds + Self.stallTolerance
        lastSweep = now
        if late {
            logger.warning("relay loop stalled; idle checks wait one more sweep",
                           metadata: ["stall_ms": "\((sinceLast - sweepInterval.nanoseconds) / 1_000_000)"])
            return
        }
        let idle = config.idleTimeout.nanoseconds
        let emptyTimeout = config.emptySessionTimeout.nanoseconds
        let (unbound, expired) = shared.withLock { registry -> ([ControlConnection], [Session]) in
            var unbound: [ControlConnection] = []
            for member in registry.allMembers where member.binding != nil && now &- member.lastSeen >= idle {
                member.binding = nil
                if let connection = member.connection { unbound.append(connection) }
            }
            let expired = registry.sessions.values.filter { !$0.everJoined && now &- $0.createdAt >= emptyTimeout }
            for session in expired { registry.delete(session) }
            return (unbound, expired)
        }
        controlCounters.idleUnbinds &+= UInt64(unbound.count)
        for connection in unbound { connection.send(ControlEvent.unbound) }
        controlCounters.sessionsClosed &+= UInt64(expired.count)
        for session in expired { logger.debug("session expired unjoined", metadata: ["session": "\(session.id.hex)"]) }
        let controlIdle = config.controlIdleTimeout.nanoseconds
        // Filtering first allocates only when someone idled out; closing changes `connections`.
        let silent = connections.values.filter { $0.state == .open && now &- $0.lastActivity >= controlIdle }
        for connection in silent {
            logger.debug("control connection idle", metadata: ["peer": "\(connection.peer)"])
            connection.finish(reason: .timeout)
        }
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
