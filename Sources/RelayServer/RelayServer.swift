import CLibUV
import Logging
import RelayWire
import UVNet

/// The relay of PROTOCOL.md: a control `ServerSocket`, a UDP `DatagramSocket`, the session
/// registry, and the timers that expire idle bindings, silent connections and empty sessions.
///
/// Loop-bound: create, start and use it on its loop's thread. Hand it to other threads inside a
/// ``LoopBound``.
public final class RelayServer {
    /// The loop every socket and timer of the relay runs on.
    public let loop: EventLoop
    /// The settings the relay was started with.
    public let config: RelayConfig
    let logger: Logger
    let registry: SessionRegistry
    /// Traffic and drop counters.
    public internal(set) var counters = RelayCounters()

    private var controlSocket: ServerSocket?
    private var dataPlane: DataPlane?
    private var connections: [ObjectIdentifier: ControlConnection] = [:]
    private var sweepTimer: Timer?
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
        registry = SessionRegistry(random: random)
    }

    /// The control port, for replies that name it.
    var controlPort: Int { controlAddress?.port ?? config.port }
    /// The UDP port, for replies that name it.
    var udpPort: Int { udpAddress?.port ?? 0 }

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
            let udp = DatagramSocket(loop: loop)
            do throws(SocketError) {
                try udp.bind(localPort: port, localAddress: config.host)
            } catch {
                udp.close()
                control.close()
                // With --port 0 the kernel picked a TCP port whose UDP twin is taken: pick again.
                if config.port == 0, config.udpPort == nil, error.code == .addressInUse, attempts < 16 { continue }
                throw SocketError(error.code, operation: "UDP bind \(config.host):\(port)", message: error.message, uvErrorCode: error.uvErrorCode)
            }
            try control.listen(backlog: 0)
            try udp.receive()
            control.onConnect = { [unowned self] socket in self.accept(socket) }
            controlSocket = control
            dataPlane = DataPlane(socket: udp, server: self, config: config)
            controlAddress = control.localSocketAddress
            udpAddress = udp.localSocketAddress
            break
        }
        if let metricsPort = config.metricsPort {
            try startMetrics(port: metricsPort)
        }
        let sweep = Timer(loop: loop)
        sweep.start(after: sweepInterval, repeating: sweepInterval) { [unowned self] in self.sweep() }
        sweepTimer = sweep
        var metadata: Logger.Metadata = ["control": "\(controlAddress!)", "udp": "\(udpAddress!)"]
        if let metricsAddress { metadata["metrics"] = "\(metricsAddress)" }
        logger.info("listening", metadata: metadata)
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
        dataPlane?.socket.close()
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
        counters.controlConnectionsAccepted &+= 1
        let connection = ControlConnection(socket: socket, server: self, nowNanos: uv_hrtime())
        connections[ObjectIdentifier(connection)] = connection
    }

    /// The number of open control connections.
    public var controlConnectionCount: Int { connections.count }
    /// The number of live sessions.
    public var sessionCount: Int { registry.sessions.count }
    /// The number of members across sessions.
    public var memberCount: Int { registry.memberCount }
    /// The number of members with a UDP binding.
    public var boundMemberCount: Int { registry.boundMemberCount }

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
        let session = member.session
        counters.leaves &+= 1
        let (newOwner, deleted) = registry.remove(member)
        if deleted {
            counters.sessionsClosed &+= 1
            logger.debug("session closed", metadata: ["session": "\(session.id.hex)"])
            return
        }
        let left = ControlEvent.left(member: member.id, reason: reason)
        for other in session.members { other.connection.send(left) }
        if let newOwner {
            let owner = ControlEvent.owner(member: newOwner)
            for other in session.members { other.connection.send(owner) }
        }
    }

    /// A member proved a new address.
    func memberBound(_ member: Member, to address: SocketAddress) {
        member.connection.send(ControlEvent.bound(address: address.description))
    }

    /// A member's binding idled out.
    func memberUnbound(_ member: Member) {
        member.connection.send(ControlEvent.unbound)
    }

    // MARK: Timers

    private func sweep() {
        let now = uv_hrtime()
        dataPlane?.sweepIdleBindings(now: now)
        let controlIdle = config.controlIdleTimeout.nanoseconds
        for connection in Array(connections.values) where connection.state == .open && now &- connection.lastActivity >= controlIdle {
            logger.debug("control connection idle", metadata: ["peer": "\(connection.peer)"])
            connection.finish(reason: .timeout)
        }
        let emptyTimeout = config.emptySessionTimeout.nanoseconds
        for session in Array(registry.sessions.values) where !session.everJoined && now &- session.createdAt >= emptyTimeout {
            registry.delete(session)
            counters.sessionsClosed &+= 1
            logger.debug("session expired unjoined", metadata: ["session": "\(session.id.hex)"])
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
