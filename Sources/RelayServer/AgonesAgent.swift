import Logging
import UVNet

/// The relay's side of the Agones SDK, spoken over the SDK server's REST gateway on loopback:
/// it reads the GameServer for the allocated port before the relay binds, marks the relay
/// `Ready` once it listens, sends `Health` while every data-plane loop still answers, keeps the
/// Counters `sessions` and `members` current, and asks for `Shutdown` when a drain ends.
///
/// Loop-bound to the relay's control loop. Every call is an ``SDKRequest`` with a deadline, so a
/// slow or absent SDK server never blocks a loop; failures are logged (at most once per
/// interval per kind) and retried on the next turn of the timer that made them.
public final class AgonesAgent {
    /// The control loop the agent runs on.
    public let loop: EventLoop
    /// Where the gateway is, and how often to call it.
    public let config: AgonesConfig
    private let logger: Logger
    private var server: RelayServer?
    private var timers: [Timer] = []
    private var isStopped = false

    /// `GET /gameserver` calls made so far, answered or not.
    public private(set) var discoveryAttempts = 0
    /// `POST /health` calls the gateway accepted.
    public private(set) var healthPingsAccepted = 0
    /// Whether `POST /ready` was accepted.
    public private(set) var isReady = false
    /// Health rounds skipped because a data-plane loop had not answered the previous one.
    public private(set) var stalledHealthRounds = 0

    private var healthRoundPending = false
    private var healthInFlight = false
    private var lastWarning: [String: UInt64] = [:]

    /// One Agones Counter the relay keeps current.
    private struct CounterState {
        var acknowledged: Int?
        var inFlight = false
        var isDisabled = false
    }
    private var counters: [String: CounterState] = ["sessions": .init(), "members": .init()]

    /// The values the counters last reached the gateway with, by name.
    public var acknowledgedCounters: [String: Int] { counters.compactMapValues(\.acknowledged) }

    /// How often the Counters are compared with the relay's sessions and members.
    static let counterInterval = Duration.seconds(1)
    /// The least time between two warnings of one kind.
    static let warningInterval: UInt64 = 10_000_000_000

    /// Creates an agent; nothing is sent before ``discover(_:)``. Loop thread only.
    public init(loop: EventLoop, config: AgonesConfig, logger: Logger) {
        loop.preconditionInEventLoop()
        self.loop = loop
        self.config = config
        self.logger = logger
    }

    // MARK: Requests

    private func call(_ method: String, _ path: String, body: String = "{}",
                      _ completion: @escaping (Result<HTTPResponse, AgonesError>) -> Void) {
        SDKRequest.send(loop: loop, host: config.sdkHost, port: config.sdkPort, method: method, path: path, body: body,
                        timeout: config.requestTimeout, completion: completion)
    }

    private func warn(_ kind: String, _ message: Logger.Message, _ metadata: Logger.Metadata) {
        let now = loop.now
        if let last = lastWarning[kind], now &- last < Self.warningInterval { return }
        lastWarning[kind] = now
        logger.warning(message, metadata: metadata)
    }

    // MARK: Start

    /// Reads the GameServer until it names an allocated port, retrying while the SDK server
    /// starts (connection refused, not yet answering, or no ports yet), for at most
    /// ``AgonesConfig/startTimeout``.
    ///
    /// - Parameter completion: Called once on the loop, with the GameServer and the port to
    ///   advertise, or the last error when the time ran out.
    public func discover(_ completion: @escaping (Result<(AgonesGameServer, Int), AgonesError>) -> Void) {
        loop.assertInEventLoop()
        let deadline = loop.now &+ config.startTimeout.nanoseconds
        attemptDiscovery(deadline: deadline, completion)
    }

    private func attemptDiscovery(deadline: UInt64, _ completion: @escaping (Result<(AgonesGameServer, Int), AgonesError>) -> Void) {
        discoveryAttempts += 1
        let attempt = discoveryAttempts
        call("GET", "/gameserver", body: "") { [self] result in
            guard !isStopped else { return }
            let failure: AgonesError
            switch result {
            case .success(let response):
                if let gameServer = AgonesGameServer.parse(response.body) {
                    if let port = gameServer.port(named: config.portName) {
                        logger.info("agones gameserver read", metadata: [
                            "state": "\(gameServer.state)", "address": "\(gameServer.address)",
                            "port": .stringConvertible(port), "attempts": .stringConvertible(attempt)])
                        return completion(.success((gameServer, port)))
                    }
                    let names = gameServer.ports.map(\.name).joined(separator: ",")
                    failure = AgonesError("the GameServer has no port\(config.portName.map { " named \($0)" } ?? "") yet (ports: [\(names)])")
                } else {
                    failure = AgonesError("GET /gameserver: the answer is not a GameServer")
                }
            case .failure(let error):
                failure = error
            }
            if attempt == 1 {
                logger.info("waiting for the agones sdk server", metadata: ["sdk": "\(config.sdkHost):\(config.sdkPort)", "error": "\(failure)"])
            } else {
                logger.debug("agones sdk server not ready yet", metadata: ["attempt": .stringConvertible(attempt), "error": "\(failure)"])
            }
            guard loop.now &+ config.retryInterval.nanoseconds < deadline else {
                return completion(.failure(AgonesError("no GameServer from the Agones SDK at \(config.sdkHost):\(config.sdkPort) within \(config.startTimeout): \(failure)")))
            }
            loop.schedule(after: config.retryInterval) { [self] in
                guard !isStopped else { return }
                attemptDiscovery(deadline: deadline, completion)
            }
        }
    }

