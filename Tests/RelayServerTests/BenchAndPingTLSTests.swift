import Foundation
import RelayServer
import TestSupport
import Testing
@_spi(Testing) import UVNet

#if canImport(Glibc)
import Glibc
#endif

/// `gamerelay ping` and `gamerelay bench` with the control channel inside TLS (`--tls`, `--ca`),
/// against an in-process relay serving a throwaway PKI on 127.0.0.1.
@Suite("gamerelay bench and ping over TLS (process)")
struct BenchAndPingTLSTests {
    /// A relay with TLS on its control port, the PEM files it was given, the root to trust and
    /// the root of another PKI (which must not be trusted).
    final class TLSRelay {
        let relay: TestRelay
        let directory: URL
        var address: String { "127.0.0.1:\(relay.controlPort)" }
        var rootFile: String { directory.appendingPathComponent("root.pem").path }
        var otherRootFile: String { directory.appendingPathComponent("other-root.pem").path }

        private init(relay: TestRelay, directory: URL) {
            self.relay = relay
            self.directory = directory
        }

        static func start() async throws -> TLSRelay {
            let directory = FileManager.default.temporaryDirectory
                .appendingPathComponent("bench-tls-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let pki = TestCertificates()
            let files = [("chain.pem", pki.chainPEM), ("key.pem", pki.leafKeyPEM), ("root.pem", pki.rootPEM),
                         ("other-root.pem", TestCertificates().rootPEM)]
            for (name, bytes) in files { try Data(bytes).write(to: directory.appendingPathComponent(name)) }
            let chain = directory.appendingPathComponent("chain.pem").path
            let key = directory.appendingPathComponent("key.pem").path
            let relay = try await TestRelay.start { config in
                config.tlsCertificateFile = chain
                config.tlsKeyFile = key
            }
            return TLSRelay(relay: relay, directory: directory)
        }

        func stop() async {
            await relay.stop()
            try? FileManager.default.removeItem(at: directory)
        }

        func handshakes() async throws -> UInt64 { try await relay.counters().tlsHandshakes }
    }

