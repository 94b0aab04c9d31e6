import Foundation
import RelayServer
import Yams

/// Everything `gamerelay serve` can be told, from flags, environment variables and a YAML
/// config file, in that order of precedence: a flag wins over the environment, the environment
/// over the file, and the file over the defaults.
///
/// Every setting has one name in three spellings: the flag `--idle-timeout`, the environment
/// variable `GAMERELAY_IDLE_TIMEOUT`, and the file key `idle-timeout`.
struct ServeSettings: Sendable, Equatable {
    /// The relay's configuration.
    var config = RelayConfig()
    /// The log level: trace, debug, info, notice, warning, error or critical.
    var logLevel = "info"
    /// The log format: `text` for people, `json` for log shippers.
    var logFormat = "text"
    /// The `agones` setting as given (nil when absent): `false` keeps the integration off even
    /// inside an Agones pod.
    private var agonesSetting: Bool?
    /// Whether `agones-sdk-port` was given, which wins over `AGONES_SDK_HTTP_PORT`.
    private var sdkPortIsSet = false
    /// The `agones-*` details given so far, kept apart until the integration is on.
    private var agonesDetails = AgonesConfig()

    /// Every setting's name, as its flag is spelled without the dashes.
    static let names = [
        "host", "port", "udp-port", "max-datagram", "max-control-message", "idle-timeout",
        "control-idle-timeout", "empty-session-timeout", "max-session-capacity", "member-packet-rate",
        "member-byte-rate", "drain-timeout", "threads", "metrics-port", "busy-poll-us", "control-frames-per-turn", "control-backlog-bytes",
        "reserved-descriptors", "max-connections", "max-connections-per-source", "max-sessions",
        "max-sessions-per-source", "join-failure-rate", "session-join-rate", "tls-cert", "tls-key", "tls-required",
        "log-level", "log-format", "advertise-udp-port", "agones", "agones-sdk-port", "agones-health-interval",
        "agones-start-timeout", "agones-passthrough", "agones-port-name", "ws-origin", "ws-backlog-bytes",
        "ws-backlog-total-bytes", "ws-handoff-bytes",
    ]

    /// The environment variable of a setting: `idle-timeout` → `GAMERELAY_IDLE_TIMEOUT`.
    static func environmentName(_ name: String) -> String {
        "GAMERELAY_" + name.uppercased().replacingOccurrences(of: "-", with: "_")
    }

    /// Resolves the settings.
    ///
    /// - Parameters:
    ///   - flags: Values given as flags, keyed by setting name, as text.
    ///   - environment: The process environment (only `GAMERELAY_*` variables are read).
    ///   - configFile: The YAML text of the config file, if any, and its path for messages.
    /// - Throws: ``RelayConfigError`` naming the setting by where its bad value came from (the
    ///   flag, the environment variable, or `file: key`).
    static func resolve(flags: [String: String], environment: [String: String],
                        configFile: (path: String, text: String)?) throws(RelayConfigError) -> ServeSettings {
        var file: [String: String] = [:]
        if let configFile { file = try parseFile(configFile.text, path: configFile.path) }
        var settings = ServeSettings()
        for name in names {
            let source: String
            let text: String
            if let value = flags[name] {
                (source, text) = ("--\(name)", value)
            } else if let value = environment[environmentName(name)], !isServiceLink(value) {
                (source, text) = (environmentName(name), value)
            } else if let value = file[name], let configFile {
                (source, text) = ("\(configFile.path): \(name)", value)
            } else {
                continue
            }
            try settings.apply(name, text, source: source)
        }
        // Agones tells every game server container its SDK gateway's port; its presence alone
        // turns the integration on, unless a setting says `agones: false`.
        if let text = environment["AGONES_SDK_HTTP_PORT"], !text.isEmpty {
            if settings.config.agones == nil, settings.agonesSetting != false {
                settings.config.agones = settings.agonesDetails
            }
            if var agones = settings.config.agones, !settings.sdkPortIsSet {
                guard let port = Int(text.trimmingCharacters(in: .whitespaces)), (1...65_535).contains(port) else {
                    throw RelayConfigError(setting: "AGONES_SDK_HTTP_PORT", message: "must be a port number in 1...65535, not '\(text)'")
                }
                agones.sdkPort = port
                settings.config.agones = agones
            }
        }
        try settings.config.validate()
        return settings
    }