    /// Takes over a relay that listens: `POST /ready` (retried until accepted), then the health
    /// pings and the Counters.
    public func attach(to server: RelayServer) {
        loop.assertInEventLoop()
        self.server = server
        markReady(attempt: 1)
        let health = Timer(loop: loop)
        health.start(after: config.healthInterval, repeating: config.healthInterval) { [unowned self] in healthTick() }
        let counting = Timer(loop: loop)
        counting.start(after: .zero, repeating: Self.counterInterval) { [unowned self] in syncCounters() }
        timers += [health, counting]
    }

    private func markReady(attempt: Int) {
        call("POST", "/ready") { [self] result in
            guard !isStopped else { return }
            switch result {
            case .success:
                isReady = true
                logger.info("agones ready", metadata: ["attempts": .stringConvertible(attempt)])
            case .failure(let error):
                warn("ready", "agones ready failed; retrying", ["error": "\(error)", "attempt": .stringConvertible(attempt)])
                loop.schedule(after: .seconds(1)) { [self] in
                    guard !isStopped else { return }
                    markReady(attempt: attempt + 1)
                }
            }
        }
    }

    // MARK: Health

    /// Pings only once every data-plane loop has run a turn since the last ping: a loop that is
    /// stuck stops the pings, Agones marks the GameServer Unhealthy, and the Fleet replaces it.
    private func healthTick() {
        guard let server else { return }
        if healthRoundPending {
            stalledHealthRounds += 1
            warn("stall", "a data-plane loop has not answered; agones health pings wait for it",
                 ["waited_ms": .stringConvertible(Int(config.healthInterval.nanoseconds / 1_000_000) * stalledHealthRounds)])
            return
        }
        healthRoundPending = true
        server.whenDataLoopsAnswer { [weak self] in
            guard let self, !isStopped else { return }
            healthRoundPending = false
            sendHealth()
        }
    }

    private func sendHealth() {
        guard !healthInFlight else { return }
        healthInFlight = true
        call("POST", "/health") { [self] result in
            healthInFlight = false
            switch result {
            case .success: healthPingsAccepted += 1
            case .failure(let error): warn("health", "agones health ping failed", ["error": "\(error)"])
            }
        }
    }

    // MARK: Counters

    private func syncCounters() {
        guard let server else { return }
        update("sessions", to: server.sessionCount)
        update("members", to: server.memberCount)
    }

    private func update(_ name: String, to value: Int) {
        guard let state = counters[name], !state.isDisabled, !state.inFlight, state.acknowledged != value else { return }
        counters[name]?.inFlight = true
        // Protobuf's JSON mapping writes int64 as a string; the gateway reads either.
        call("PATCH", "/v1beta1/counters/\(name)", body: "{\"count\":\"\(value)\"}") { [self] result in
            counters[name]?.inFlight = false
            switch result {
            case .success:
                counters[name]?.acknowledged = value
                logger.debug("agones counter updated", metadata: ["counter": "\(name)", "count": .stringConvertible(value)])
            case .failure(let error) where error.status == 404 || error.status == 400:
                // Not in the GameServer's spec.counters (or Counters are off): nothing will change that.
                counters[name]?.isDisabled = true
                logger.warning("agones counter unavailable; add it to the GameServer's counters to track load",
                               metadata: ["counter": "\(name)", "error": "\(error)"])
            case .failure(let error):
                warn("counter", "agones counter update failed; retrying", ["counter": "\(name)", "error": "\(error)"])
            }
        }
    }

    // MARK: End

    /// Asks Agones to shut the GameServer down (a drain ended), then calls `completion`, at most
    /// ``AgonesConfig/requestTimeout`` later, whatever the answer.
    public func shutdown(_ completion: @escaping () -> Void) {
        loop.assertInEventLoop()
        stopTimers()
        call("POST", "/shutdown") { [self] result in
            switch result {
            case .success: logger.info("agones shutdown requested")
            case .failure(let error): logger.warning("agones shutdown failed", metadata: ["error": "\(error)"])
            }
            completion()
        }
    }

    /// Stops every timer and ignores answers still on their way.
    public func stop() {
        loop.assertInEventLoop()
        isStopped = true
        stopTimers()
    }

    private func stopTimers() {
        for timer in timers { timer.close() }
        timers.removeAll()
    }
}
