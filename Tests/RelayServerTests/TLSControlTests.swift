import Foundation
@_spi(Testing) import RelayServer
import TestSupport
import Testing
@_spi(Testing) import UVNet

/// A test PKI written to a temporary directory, as an operator's files would be.
struct TLSFiles: Sendable {
    let directory: URL
    let pki: TestCertificates
    var certificate: String { directory.appendingPathComponent("chain.pem").path }
    var key: String { directory.appendingPathComponent("key.pem").path }

    init(_ pki: TestCertificates = TestCertificates()) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("gamerelay-tls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        self.pki = pki
        try write(pki)
    }

    /// Replaces the files with another pair (an operator renewing the certificate).
    func write(_ pki: TestCertificates) throws {
        try Data(pki.chainPEM).write(to: URL(fileURLWithPath: certificate))
        try Data(pki.leafKeyPEM).write(to: URL(fileURLWithPath: key))
    }

    /// A client context that trusts only this PKI's root.
    func client(_ pki: TestCertificates? = nil) throws -> TLSContext {
        try TLSContext.client(trustRoots: (pki ?? self.pki).rootPEM)
    }

    func remove() { try? FileManager.default.removeItem(at: directory) }
}

@Suite("TLS on the control port")
struct TLSControlTests {
    static func start(_ files: TLSFiles, _ configure: @escaping @Sendable (inout RelayConfig) -> Void = { _ in }) async throws -> TestRelay {
        try await TestRelay.start { config in
            config.tlsCertificateFile = files.certificate
            config.tlsKeyFile = files.key
            configure(&config)
        }
    }

