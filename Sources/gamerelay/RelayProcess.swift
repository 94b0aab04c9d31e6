import Logging
import RelayServer
import UVNet

#if canImport(Glibc)
import Glibc
#endif

private let RLIMIT_NOFILE_VALUE = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)

/// Raises the soft limit on open descriptors to the hard limit: a relay holds one per control
/// connection, and `bench` two per simulated member.
func raiseFileLimit() {
    var files = rlimit()
    if getrlimit(RLIMIT_NOFILE_VALUE, &files) == 0, files.rlim_cur < files.rlim_max {
        files.rlim_cur = files.rlim_max
        _ = setrlimit(RLIMIT_NOFILE_VALUE, &files)
    }
}

/// Runs one relay as a process: starts it on a loop, prints the readiness line, turns
/// SIGTERM/SIGINT into a drain (a second signal exits at once with status 1), and SIGHUP into a
/// reload of the TLS certificate (nothing at all without one: it never ends the relay).
///
/// Kept out of `main.swift` so no libuv callback is ever MainActor-isolated.
struct RelayProcess {
    let settings: ServeSettings

    func run() throws {
        let level = Logger.Level(rawValue: settings.logLevel) ?? .info
        let json = settings.logFormat == "json"
        LoggingSystem.bootstrap { label in
            if json { return JSONLogHandler(label: label, level: level) }
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "gamerelay")
        // Writing to a closed pipe must fail the write, not kill the relay.
        signal(SIGPIPE, SIG_IGN)
        // A parent may start us with SIGTERM/SIGINT blocked (the mask survives exec); the drain
        // depends on receiving them, so unblock both before any thread is made.
        var drainSignals = sigset_t()
        sigemptyset(&drainSignals)
        sigaddset(&drainSignals, SIGTERM)
        sigaddset(&drainSignals, SIGINT)
        sigaddset(&drainSignals, SIGHUP)
        pthread_sigmask(SIG_UNBLOCK, &drainSignals, nil)
        // Every control connection is a descriptor: use all the hard limit allows.
        raiseFileLimit()

        let loop = EventLoop(name: "relay")
        let config = settings.config
        // nil: listening; otherwise one line saying why the relay could not start.
        let outcome = Blocking<String?>.run(on: loop) { started in
            guard let agonesConfig = config.agones else {
                return Self.start(config, agent: nil, on: loop, logger: logger, started)
            }
            // Under Agones the port clients reach is the allocated one, known only to the SDK
            // server, which may start after the relay: ask it first (retrying), then bind.
            let agent = AgonesAgent(loop: loop, config: agonesConfig, logger: logger)
            agent.discover { result in
                switch result {
                case .success(let (_, port)):
                    var allocated = config
                    if agonesConfig.passthrough {
                        // Passthrough maps the allocated host port to the same container port.
                        allocated.port = port
                        allocated.udpPort = port
                    } else if allocated.advertisedUDPPort == nil {
                        allocated.advertisedUDPPort = port
                    }
                    Self.start(allocated, agent: agent, on: loop, logger: logger, started)
                case .failure(let error):
                    started.finish("agones: \(error.message)")
                }
            }
        }
        if let failure = outcome ?? "the relay did not start" {
            Console.error("gamerelay: error: \(failure)\n")
            exit(1)
        }
        loop.waitUntilExited()
    }

    /// Starts the relay on `loop`, prints the readiness line, and wires the signals; `started`
    /// gets nil once it listens, or the reason it could not start.
    private static func start(_ config: RelayConfig, agent: AgonesAgent?, on loop: EventLoop, logger: Logger,
                              _ started: Blocking<String?>) {
        do throws(SocketError) {
            let server = RelayServer(loop: loop, config: config, logger: logger)
            try server.start()
            server.onDrainComplete = {
                logger.notice("drained; exiting")
                guard let agent else { exit(0) }
                agent.shutdown { exit(0) }
            }
            var signals: [SignalWatcher] = []
            for number in [SIGTERM, SIGINT] {
                signals.append(try SignalWatcher(loop: loop, signal: number) { signal in
                    if server.isDraining {
                        logger.warning("second signal; exiting now", metadata: ["signal": .stringConvertible(signal)])
                        exit(1)
                    }
                    server.beginDrain()
                })
            }
            signals.append(try SignalWatcher(loop: loop, signal: SIGHUP) { _ in
                if server.tlsContext == nil {
                    logger.debug("SIGHUP ignored: no TLS certificate to reload")
                } else {
                    server.reloadTLS()
                }
            })
            Console.out(readinessLine(server))
            agent?.attach(to: server)
            // The watchers live as long as the loop: the loop keeps their handles.
            _ = signals
            started.finish(nil)
        } catch {
            started.finish("\(error.operation): \(error.message)")
        }
    }

    /// The readiness line of PROTOCOL.md §5, with `metrics` when a metrics port is open.
    static func readinessLine(_ server: RelayServer) -> String {
        var line = "{\"event\":\"listening\",\"control\":\"\(server.controlAddress!)\",\"udp\":\"\(server.udpAddress!)\""
        if let metrics = server.metricsAddress { line += ",\"metrics\":\"\(metrics)\"" }
        return line + "}\n"
    }
}
