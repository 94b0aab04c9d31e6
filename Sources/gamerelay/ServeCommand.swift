import ArgumentParser
import Foundation
import Logging
import RelayServer
import UVNet

/// `gamerelay serve`: runs the relay with the flags of PROTOCOL.md §5.
///
/// Every flag can also come from an environment variable (`GAMERELAY_IDLE_TIMEOUT` for
/// `--idle-timeout`) or a YAML file (`--config`, key `idle-timeout`); flags win over the
/// environment, and the environment over the file.
struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the relay: TCP control channel and UDP data channel.",
        discussion: """
        Each flag also reads from the environment (GAMERELAY_PORT for --port, GAMERELAY_IDLE_TIMEOUT \
        for --idle-timeout, ...) and from the YAML file given with --config (keys as the flags \
        without the leading dashes: idle-timeout: 10). Flags win over the environment, the \
        environment over the file. Inside an Agones pod (AGONES_SDK_HTTP_PORT set) the relay \
        reports to the Agones SDK itself and advertises its allocated port.
        """
    )

    @Option(help: "YAML config file of settings (keys named as the flags).")
    var config: String?

    @Option(parsing: .unconditional, help: "Address both sockets bind to (default 0.0.0.0; :: for IPv6 and IPv4).")
    var host: String?

    @Option(parsing: .unconditional, help: "Control (TCP) port; 0 picks a free port (default 7400).")
    var port: Int?

    @Option(parsing: .unconditional, help: "UDP port (default: the control socket's port number).")
    var udpPort: Int?

    @Option(parsing: .unconditional, help: "UDP port that hello and join name, when clients reach the relay through a port mapping (default: the port it listens on).")
    var advertiseUdpPort: Int?

    @Option(parsing: .unconditional, help: "Largest datagram accepted, header included, 40...1472 (default 1200).")
    var maxDatagram: Int?

    @Option(parsing: .unconditional, help: "Largest control message in bytes, terminator excluded (default 16384).")
    var maxControlMessage: Int?

    @Option(parsing: .unconditional, help: "Seconds a UDP binding lives without traffic; decimals allowed (default 10).")
    var idleTimeout: Double?

    @Option(parsing: .unconditional, help: "Seconds a control connection may stay silent (default 30).")
    var controlIdleTimeout: Double?

    @Option(parsing: .unconditional, help: "Seconds a session nobody joined lives (default 60).")
    var emptySessionTimeout: Double?

    @Option(parsing: .unconditional, help: "Largest session capacity a client may ask for (default 64).")
    var maxSessionCapacity: Int?

    @Option(parsing: .unconditional, help: "Packets per second each member may send (default 240).")
    var memberPacketRate: Int?

    @Option(parsing: .unconditional, help: "Bytes per second each member may send, headers included (default 262144).")
    var memberByteRate: Int?

    @Option(parsing: .unconditional, help: "Seconds a drain (SIGTERM/SIGINT) waits for control connections (default 5).")
    var drainTimeout: Double?

    @Option(parsing: .unconditional, help: "Data-plane loops (threads) sharing the UDP port, 1...64 (default 1); the control plane has a loop of its own.")
    var threads: Int?

    @Option(parsing: .unconditional, help: "Serve /metrics, /healthz and /readyz over HTTP on this port (default: off).")
    var metricsPort: Int?

    @Option(parsing: .unconditional, help: "Microseconds a data-plane loop keeps polling without sleeping after receiving, 0...10000; 0 turns it off (default 50).")
    var busyPollUs: Int?

    @Option(parsing: .unconditional, help: "Control frames one connection may have handled per loop turn before others get theirs (default 64).")
    var controlFramesPerTurn: Int?

    @Option(parsing: .unconditional, help: "Unread replies and events, in bytes, above which a connection's requests are not read until half drained (default 65536).")
    var controlBacklogBytes: Int?

    @Option(parsing: .unconditional, help: "Control connections open at once; more are closed at accept (default 20000).")
    var maxConnections: Int?

    @Option(parsing: .unconditional, help: "Control connections open at once from one IP address (default 1024).")
    var maxConnectionsPerSource: Int?

    @Option(parsing: .unconditional, help: "Live sessions in all (default 100000).")
    var maxSessions: Int?

    @Option(parsing: .unconditional, help: "Live sessions one IP address created and that still live (default 1024).")
    var maxSessionsPerSource: Int?

    @Option(parsing: .unconditional, help: "Failed joins (not_found) per second per IP address, with 5 s of burst (default 10).")
    var joinFailureRate: Double?

    @Option(parsing: .unconditional, help: "Joins into one session per second per IP address, with a burst of 64 (default 1).")
    var sessionJoinRate: Double?

    @Option(parsing: .unconditional, help: "Descriptors kept free of control connections for /metrics and the relay itself (default 64).")
    var reservedDescriptors: Int?

    @Option(parsing: .unconditional, help: "PEM certificate chain, leaf first, for TLS on the control port (needs --tls-key).")
    var tlsCert: String?

    @Option(parsing: .unconditional, help: "PEM private key of --tls-cert; SIGHUP re-reads both.")
    var tlsKey: String?

    @Flag(help: "Refuse plain control connections: their first message gets tls_required (needs --tls-cert).")
    var tlsRequired = false

    @Option(parsing: .singleValue, help: "An origin (exactly scheme://host[:port]) whose pages may open WebSocket members; repeatable. Without it any origin may.")
    var wsOrigin: [String] = []

    @Option(parsing: .unconditional, help: "Unsent output, in bytes, past which datagrams to a WebSocket member are dropped as backlog (default 262144).")
    var wsBacklogBytes: Int?

    @Option(parsing: .unconditional, help: "Unsent output, in bytes, of all WebSocket members together, past which datagrams to any of them are dropped as backlog (default 268435456).")
    var wsBacklogTotalBytes: Int?

    @Option(parsing: .unconditional, help: "WebSocket members' datagram bytes in flight between the control loop and one data-plane loop, each way, past which they are dropped as backlog (default 4194304).")
    var wsHandoffBytes: Int?

    @Option(parsing: .unconditional, help: "Log level: trace, debug, info, notice, warning, error, critical (default info).")
    var logLevel: String?

    @Option(parsing: .unconditional, help: "Log format: text or json (default text).")
    var logFormat: String?

    @Flag(help: "Report to the Agones SDK gateway: advertise the allocated port, Ready, Health, Counters, Shutdown (default: on when AGONES_SDK_HTTP_PORT is set).")
    var agones = false

    @Option(parsing: .unconditional, help: "Agones SDK gateway HTTP port on 127.0.0.1 (default: AGONES_SDK_HTTP_PORT, else 9358).")
    var agonesSdkPort: Int?

    @Option(parsing: .unconditional, help: "Seconds between Agones health pings, each sent once every data-plane loop has answered (default 2).")
    var agonesHealthInterval: Double?

    @Option(parsing: .unconditional, help: "Seconds to keep asking the Agones SDK for the GameServer while it starts (default 60).")
    var agonesStartTimeout: Double?

    @Flag(help: "The Agones port uses portPolicy Passthrough: bind both sockets to the allocated port.")
    var agonesPassthrough = false

    @Option(parsing: .unconditional, help: "GameServer port to advertise (default: the port named relay, else the first).")
    var agonesPortName: String?

    /// The flags given, as text keyed by setting name.
    private var flagValues: [String: String] {
        var values: [String: String] = [:]
        func put(_ name: String, _ value: (any CustomStringConvertible)?) {
            if let value { values[name] = value.description }
        }
        put("host", host)
        put("port", port)
        put("udp-port", udpPort)
        put("advertise-udp-port", advertiseUdpPort)
        put("max-datagram", maxDatagram)
        put("max-control-message", maxControlMessage)
        put("idle-timeout", idleTimeout)
        put("control-idle-timeout", controlIdleTimeout)
        put("empty-session-timeout", emptySessionTimeout)
        put("max-session-capacity", maxSessionCapacity)
        put("member-packet-rate", memberPacketRate)
        put("member-byte-rate", memberByteRate)
        put("drain-timeout", drainTimeout)
        put("threads", threads)
        put("metrics-port", metricsPort)
        put("busy-poll-us", busyPollUs)
        put("control-frames-per-turn", controlFramesPerTurn)
        put("control-backlog-bytes", controlBacklogBytes)
        put("reserved-descriptors", reservedDescriptors)
        put("max-connections", maxConnections)
        put("max-connections-per-source", maxConnectionsPerSource)
        put("max-sessions", maxSessions)
        put("max-sessions-per-source", maxSessionsPerSource)
        put("join-failure-rate", joinFailureRate)
        put("session-join-rate", sessionJoinRate)
        put("tls-cert", tlsCert)
        put("tls-key", tlsKey)
        if tlsRequired { values["tls-required"] = "true" }
        if !wsOrigin.isEmpty { values["ws-origin"] = wsOrigin.joined(separator: ",") }
        put("ws-backlog-bytes", wsBacklogBytes)
        put("ws-backlog-total-bytes", wsBacklogTotalBytes)
        put("ws-handoff-bytes", wsHandoffBytes)
        put("log-level", logLevel)
        put("log-format", logFormat)
        if agones { values["agones"] = "true" }
        put("agones-sdk-port", agonesSdkPort)
        put("agones-health-interval", agonesHealthInterval)
        put("agones-start-timeout", agonesStartTimeout)
        if agonesPassthrough { values["agones-passthrough"] = "true" }
        put("agones-port-name", agonesPortName)
        return values
    }

    func settings() throws -> ServeSettings {
        var file: (path: String, text: String)?
        if let config {
            guard let text = try? String(contentsOfFile: config, encoding: .utf8) else {
                throw ValidationError("--config \(config): cannot read the file")
            }
            file = (config, text)
        }
        do {
            return try ServeSettings.resolve(flags: flagValues, environment: ProcessInfo.processInfo.environment, configFile: file)
        } catch {
            throw ValidationError(error.description)
        }
    }

    func validate() throws {
        _ = try settings()
    }

    func run() throws {
        let settings = try settings()
        try RelayProcess(settings: settings).run()
    }
}
