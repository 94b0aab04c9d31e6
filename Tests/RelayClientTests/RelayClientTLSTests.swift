import Foundation
import Logging
import RelayClient
import RelayServer
import TestSupport
import Testing
@_spi(Testing) import UVNet

/// RelayClient's control channel inside TLS, against an in-process relay with a throwaway PKI.
@Suite("RelayClient over TLS")
struct RelayClientTLSTests {
    /// A relay serving `pki`'s chain (or plain, without), on a loop shared with its clients.
    /// A test keeps the clients it connects: a RelayClient no one holds does nothing more.
    final class TLSRelay: Sendable {
        let loop = EventLoop(name: "client-tls-test")
        let relay: LoopBound<RelayServer>
        let port: Int
        let directory: URL

        init(pki: TestCertificates?, host: String = "127.0.0.1") async throws {
            directory = FileManager.default.temporaryDirectory.appendingPathComponent("gamerelay-client-tls-\(UUID().uuidString)")
            (relay, port) = try await startClientTestRelay(on: loop, host: host, pki: pki, directory: directory, label: "client-tls-test")
        }

        /// Connects a new client and reports the outcome, then its events.
        func connect(host: String = "127.0.0.1", tls: TLSContext?, serverName: String? = nil,
                     outcome: Inbox<Result<Void, RelayClientError>>, events: Inbox<RelayEvent> = Inbox()) async throws -> LoopBound<RelayClient> {
            let port = self.port
            let loop = self.loop
            return try await loop.submit {
                let client = RelayClient(loop: loop)
                client.onEvent = { events.put($0) }
                client.connect(host: host, port: port, tls: tls, serverName: serverName) { outcome.put($0) }
                return LoopBound(client, loop: loop)
            }
        }

        func shutdown() async {
            let relay = self.relay
            _ = try? await loop.submit { relay.value.stop() }
            await loop.shutdown()
            try? FileManager.default.removeItem(at: directory)
        }
    }

    @Test(arguments: ["127.0.0.1", "::1"])
    func aTLSMemberAndAPlainMemberExchangeData(host: String) async throws {
        let pki = TestCertificates()
        let relay = try await TLSRelay(pki: pki, host: host)
        defer { Task { await relay.shutdown() } }
        let context = try TLSContext.client(trustRoots: pki.rootPEM)
        let connected = Inbox<Result<Void, RelayClientError>>()
        let secure = try await relay.connect(host: host, tls: context, outcome: connected)
        let plain = try await relay.connect(host: host, tls: nil, outcome: connected)
        defer { withExtendedLifetime((secure, plain)) {} }
        for result in try await connected.wait(for: 2, "both connections") { try result.get() }
        let hello = Inbox<Result<RelayHello, RelayClientError>>()
        try await relay.loop.submit {
            secure.value.hello { hello.put($0) }
            plain.value.hello { hello.put($0) }
        }
        let hellos = try await hello.wait(for: 2, "both hellos").map { try $0.get() }
        #expect(hellos.map(\.tls).sorted { !$0 && $1 } == [false, true])
        #expect(hellos.allSatisfy { $0.features.contains("tls") })

        let received = Inbox<[UInt8]>()
        let ready = Inbox<Result<Void, RelayClientError>>()
        try await relay.loop.submit {
            plain.value.onData = { received.put(Array($0.payload)) }
            secure.value.create { created in
                guard case .success(let session) = created else { return ready.put(.failure(RelayClientError(.closed, "create failed"))) }
                for client in [secure.value, plain.value] {
                    client.join(session: session.session) { joined in
                        guard case .success = joined else { return ready.put(joined.map { _ in () }) }
                        client.bind { ready.put($0) }
                    }
                }
            }
        }
        for result in try await ready.wait(for: 2, "both members joined and bound") { try result.get() }
        try await relay.loop.submit { try [UInt8]([4, 2]).withUnsafeBytes { try secure.value.send($0) } }
        #expect(try await received.wait("DATA from the TLS member")[0] == [4, 2])
    }

