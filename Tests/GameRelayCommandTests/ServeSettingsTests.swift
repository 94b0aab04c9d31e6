@testable import gamerelay
import RelayServer
import Testing

@Suite("Settings: flags, environment, config file")
struct ServeSettingsTests {
    static let file = (path: "relay.yaml", text: """
        port: 7000
        idle-timeout: 2.5
        host: "::"
        log-format: json
        """)

    @Test func flagsWinOverEnvironmentWhichWinsOverTheFile() throws {
        let settings = try ServeSettings.resolve(
            flags: ["port": "7100"],
            environment: ["GAMERELAY_PORT": "7200", "GAMERELAY_IDLE_TIMEOUT": "0.5", "GAMERELAY_METRICS_PORT": "9400", "HOME": "/root"],
            configFile: Self.file)
        #expect(settings.config.port == 7100)
        #expect(settings.config.idleTimeout == .milliseconds(500))
        #expect(settings.config.host == "::")
        #expect(settings.config.metricsPort == 9400)
        #expect(settings.logFormat == "json")
        // Untouched settings keep the protocol's defaults.
        #expect(settings.config.maxDatagram == 1200 && settings.config.drainTimeout == .seconds(5))
    }

    @Test func theHostileInputLimitsAreSettings() throws {
        let settings = try ServeSettings.resolve(
            flags: ["max-connections": "500"],
            environment: ["GAMERELAY_CONTROL_FRAMES_PER_TURN": "16", "GAMERELAY_RESERVED_DESCRIPTORS": "128"],
            configFile: (path: "relay.yaml", text: "control-backlog-bytes: 32768"))
        #expect(settings.config.maxConnections == 500)
        #expect(settings.config.controlFramesPerTurn == 16)
        #expect(settings.config.reservedDescriptors == 128)
        #expect(settings.config.controlBacklogBytes == 32768)
    }

    @Test func busyPollingIsASettingInMicrosecondsAndZeroTurnsItOff() throws {
        #expect(try ServeSettings.resolve(flags: [:], environment: [:], configFile: nil).config.busyPoll == .microseconds(50))
        #expect(try ServeSettings.resolve(flags: ["busy-poll-us": "0"], environment: [:], configFile: nil).config.busyPoll == .zero)
        #expect(try ServeSettings.resolve(flags: [:], environment: ["GAMERELAY_BUSY_POLL_US": "200"], configFile: nil).config.busyPoll == .microseconds(200))
    }

