import ArgumentParser
import Logging
import RelayServer
import UVNet

#if canImport(Glibc)
import Glibc
#endif

/// `gamerelay serve`: runs the relay with the flags of PROTOCOL.md §5.
struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the relay: TCP control channel and UDP data channel."
    )

    @Option(parsing: .unconditional, help: "Address both sockets bind to (0.0.0.0, ::, 127.0.0.1, ...).")
    var host = "0.0.0.0"

    @Option(parsing: .unconditional, help: "Control (TCP) port; 0 picks a free port.")
    var port = 7400

    @Option(parsing: .unconditional, help: "UDP port (default: the control socket's port number).")
    var udpPort: Int?

    @Option(parsing: .unconditional, help: "Largest datagram accepted, header included (40...1472).")
    var maxDatagram = 1200

    @Option(parsing: .unconditional, help: "Largest control message in bytes, terminator excluded.")
    var maxControlMessage = 16384

    @Option(parsing: .unconditional, help: "Seconds a UDP binding lives without traffic (decimals allowed).")
    var idleTimeout = 10.0

    @Option(parsing: .unconditional, help: "Seconds a control connection may stay silent.")
    var controlIdleTimeout = 30.0

    @Option(parsing: .unconditional, help: "Seconds a session nobody joined lives.")
    var emptySessionTimeout = 60.0

    @Option(parsing: .unconditional, help: "Largest session capacity a client may ask for.")
    var maxSessionCapacity = 64

    @Option(parsing: .unconditional, help: "Packets per second each member may send.")
    var memberPacketRate = 240

    @Option(parsing: .unconditional, help: "Bytes per second each member may send, headers included.")
    var memberByteRate = 262_144

    @Option(parsing: .unconditional, help: "Seconds a drain (SIGTERM/SIGINT) waits for control connections to close.")
    var drainTimeout = 5.0

    @Option(parsing: .unconditional, help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel = "info"

    func makeConfig() throws -> RelayConfig {
        var config = RelayConfig()
        config.host = host
        config.port = port
        config.udpPort = udpPort
        config.maxDatagram = maxDatagram
        config.maxControlMessage = maxControlMessage
        config.idleTimeout = try Self.seconds(idleTimeout, "--idle-timeout")
        config.controlIdleTimeout = try Self.seconds(controlIdleTimeout, "--control-idle-timeout")
        config.emptySessionTimeout = try Self.seconds(emptySessionTimeout, "--empty-session-timeout")
        config.drainTimeout = try Self.seconds(drainTimeout, "--drain-timeout")
        config.maxSessionCapacity = maxSessionCapacity
        config.memberPacketRate = memberPacketRate
        config.memberByteRate = memberByteRate
        do {
            try config.validate()
        } catch {
            throw ValidationError(error.description)
        }
        return config
    }

    static func seconds(_ value: Double, _ flag: String) throws -> Duration {
        guard value.isFinite, value > 0 else {
            throw ValidationError("\(flag) must be a number of seconds greater than 0")
        }
        // Beyond about 292 years the nanosecond count saturates, which is the same as forever.
        let nanos = (value * 1e9).rounded(.up)
        return .nanoseconds(nanos >= 9.2e18 ? Int64.max : Int64(nanos))
    }

    func validate() throws {
        _ = try makeConfig()
        guard Logger.Level(rawValue: logLevel.lowercased()) != nil else {
            throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error, critical")
        }
    }

    func run() throws {
        let config = try makeConfig()
        let level = Logger.Level(rawValue: logLevel.lowercased()) ?? .info
        try RelayProcess(config: config, logLevel: level).run()
    }
}
