import Foundation
import TestSupport
import Testing
@_spi(Testing) import UVNet

#if canImport(Glibc)
import Glibc
#endif

/// SIGHUP and TLS in the built `gamerelay serve` process.
@Suite("TLS in the relay process")
struct TLSProcessTests {
    @Test func sighupWithoutACertificateDoesNotEndTheRelay() async throws {
        let relay = try RelayProcessHarness(["serve", "--host", "127.0.0.1", "--port", "0", "--drain-timeout", "0.2"])
        let port = try #require(try relay.waitForListening().control.portSuffix)
        relay.signal(SIGHUP)
        // SIGHUP's default action would end the process at once.
        #expect(try await relay.waitForExit(timeout: .milliseconds(500)) == nil, "the relay ended on SIGHUP: \(relay.stderrText())")
        let client = try ControlTestClient(port: port)
        #expect(try client.request(#"{"op":"hello","protocol":1}"#)["ok"] as? Bool == true)
        relay.signal(SIGTERM)
        #expect(try await relay.waitForExit() == 0)
    }

    @Test func sighupLoadsARenewedCertificateForNewConnections() async throws {
        let files = try TLSFiles()
        defer { files.remove() }
        let relay = try RelayProcessHarness(["serve", "--host", "127.0.0.1", "--port", "0", "--drain-timeout", "0.2",
                                             "--tls-cert", files.certificate, "--tls-key", files.key])
        let port = try #require(try relay.waitForListening().control.portSuffix)
        let before = try await TLSTestClient.connect(port: port, context: files.client())
        defer { Task { await before.close() } }
        try await before.established()

        let renewed = TestCertificates()
        try files.write(renewed)
        relay.signal(SIGHUP)
        // The reload happens on the relay's loop: try new connections until one gets the new pair.
        let deadline = ContinuousClock.now + .seconds(15)
        var reloaded = false
        while !reloaded, ContinuousClock.now < deadline {
            let probe = try await TLSTestClient.connect(port: port, context: files.client(renewed))
            if case .success = try await probe.handshake.wait("a handshake after SIGHUP")[0] { reloaded = true }
            await probe.close()
            if !reloaded { try await Task.sleep(for: .milliseconds(20)) }
        }
        #expect(reloaded, "no connection got the renewed certificate after SIGHUP")
        // The connection from before keeps its session.
        #expect(try await before.request(#"{"op":"hello","protocol":1}"#, frame: 0)["tls"] as? Bool == true)
        relay.signal(SIGTERM)
        #expect(try await relay.waitForExit() == 0)
    }
}