    @Test(arguments: ["127.0.0.1", "::1"])
    func tlsAndPlainConnectionsShareThePort(host: String) async throws {
        let files = try TLSFiles()
        defer { files.remove() }
        let relay = try await TestRelay.start(host: host) { config in
            config.tlsCertificateFile = files.certificate
            config.tlsKeyFile = files.key
        }
        defer { Task { await relay.stop() } }
        let secure = try await TLSTestClient.connect(host: host, port: relay.controlPort, context: files.client())
        defer { Task { await secure.close() } }
        try await secure.established()
        let hello = try await secure.request(#"{"op":"hello","protocol":1,"id":1}"#, frame: 0)
        #expect(hello["tls"] as? Bool == true)
        #expect((hello["features"] as? [String])?.contains("tls") == true)
        let plain = try ControlTestClient(host: host, port: relay.controlPort)
        let plainHello = try plain.request(#"{"op":"hello","protocol":1}"#)
        #expect(plainHello["tls"] as? Bool == false)
        #expect((plainHello["features"] as? [String])?.contains("tls") == true)
        // Sessions are one namespace whatever the transport.
        let created = try await secure.request(#"{"op":"create","id":2}"#, frame: 1)
        let session = try #require(created["session"] as? String)
        #expect(try plain.request(#"{"op":"join","session":"\#(session)"}"#)["member"] as? Int == 1)
        let counters = try await relay.counters()
        #expect(counters.tlsHandshakes == 1)
        #expect(try await relay.read { $0.tlsConnectionCount } == 1)
    }

    @Test func withoutACertificateHelloOffersNoTLSAndAHandshakeByteIsJustBadInput() async throws {
        let relay = try await TestRelay.start()
        defer { Task { await relay.stop() } }
        let client = try ControlTestClient(port: relay.controlPort)
        let hello = try client.request(#"{"op":"hello","protocol":1}"#)
        #expect((hello["features"] as? [String])?.contains("tls") == false)
        #expect(hello["tls"] as? Bool == false)
        let other = try ControlTestClient(port: relay.controlPort)
        try other.sendRaw([0x16, 0x03, 0x01, 0x00, 0x02, 0x01, 0x00, 0x0A])
        let reply = try other.readObject()
        #expect((reply["error"] as? [String: Any])?["code"] as? String == "bad_request")
        #expect(try await relay.counters().tlsHandshakes == 0)
    }

    @Test func handshakeFailuresAreCountedByReasonAndCloseTheConnection() async throws {
        let files = try TLSFiles()
        defer { files.remove() }
        let relay = try await Self.start(files)
        defer { Task { await relay.stop() } }
        // Not TLS after the first byte: a protocol failure.
        let garbage = try ControlTestClient(port: relay.controlPort)
        try garbage.sendRaw([0x16] + Array("GET / HTTP/1.1\r\n\r\n".utf8))
        #expect(try garbage.waitForClose())
        // A client that trusts another root refuses the chain and tells the relay with an alert.
        let stranger = try await TLSTestClient.connect(port: relay.controlPort, context: files.client(TestCertificates()))
        defer { Task { await stranger.close() } }
        let outcome = try await stranger.handshake.wait("the stranger's handshake")[0]
        guard case .failure(let failure) = outcome else { throw TestFailure("a client trusting another root completed the handshake") }
        #expect(failure.reason == .certificate)
        // A peer that closes in the middle of its ClientHello.
        let quitter = try ControlTestClient(port: relay.controlPort)
        try quitter.sendRaw([0x16, 0x03, 0x01, 0x02, 0x00, 0x01])
        quitter.close()
        let counters = try await relay.waitForCounters("three handshake failures") {
            $0.tlsHandshakeFailures(.protocol) + $0.tlsHandshakeFailures(.version) >= 1
                && $0.tlsHandshakeFailures(.alert) == 1 && $0.tlsHandshakeFailures(.closed) == 1
        }
        #expect(counters.tlsHandshakes == 0)
        try await relay.waitForConnections(atMost: 0, "failed handshakes close their connections")
        #expect(try await relay.read { $0.tlsConnectionCount } == 0)
    }

    @Test func aHandshakeThatDoesNotFinishInTimeIsClosedWithoutAWord() async throws {
        let files = try TLSFiles()
        defer { files.remove() }
        let relay = try await Self.start(files) { $0.tlsHandshakeTimeout = .milliseconds(300) }
        defer { Task { await relay.stop() } }
        // Taken before the connect: the relay's accept, which starts its timeout, is later.
        let started = ContinuousClock.now
        let slow = try ControlTestClient(port: relay.controlPort)
        try slow.sendRaw([0x16, 0x03, 0x01])
        #expect(try slow.waitForClose(timeout: .seconds(10)))
        #expect(ContinuousClock.now - started >= .milliseconds(250))
        let counters = try await relay.waitForCounters("a timed-out handshake") { $0.tlsHandshakeFailures(.timeout) == 1 }
        #expect(counters.closingSent == 0)
    }

    @Test func theControlIdleTimeoutBoundsTheHandshakeWhenShorter() async throws {
        let files = try TLSFiles()
        defer { files.remove() }
        let relay = try await Self.start(files) { $0.controlIdleTimeout = .milliseconds(400) }
        defer { Task { await relay.stop() } }
        let slow = try ControlTestClient(port: relay.controlPort)
        try slow.sendRaw([0x16])
        #expect(try slow.waitForClose(timeout: .seconds(8)))
        try await relay.waitForCounters("a timed-out handshake") { $0.tlsHandshakeFailures(.timeout) == 1 }
    }

    @Test func tlsRequiredRefusesAPlainConnectionsFirstMessageAndKeepsTLS() async throws {
        let files = try TLSFiles()
        defer { files.remove() }
        let relay = try await Self.start(files) { $0.tlsRequired = true }
        defer { Task { await relay.stop() } }
        let plain = try ControlTestClient(port: relay.controlPort)
        try plain.sendRaw(Array(#"{"op":"create","id":"x"}"#.utf8) + [10] + Array(#"{"op":"ping","id":2}"#.utf8) + [10])
        let frame = try plain.readFrame()
        #expect(frame.text.hasPrefix(#"{"id":"x","ok":false,"error":{"code":"tls_required""#), "\(frame.text)")
        #expect(frame.terminator == 10)
        #expect(try plain.waitForClose())
        #expect(try await relay.counters().tlsRequiredRefusals == 1)
        #expect(try await relay.counters().sessionsCreated == 0)
        let secure = try await TLSTestClient.connect(port: relay.controlPort, context: files.client())
        defer { Task { await secure.close() } }
        try await secure.established()
        #expect(try await secure.request(#"{"op":"create","id":1}"#, frame: 0)["ok"] as? Bool == true)
    }

    @Test func reloadServesTheNewPairToNewConnectionsAndKeepsOpenOnes() async throws {
        let files = try TLSFiles()
        defer { files.remove() }
        let relay = try await Self.start(files)
        defer { Task { await relay.stop() } }
        let early = try await TLSTestClient.connect(port: relay.controlPort, context: files.client())
        defer { Task { await early.close() } }
        try await early.established()
        let renewed = TestCertificates()
        try files.write(renewed)
        #expect(try await relay.read { $0.reloadTLS() })
        let late = try await TLSTestClient.connect(port: relay.controlPort, context: files.client(renewed))
        defer { Task { await late.close() } }
        try await late.established()
        let stale = try await TLSTestClient.connect(port: relay.controlPort, context: files.client(files.pki))
        defer { Task { await stale.close() } }
        guard case .failure = try await stale.handshake.wait("the old root's handshake")[0] else {
            throw TestFailure("after the reload a client trusting only the old root still verified the relay")
        }
        // The connection made before the reload goes on with its own pair.
        #expect(try await early.request(#"{"op":"ping","id":1}"#, frame: 0)["ok"] as? Bool == true)
        // A broken file: the reload fails, is counted, and the relay keeps serving the renewed pair.
        try Data("not a certificate".utf8).write(to: URL(fileURLWithPath: files.certificate))
        #expect(try await relay.read { $0.reloadTLS() } == false)
        let after = try await TLSTestClient.connect(port: relay.controlPort, context: files.client(renewed))
        defer { Task { await after.close() } }
        try await after.established()
        let counters = try await relay.counters()
        #expect(counters.tlsReloads == 1)
        #expect(counters.tlsReloadFailures == 1)
    }

    @Test func reloadWithoutACertificateDoesNothing() async throws {
        let relay = try await TestRelay.start()
        defer { Task { await relay.stop() } }
        #expect(try await relay.read { $0.reloadTLS() } == false)
        let counters = try await relay.counters()
        #expect(counters.tlsReloads == 0 && counters.tlsReloadFailures == 0)
    }

    @Test func eventsWaitForTheFirstByteAndThenTheHandshake() async throws {
        let files = try TLSFiles()
        defer { files.remove() }
        let relay = try await Self.start(files) { $0.drainTimeout = .seconds(30) }
        defer { Task { await relay.stop() } }
        let silent = try ControlTestClient(port: relay.controlPort)
        // The kernel completes the connect before the relay's loop accepts it.
        try await ControlPlaneTests.waitUntil("the relay accepted the silent connection") {
            try await relay.read { $0.controlConnectionCount } == 1
        }
        try await relay.read { $0.beginDrain() }
        // Nothing may be written before the first byte: it could still start TLS.
        #expect((try? silent.hasFrame(within: .milliseconds(300))) != true)
        try silent.send(#"{"op":"ping","id":1}"#)
        #expect(try silent.expectEvent("shutdown")["drainMs"] as? Int == 30_000)
        #expect(try silent.readObject()["id"] as? Int == 1)
    }

    @Test func anExpiredCertificateIsServedAsGiven() async throws {
        let files = try TLSFiles(TestCertificates(leafValidity: (from: -7200, to: -3600)))
        defer { files.remove() }
        let relay = try await Self.start(files)
        defer { Task { await relay.stop() } }
        #expect(try await relay.read { $0.tlsContext?.certificateNotAfter ?? .max } < Int64(Date().timeIntervalSince1970))
        let client = try await TLSTestClient.connect(port: relay.controlPort, context: TLSContext.client(verify: false))
        defer { Task { await client.close() } }
        try await client.established()
        #expect(try await client.request(#"{"op":"hello","protocol":1}"#, frame: 0)["tls"] as? Bool == true)
    }

    @Test func metricsShowHandshakesFailuresRefusalsReloadsAndExpiry() async throws {
        let files = try TLSFiles()
        defer { files.remove() }
        let relay = try await Self.start(files) {
            $0.metricsPort = 0
            $0.tlsRequired = true
        }
        defer { Task { await relay.stop() } }
        let secure = try await TLSTestClient.connect(port: relay.controlPort, context: files.client())
        defer { Task { await secure.close() } }
        try await secure.established()
        let plain = try ControlTestClient(port: relay.controlPort)
        try plain.send(#"{"op":"ping"}"#)
        #expect(try plain.waitForClose())
        let garbage = try ControlTestClient(port: relay.controlPort)
        try garbage.sendRaw([0x16, 0x03, 0x03, 0x00, 0x04, 0xFF, 0xFF, 0xFF, 0xFF])
        #expect(try garbage.waitForClose())
        #expect(try await relay.read { $0.reloadTLS() })
        try await relay.waitForCounters("the failed handshake") { $0.tlsHandshakeFailures(.protocol) + $0.tlsHandshakeFailures(.version) == 1 }
        let port = try await relay.read { $0.metricsAddress!.port }
        let body = try MetricsEndpointTests.http(port, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").body
        #expect(MetricsEndpointTests.sample("gamerelay_tls_handshakes_total", in: body) == 1)
        let failures = ["protocol", "version"].compactMap {
            MetricsEndpointTests.sample(#"gamerelay_tls_handshake_failures_total{reason="\#($0)"}"#, in: body)
        }
        #expect(failures.reduce(0, +) == 1, "\(body)")
        #expect(MetricsEndpointTests.sample(#"gamerelay_tls_handshake_failures_total{reason="timeout"}"#, in: body) == 0)
        #expect(MetricsEndpointTests.sample("gamerelay_tls_required_refusals_total", in: body) == 1)
        #expect(MetricsEndpointTests.sample(#"gamerelay_tls_reloads_total{result="ok"}"#, in: body) == 1)
        #expect(MetricsEndpointTests.sample("gamerelay_tls_connections", in: body) == 1)
        let expiry = try #require(MetricsEndpointTests.sample("gamerelay_tls_certificate_expiry_timestamp_seconds", in: body))
        #expect(expiry > Date().timeIntervalSince1970 + 86_400 * 365)
    }

    @Test func startRefusesFilesThatDoNotMakeAPair() async throws {
        let files = try TLSFiles()
        defer { files.remove() }
        let other = try TLSFiles()
        defer { other.remove() }
        let cases: [(String?, String?, Bool)] = [
            (files.certificate, nil, false), (nil, files.key, false), (nil, nil, true),
            (files.directory.appendingPathComponent("missing.pem").path, files.key, false),
            (files.certificate, other.key, false), (files.key, files.key, false),
        ]
        for (certificate, key, required) in cases {
            await #expect(throws: SocketError.self, "\(String(describing: certificate)) \(String(describing: key)) \(required)") {
                let relay = try await TestRelay.start { config in
                    config.tlsCertificateFile = certificate
                    config.tlsKeyFile = key
                    config.tlsRequired = required
                }
                await relay.stop()
            }
        }
    }
}