    private static func readJSON(_ path: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any])
    }

    @Test func pingOverTLSTrustingTheRelaysRoot() async throws {
        let tls = try await TLSRelay.start()
        let ping = try RelayProcessHarness(["ping", tls.address, "--ca", tls.rootFile, "-c", "2", "--interval", "0.05"])
        let status = try await ping.waitForExit(timeout: .seconds(30))
        let output = try ping.readAll()
        #expect(status == 0, "stderr: \(ping.stderrText())")
        #expect(output.contains("control over TLS"), "\(output)")
        #expect(output.contains("2 packets transmitted, 2 received, 0.0% packet loss"), "\(output)")
        #expect(try await tls.handshakes() >= 1)
        await tls.stop()
    }

    @Test func pingTrustingAnotherRootFailsWithOneLine() async throws {
        let tls = try await TLSRelay.start()
        let ping = try RelayProcessHarness(["ping", tls.address, "--ca", tls.otherRootFile, "-c", "1"])
        let status = try #require(try await ping.waitForExit(timeout: .seconds(30)))
        let stderr = ping.stderrText()
        #expect(status != 0)
        #expect(stderr.split(separator: "\n").count == 1, "\(stderr)")
        #expect(stderr.contains("TLS handshake with 127.0.0.1 failed"), "\(stderr)")
        #expect(stderr.contains("certificate was refused: untrustedSigners (unable to get local issuer certificate)"), "\(stderr)")
        #expect(try await tls.handshakes() == 0)
        await tls.stop()
    }

    /// `--tls-server-name` is the name checked against the certificate (which names
    /// localhost, 127.0.0.1 and ::1), whatever address is connected to.
    @Test func pingChecksTheGivenServerName() async throws {
        let tls = try await TLSRelay.start()
        let good = try RelayProcessHarness(["ping", tls.address, "--ca", tls.rootFile, "--tls-server-name", "localhost",
                                            "-c", "1", "--interval", "0.05"])
        #expect(try await good.waitForExit(timeout: .seconds(30)) == 0, "stderr: \(good.stderrText())")
        let wrong = try RelayProcessHarness(["ping", tls.address, "--ca", tls.rootFile, "--tls-server-name", "relay.example.net", "-c", "1"])
        let status = try #require(try await wrong.waitForExit(timeout: .seconds(30)))
        let stderr = wrong.stderrText()
        #expect(status != 0)
        #expect(stderr.split(separator: "\n").count == 1 && stderr.contains("TLS handshake with 127.0.0.1 failed"), "\(stderr)")
        #expect(stderr.contains("certificate was refused: principalMismatch"), "\(stderr)")
        await tls.stop()
    }

    @Test func anUnreadableCAFileFailsWithOneLine() async throws {
        let missing = "/nonexistent-\(getpid())/root.pem"
        for arguments in [["ping", "127.0.0.1:1", "--ca", missing, "-c", "1"],
                          ["bench", "--relay", "127.0.0.1:1", "--ca", missing, "--connections", "1"]] {
            let command = try RelayProcessHarness(arguments)
            let status = try #require(try await command.waitForExit(timeout: .seconds(30)))
            let stderr = command.stderrText()
            #expect(status != 0)
            #expect(stderr.split(separator: "\n").count == 1, "\(arguments[0]): \(stderr)")
            #expect(stderr.contains("cannot read \(missing)"), "\(arguments[0]): \(stderr)")
        }
    }

    @Test func benchTrafficWithTLSControlChannels() async throws {
        let tls = try await TLSRelay.start()
        let bench = try RelayProcessHarness(["bench", "--relay", tls.address, "--ca", tls.rootFile, "--sessions", "2",
                                             "--members", "2", "--rate", "50", "--duration", "0.5", "--warmup", "0.2"])
        #expect(try await bench.waitForExit(timeout: .seconds(60)) == 0, "stderr: \(bench.stderrText())")
        let table = try bench.readAll()
        #expect(table.contains("loss") && table.contains("0.00 %"), "\(table)")
        // Every member's control channel went through a handshake.
        #expect(try await tls.handshakes() >= 4)
        await tls.stop()
    }

    /// `--connections`: plain and TLS set-ups against the same relay (it takes both on one
    /// port); every measured connection and each session's anchor is one handshake.
    @Test func connectionSetUpPlainAndTLS() async throws {
        let tls = try await TLSRelay.start()
        let directory = tls.directory
        let plainJSON = directory.appendingPathComponent("plain.json").path
        let plain = try RelayProcessHarness(["bench", "--relay", tls.address, "--connections", "20", "--in-flight", "4", "--json", plainJSON])
        #expect(try await plain.waitForExit(timeout: .seconds(60)) == 0, "stderr: \(plain.stderrText())")
        let plainSummary = try Self.readJSON(plainJSON)
        #expect(plainSummary["mode"] as? String == "plain")
        #expect(plainSummary["connections"] as? Int == 20)
        #expect(plainSummary["sessions"] as? Int == 2)
        #expect(try await tls.handshakes() == 0)

        let tlsJSON = directory.appendingPathComponent("tls.json").path
        let secure = try RelayProcessHarness(["bench", "--relay", tls.address, "--ca", tls.rootFile, "--connections", "40",
                                              "--in-flight", "8", "--json", tlsJSON])
        #expect(try await secure.waitForExit(timeout: .seconds(60)) == 0, "stderr: \(secure.stderrText())")
        let table = try secure.readAll()
        #expect(table.contains("connections per relay CPU-second"), "\(table)")
        let summary = try Self.readJSON(tlsJSON)
        #expect(summary["mode"] as? String == "tls")
        #expect(summary["connections"] as? Int == 40)
        #expect((summary["connectionsPerSecond"] as? Double ?? 0) > 0)
        #expect((summary["setUpP99Millis"] as? Double ?? 0) >= (summary["setUpP50Millis"] as? Double ?? .infinity))
        // Without --relay-pid the relay's CPU is not known.
        #expect(summary["relayCPUSeconds"] == nil)
        // 40 measured connections and 3 anchors.
        #expect(try await tls.handshakes() == 43)
        // Everyone left: the anchors took their sessions with them.
        try await tls.relay.waitForConnections(atMost: 0, "the bench's connections closed")
        await tls.stop()
    }

    @Test func connectionSetUpTrustingAnotherRootFailsWithOneLine() async throws {
        let tls = try await TLSRelay.start()
        let bench = try RelayProcessHarness(["bench", "--relay", tls.address, "--ca", tls.otherRootFile, "--connections", "10"])
        let status = try #require(try await bench.waitForExit(timeout: .seconds(60)))
        let stderr = bench.stderrText()
        #expect(status != 0)
        #expect(stderr.split(separator: "\n").count == 1, "\(stderr)")
        #expect(stderr.contains("TLS handshake with 127.0.0.1 failed") && stderr.contains("unable to get local issuer certificate"), "\(stderr)")
        await tls.stop()
    }

    /// Without --relay, `--tls` serves the in-process relay with a throwaway PKI and trusts its root.
    @Test func connectionSetUpAgainstTheInProcessRelayOverTLS() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("bench-tls-inproc-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let json = directory.appendingPathComponent("summary.json").path
        let bench = try RelayProcessHarness(["bench", "--tls", "--connections", "20", "--json", json])
        #expect(try await bench.waitForExit(timeout: .seconds(60)) == 0, "stderr: \(bench.stderrText())")
        let summary = try Self.readJSON(json)
        #expect(summary["mode"] as? String == "tls")
        #expect(summary["target"] as? String == "in-process")
        #expect((summary["relayCPUMillisPerConnection"] as? Double ?? 0) > 0)
    }

    @Test func caNeedsARelay() async throws {
        let bench = try RelayProcessHarness(["bench", "--ca", "/dev/null", "--duration", "1"])
        let status = try #require(try await bench.waitForExit(timeout: .seconds(30)))
        #expect(status != 0)
        #expect(bench.stderrText().contains("--ca and --tls-server-name describe a relay given with --relay"))
    }
}
