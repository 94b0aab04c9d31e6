@testable import gamerelay
import Foundation
import Logging
import RelayServer
import Testing

/// The settings and output an operator meets first: the advertised UDP port, Agones, JSON logs.
@Suite("Operating settings and output")
struct OperationsSettingsTests {
    @Test func theAdvertisedUDPPortComesFromFlagEnvironmentOrFile() throws {
        #expect(try ServeSettings.resolve(flags: [:], environment: [:], configFile: nil).config.advertisedUDPPort == nil)
        #expect(try ServeSettings.resolve(flags: ["advertise-udp-port": "7500"], environment: [:], configFile: nil)
            .config.advertisedUDPPort == 7500)
        #expect(try ServeSettings.resolve(flags: [:], environment: ["GAMERELAY_ADVERTISE_UDP_PORT": "7501"], configFile: nil)
            .config.advertisedUDPPort == 7501)
        #expect(try ServeSettings.resolve(flags: [:], environment: [:], configFile: (path: "r.yaml", text: "advertise-udp-port: 7502"))
            .config.advertisedUDPPort == 7502)
        #expect(throws: RelayConfigError.self) {
            try ServeSettings.resolve(flags: ["advertise-udp-port": "0"], environment: [:], configFile: nil)
        }
    }

    @Test func agonesIsOnInsideAnAgonesPodOrWhenAsked() throws {
        #expect(try ServeSettings.resolve(flags: [:], environment: [:], configFile: nil).config.agones == nil)
        let pod = try #require(try ServeSettings.resolve(flags: [:], environment: ["AGONES_SDK_HTTP_PORT": "9358"], configFile: nil).config.agones)
        #expect(pod.sdkPort == 9358 && pod.healthInterval == .seconds(2) && !pod.passthrough)
        let asked = try #require(try ServeSettings.resolve(
            flags: ["agones": "true", "agones-sdk-port": "9400", "agones-passthrough": "true", "agones-health-interval": "0.5"],
            environment: ["AGONES_SDK_HTTP_PORT": "9358"], configFile: nil).config.agones)
        #expect(asked.sdkPort == 9400 && asked.passthrough && asked.healthInterval == .milliseconds(500))
        // The details alone do not turn it on; `agones: false` keeps it off inside a pod.
        #expect(try ServeSettings.resolve(flags: ["agones-sdk-port": "9400"], environment: [:], configFile: nil).config.agones == nil)
        #expect(try ServeSettings.resolve(flags: [:], environment: ["AGONES_SDK_HTTP_PORT": "9358", "GAMERELAY_AGONES": "false"],
                                          configFile: nil).config.agones == nil)
        #expect(throws: RelayConfigError.self) {
            try ServeSettings.resolve(flags: [:], environment: ["AGONES_SDK_HTTP_PORT": "http"], configFile: nil)
        }
    }

    @Test func jsonLogsWriteNumbersAsNumbers() throws {
        let line = JSONLogHandler.line(label: "gamerelay", level: .info, message: "member joined",
                                       metadata: ["member": .stringConvertible(UInt16(3)), "session": "0042", "ok": .stringConvertible(true),
                                                  "name": "a\"\n\u{0}b", "rate": .stringConvertible(2.5)],
                                       timestamp: "2026-01-01T00:00:00.000Z")
        #expect(line.hasSuffix("}\n") && line.filter { $0 == "\n" }.count == 1)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(object["member"] as? Int == 3)
        #expect(object["session"] as? String == "0042")
        #expect(object["ok"] as? Bool == true)
        #expect(object["rate"] as? Double == 2.5)
        #expect(object["name"] as? String == "a\"\n\u{0}b")
        #expect(object["msg"] as? String == "member joined" && object["level"] as? String == "info")
    }

    @Test func theServeHelpShowsAHyphenatedConfigKey() {
        let help = GameRelayCommand.helpMessage(for: ServeCommand.self)
        #expect(help.contains("idle-timeout: 10"), "\(help)")
        #expect(help.contains("--advertise-udp-port") && help.contains("--agones"))
    }
}