    @Test func webSocketOriginsComeFromRepeatedFlagsAVariableOrAYAMLList() throws {
        #expect(try ServeSettings.resolve(flags: [:], environment: [:], configFile: nil).config.wsOrigins.isEmpty)
        let flags = try ServeSettings.resolve(flags: ["ws-origin": "https://game.example.com,http://localhost:8080"],
                                              environment: [:], configFile: nil).config
        #expect(flags.wsOrigins == ["https://game.example.com", "http://localhost:8080"])
        let environment = try ServeSettings.resolve(flags: [:], environment: ["GAMERELAY_WS_ORIGIN": "https://a.example, https://[::1]:8443"],
                                                    configFile: nil).config
        #expect(environment.wsOrigins == ["https://a.example", "https://[::1]:8443"])
        let file = try ServeSettings.resolve(flags: [:], environment: [:], configFile: (path: "relay.yaml", text: """
            ws-origin:
              - https://game.example.com
              - https://beta.game.example.com
            ws-backlog-bytes: 65536
            """)).config
        #expect(file.wsOrigins == ["https://game.example.com", "https://beta.game.example.com"])
        #expect(file.wsBacklogBytes == 65536)
        for bad in ["game.example.com", "https://game.example.com/", "https://game.example.com/play", "HTTPS://x.example",
                    "https://user@x.example", "https://x.example:0", "https://x.example:99999", "https://", "https://x.example:"] {
            #expect(throws: RelayConfigError.self, "\(bad)") {
                try ServeSettings.resolve(flags: ["ws-origin": bad], environment: [:], configFile: nil)
            }
        }
        #expect(throws: RelayConfigError.self) {
            try ServeSettings.resolve(flags: ["ws-backlog-bytes": "10"], environment: [:], configFile: nil)
        }
    }

    @Test func tlsSettingsComeFromFlagsEnvironmentOrFile() throws {
        let none = try ServeSettings.resolve(flags: [:], environment: [:], configFile: nil).config
        #expect(none.tlsCertificateFile == nil && none.tlsKeyFile == nil && !none.tlsRequired)
        let flags = try ServeSettings.resolve(flags: ["tls-cert": "/etc/c.pem", "tls-key": "/etc/k.pem", "tls-required": "true"],
                                              environment: [:], configFile: nil).config
        #expect(flags.tlsCertificateFile == "/etc/c.pem" && flags.tlsKeyFile == "/etc/k.pem" && flags.tlsRequired)
        let environment = try ServeSettings.resolve(
            flags: [:], environment: ["GAMERELAY_TLS_CERT": "/e/c.pem", "GAMERELAY_TLS_KEY": "/e/k.pem", "GAMERELAY_TLS_REQUIRED": "1"],
            configFile: nil).config
        #expect(environment.tlsCertificateFile == "/e/c.pem" && environment.tlsKeyFile == "/e/k.pem" && environment.tlsRequired)
        let file = try ServeSettings.resolve(flags: [:], environment: [:], configFile: (path: "relay.yaml", text: """
            tls-cert: /f/c.pem
            tls-key: /f/k.pem
            tls-required: true
            """)).config
        #expect(file.tlsCertificateFile == "/f/c.pem" && file.tlsKeyFile == "/f/k.pem" && file.tlsRequired)
        let off = try ServeSettings.resolve(flags: [:], environment: ["GAMERELAY_TLS_REQUIRED": "false"],
                                            configFile: (path: "relay.yaml", text: "tls-required: true\ntls-cert: c\ntls-key: k")).config
        #expect(!off.tlsRequired)
    }

    @Test(arguments: [
        (["tls-cert": "/c.pem"], "--tls-cert"),
        (["tls-key": "/k.pem"], "--tls-key"),
        (["tls-required": "true"], "--tls-required"),
        (["tls-cert": " ", "tls-key": "/k.pem"], "--tls-cert"),
    ])
    func incompleteTLSSettingsAreRefusedNamingTheFlag(flags: [String: String], setting: String) throws {
        #expect(throws: RelayConfigError.self) { try ServeSettings.resolve(flags: flags, environment: [:], configFile: nil) }
        do {
            _ = try ServeSettings.resolve(flags: flags, environment: [:], configFile: nil)
        } catch {
            #expect(error.setting == setting, "\(error)")
        }
        #expect(throws: RelayConfigError.self) {
            try ServeSettings.resolve(flags: [:], environment: ["GAMERELAY_TLS_REQUIRED": "maybe"], configFile: nil)
        }
    }

    @Test func kubernetesServiceLinksAreNotSettings() throws {
        let settings = try ServeSettings.resolve(
            flags: [:], environment: ["GAMERELAY_PORT": "tcp://10.0.0.7:7400", "GAMERELAY_METRICS_PORT": "tcp://10.0.0.8:9400"],
            configFile: (path: "relay.yaml", text: "port: 7100"))
        #expect(settings.config.port == 7100)
        #expect(settings.config.metricsPort == nil)
    }

    @Test func noSourcesMeansTheDefaults() throws {
        let settings = try ServeSettings.resolve(flags: [:], environment: [:], configFile: nil)
        #expect(settings.config == RelayConfig())
        #expect(settings.logLevel == "info" && settings.logFormat == "text")
    }

    @Test(arguments: [
        ([ "max-datagram": "39"], [String: String](), "--max-datagram"),
        ([:], ["GAMERELAY_PORT": "70000"], "GAMERELAY_PORT"),
        ([:], ["GAMERELAY_IDLE_TIMEOUT": "0"], "GAMERELAY_IDLE_TIMEOUT"),
        (["log-level": "loud"], [:], "--log-level"),
        (["log-format": "xml"], [:], "--log-format"),
        (["max-session-capacity": "1"], [:], "--max-session-capacity"),
        (["max-connections": "0"], [:], "--max-connections"),
        ([:], ["GAMERELAY_CONTROL_FRAMES_PER_TURN": "0"], "GAMERELAY_CONTROL_FRAMES_PER_TURN"),
        (["control-backlog-bytes": "100"], [:], "--control-backlog-bytes"),
        (["reserved-descriptors": "2"], [:], "--reserved-descriptors"),
        (["busy-poll-us": "10001"], [:], "--busy-poll-us"),
        ([:], ["GAMERELAY_BUSY_POLL_US": "-1"], "GAMERELAY_BUSY_POLL_US"),
    ])
    func badValuesNameTheirSource(flags: [String: String], environment: [String: String], source: String) {
        #expect {
            try ServeSettings.resolve(flags: flags, environment: environment, configFile: nil)
        } throws: { error in
            (error as? RelayConfigError)?.setting == source
        }
    }

    @Test(arguments: ["prot: 1", "- 1\n- 2", "port: [1, 2]", "port: 70000", "{{{"])
    func badConfigFilesAreRefused(text: String) {
        #expect(throws: RelayConfigError.self) {
            try ServeSettings.resolve(flags: [:], environment: [:], configFile: ("relay.yaml", text))
        }
    }

    @Test func everySettingHasAnEnvironmentVariable() {
        #expect(ServeSettings.environmentName("control-idle-timeout") == "GAMERELAY_CONTROL_IDLE_TIMEOUT")
        #expect(Set(ServeSettings.names.map(ServeSettings.environmentName)).count == ServeSettings.names.count)
    }
}