    /// Kubernetes injects `GAMERELAY_PORT=tcp://10.0.0.7:7400` into pods when a Service is named
    /// `gamerelay`; such a value is an address, never one of our settings, so it is ignored.
    static func isServiceLink(_ value: String) -> Bool {
        value.hasPrefix("tcp://") || value.hasPrefix("udp://")
    }

    private static func parseFile(_ text: String, path: String) throws(RelayConfigError) -> [String: String] {
        let loaded: Any?
        do {
            loaded = try Yams.load(yaml: text)
        } catch {
            throw RelayConfigError(setting: path, message: "is not valid YAML: \(error)")
        }
        guard let loaded else { return [:] }
        guard let mapping = loaded as? [String: Any] else {
            throw RelayConfigError(setting: path, message: "must be a mapping of setting names to values")
        }
        var values: [String: String] = [:]
        for (key, value) in mapping {
            guard names.contains(key) else {
                throw RelayConfigError(setting: "\(path): \(key)", message: "is not a setting; known: \(names.joined(separator: ", "))")
            }
            switch value {
            case let string as String: values[key] = string
            case let bool as Bool: values[key] = bool ? "true" : "false"
            case let int as Int: values[key] = String(int)
            case let double as Double: values[key] = String(double)
            // A list (the origins of `ws-origin`) becomes the comma-separated text a variable holds.
            case let list as [String]: values[key] = list.joined(separator: ",")
            default: throw RelayConfigError(setting: "\(path): \(key)", message: "must be a number or a string")
            }
        }
        return values
    }