    @Test func aRelayWhoseCertificateDoesNotVerifyIsRefused() async throws {
        let relay = try await TLSRelay(pki: TestCertificates())
        defer { Task { await relay.shutdown() } }
        let stranger = try TLSContext.client(trustRoots: TestCertificates().rootPEM)
        let outcome = Inbox<Result<Void, RelayClientError>>()
        let client = try await relay.connect(tls: stranger, outcome: outcome)
        defer { withExtendedLifetime(client) {} }
        guard case .failure(let error) = try await outcome.wait("the refused handshake")[0] else {
            throw TestFailure("a relay signed by an untrusted root was accepted")
        }
        #expect(error.code == .tls)
        #expect(error.certificateStatus == .untrustedSigners)
        #expect(error.message.contains("certificate was refused: untrustedSigners"), "\(error.message)")
    }

    @Test func aNameTheCertificateDoesNotCarryIsRefused() async throws {
        let pki = TestCertificates()
        let relay = try await TLSRelay(pki: pki)
        defer { Task { await relay.shutdown() } }
        let context = try TLSContext.client(trustRoots: pki.rootPEM)
        let outcome = Inbox<Result<Void, RelayClientError>>()
        let client = try await relay.connect(tls: context, serverName: "relay.example.net", outcome: outcome)
        defer { withExtendedLifetime(client) {} }
        guard case .failure(let error) = try await outcome.wait("the refused handshake")[0] else {
            throw TestFailure("a certificate for 127.0.0.1 and localhost was accepted for relay.example.net")
        }
        #expect(error.code == .tls)
        #expect(error.certificateStatus == .principalMismatch)
        let named = Inbox<Result<Void, RelayClientError>>()
        let second = try await relay.connect(tls: context, serverName: "localhost", outcome: named)
        defer { withExtendedLifetime(second) {} }
        try await named.wait("the handshake naming localhost")[0].get()
    }

    @Test func aHandshakeThatNeverFinishesTimesOut() async throws {
        // A listening socket nobody accepts from: the kernel completes TCP connects, and nothing
        // ever answers the ClientHello.
        let loop = EventLoop(name: "client-tls-stall")
        let outcome = Inbox<Result<Void, RelayClientError>>()
        let held = try await loop.submit {
            let server = ServerSocket(loop: loop)
            try server.bind(localPort: 0, localAddress: "127.0.0.1")
            try server.listen(backlog: 8)
            server.onConnect = { _ in }
            let client = RelayClient(loop: loop)
            client.requestTimeout = .milliseconds(300)
            client.connect(host: "127.0.0.1", port: server.localPort, tls: try TLSContext.client(trustRoots: TestCertificates().rootPEM)) {
                outcome.put($0)
            }
            return LoopBound((server, client), loop: loop)
        }
        guard case .failure(let error) = try await outcome.wait(timeout: .seconds(10), "the stalled handshake")[0] else {
            throw TestFailure("a handshake nobody answered succeeded")
        }
        #expect(error.code == .timedOut)
        _ = try? await loop.submit { held.value.0.close() }
        await loop.shutdown()
    }

    @Test func tlsToARelayWithoutTLSFailsInsteadOfHanging() async throws {
        let relay = try await TLSRelay(pki: nil)
        defer { Task { await relay.shutdown() } }
        let context = try TLSContext.client(trustRoots: TestCertificates().rootPEM)
        let outcome = Inbox<Result<Void, RelayClientError>>()
        let client = try await relay.connect(tls: context, outcome: outcome)
        defer { withExtendedLifetime(client) {} }
        guard case .failure(let error) = try await outcome.wait("the failed handshake")[0] else {
            throw TestFailure("a TLS handshake with a plain relay succeeded")
        }
        #expect(error.code == .tls)
        #expect(error.certificateStatus == nil, "no certificate was ever seen")
    }
}
