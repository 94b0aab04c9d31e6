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

    @Option(help: "Address both sockets bind to (0.0.0.0, ::, 127.0.0.1, ...).")
    var host = "0.0.0.0"

    @Option(help: "Control (TCP) port; 0 picks a free port.")
    var port = 7400

    @Option(help: "UDP port (default: the control socket's port number).")
    var udpPort: Int?

    @Option(help: "Largest datagram accepted, header included (40...1472).")
    var maxDatagram = 1200

    @Option(help: "Largest control message in bytes, terminator excluded.")
    var maxControlMessage = 16384

    @Option(help: "Seconds a UDP binding lives without traffic (decimals allowed).")
    var idleTimeout = 10.0

    @Option(help: "Seconds a control connection may stay silent.")
    var controlIdleTimeout = 30.0

    @Option(help: "Seconds a session nobody joined lives.")
    var emptySessionTimeout = 60.0

    @Option(help: "Largest session capacity a client may ask for.")
    var maxSessionCapacity = 64

    @Option(help: "Packets per second each member may send.")
    var memberPacketRate = 240

    @Option(help: "Bytes per second each member may send, headers included.")
    var memberByteRate = 262_144

    @Option(help: "Seconds a drain (SIGTERM/SIGINT) waits for control connections to close.")
    var drainTimeout = 5.0

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
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
        // A day is far beyond any sane timeout and keeps the nanosecond arithmetic exact.
        guard value.isFinite, value > 0, value <= 86_400 else {
            throw ValidationError("\(flag) must be a number of seconds greater than 0 and at most 86400")
        }
        return .nanoseconds(Int64((value * 1e9).rounded(.up)))
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