    private mutating func apply(_ name: String, _ text: String, source: String) throws(RelayConfigError) {
        func integer(_ range: ClosedRange<Int>) throws(RelayConfigError) -> Int {
            guard let value = Int(text.trimmingCharacters(in: .whitespaces)), range.contains(value) else {
                throw RelayConfigError(setting: source, message: "must be a whole number in \(range.lowerBound)...\(range.upperBound), not '\(text)'")
            }
            return value
        }
        func rate() throws(RelayConfigError) -> Double {
            guard let value = Double(text.trimmingCharacters(in: .whitespaces)), value.isFinite, value > 0, value <= 1e9 else {
                throw RelayConfigError(setting: source, message: "must be a number per second greater than 0, not '\(text)'")
            }
            return value
        }
        func boolean() throws(RelayConfigError) -> Bool {
            switch text.trimmingCharacters(in: .whitespaces).lowercased() {
            case "true", "1", "yes", "on": return true
            case "false", "0", "no", "off", "": return false
            default: throw RelayConfigError(setting: source, message: "must be true or false, not '\(text)'")
            }
        }
        func seconds() throws(RelayConfigError) -> Duration {
            guard let value = Double(text.trimmingCharacters(in: .whitespaces)), value.isFinite, value > 0 else {
                throw RelayConfigError(setting: source, message: "must be a number of seconds greater than 0, not '\(text)'")
            }
            // Beyond about 292 years the nanosecond count saturates, which is the same as forever.
            let nanos = (value * 1e9).rounded(.up)
            return .nanoseconds(nanos >= 9.2e18 ? Int64.max : Int64(nanos))
        }
        switch name {
        case "host": config.host = text
        case "port": config.port = try integer(0...65_535)
        case "udp-port": config.udpPort = try integer(0...65_535)
        case "max-datagram": config.maxDatagram = try integer(RelayConfig.maxDatagramRange)
        case "max-control-message": config.maxControlMessage = try integer(1...(64 << 20))
        case "idle-timeout": config.idleTimeout = try seconds()
        case "control-idle-timeout": config.controlIdleTimeout = try seconds()
        case "empty-session-timeout": config.emptySessionTimeout = try seconds()
        case "max-session-capacity": config.maxSessionCapacity = try integer(2...65_534)
        case "member-packet-rate": config.memberPacketRate = try integer(1...Int(Int32.max))
        case "member-byte-rate": config.memberByteRate = try integer(1...Int.max)
        case "drain-timeout": config.drainTimeout = try seconds()
        case "threads": config.threads = try integer(1...64)
        case "metrics-port": config.metricsPort = try integer(0...65_535)
        case "busy-poll-us": config.busyPoll = .microseconds(try integer(0...10_000))
        case "control-frames-per-turn": config.controlFramesPerTurn = try integer(1...65_536)
        case "control-backlog-bytes": config.controlBacklogBytes = try integer(1024...RelayConfig().maxPendingControlBytes)
        case "reserved-descriptors": config.reservedDescriptors = try integer(16...65_536)
        case "max-connections": config.maxConnections = try integer(1...Int(Int32.max))
        case "max-connections-per-source": config.maxConnectionsPerSource = try integer(1...Int(Int32.max))
        case "max-sessions": config.maxSessions = try integer(1...Int(Int32.max))
        case "max-sessions-per-source": config.maxSessionsPerSource = try integer(1...Int(Int32.max))
        case "join-failure-rate":
            config.joinFailureRate = try rate()
            config.joinFailureBurst = max(1, (config.joinFailureRate * 5).rounded(.up))
        case "session-join-rate": config.sessionJoinRate = try rate()
        case "tls-cert", "tls-key":
            let path = text.trimmingCharacters(in: .whitespaces)
            guard !path.isEmpty else { throw RelayConfigError(setting: source, message: "must name a PEM file") }
            if name == "tls-cert" { config.tlsCertificateFile = path } else { config.tlsKeyFile = path }
        case "tls-required": config.tlsRequired = try boolean()
        case "ws-origin":
            // Repeated flags arrive joined by commas, as the environment variable takes them.
            let origins = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            for origin in origins where !RelayConfig.isOrigin(origin) {
                throw RelayConfigError(setting: source, message: "must be exactly scheme://host[:port] (e.g. https://game.example.com), not '\(origin)'")
            }
            config.wsOrigins = origins
        case "ws-backlog-bytes": config.wsBacklogBytes = try integer(1024...RelayConfig().maxPendingControlBytes)
        case "ws-backlog-total-bytes": config.wsBacklogTotalBytes = try integer(1024...(64 << 30))
        case "ws-handoff-bytes": config.wsHandoffBytes = try integer((64 << 10)...(1 << 30))
        case "advertise-udp-port": config.advertisedUDPPort = try integer(1...65_535)
        case "agones":
            let on = try boolean()
            agonesSetting = on
            config.agones = on ? agonesDetails : nil
        case "agones-sdk-port", "agones-health-interval", "agones-start-timeout", "agones-passthrough", "agones-port-name":
            // These shape the integration without turning it on; they apply once `agones` or
            // AGONES_SDK_HTTP_PORT does.
            var agones = agonesDetails
            switch name {
            case "agones-sdk-port":
                agones.sdkPort = try integer(1...65_535)
                sdkPortIsSet = true
            case "agones-health-interval": agones.healthInterval = try seconds()
            case "agones-start-timeout": agones.startTimeout = try seconds()
            case "agones-passthrough": agones.passthrough = try boolean()
            default:
                let portName = text.trimmingCharacters(in: .whitespaces)
                guard !portName.isEmpty else { throw RelayConfigError(setting: source, message: "must name a GameServer port") }
                agones.portName = portName
            }
            agonesDetails = agones
            if config.agones != nil { config.agones = agones }
        case "log-level":
            let level = text.lowercased()
            guard ["trace", "debug", "info", "notice", "warning", "error", "critical"].contains(level) else {
                throw RelayConfigError(setting: source, message: "must be one of trace, debug, info, notice, warning, error, critical")
            }
            logLevel = level
        case "log-format":
            guard ["text", "json"].contains(text) else { throw RelayConfigError(setting: source, message: "must be text or json") }
            logFormat = text
        default:
            throw RelayConfigError(setting: source, message: "is not a setting")
        }
    }
}
