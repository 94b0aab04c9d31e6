import Foundation
@_spi(Testing) import RelayServer
import TestSupport
import Testing
@_spi(Testing) import UVNet

/// UVNet's ``SecureSocket`` against the relay's own TLS control port: the flash.net client class
/// and the server side of PROTOCOL.md §6 agree, over IPv4 and IPv6.
@Suite("SecureSocket against the relay's TLS port")
struct SecureSocketRelayTests {
    /// The relay's files: root → intermediate → leaf for 127.0.0.1, ::1 and localhost.
    static let root = TestPKI.root()
    static let intermediate = root.issue("GameRelay relay-test intermediate CA", isCA: true, alternativeNames: nil, serial: 2)
    static let leaf = intermediate.issue("GameRelay relay under test", serial: 3)

    /// What the client saw, copied off its loop.
    enum Outcome: Sendable, Equatable {
        case connected(CertificateStatus, version: String?)
        case failed(SocketError.Code, CertificateStatus?)
    }

    /// The relay with its certificate files, stopped and removed by ``stop()``.
    struct Relay {
        let relay: TestRelay
        let directory: URL

        static func start(host: String) async throws -> Relay {
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("gamerelay-securesocket-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let chain = directory.appendingPathComponent("chain.pem").path
            let key = directory.appendingPathComponent("key.pem").path
            try Data(SecureSocketRelayTests.leaf.pem + SecureSocketRelayTests.intermediate.pem).write(to: URL(fileURLWithPath: chain))
            try Data(SecureSocketRelayTests.leaf.keyPEM).write(to: URL(fileURLWithPath: key))
            let relay = try await TestRelay.start(host: host) { config in
                config.tlsCertificateFile = chain
                config.tlsKeyFile = key
            }
            return Relay(relay: relay, directory: directory)
        }

        func stop() async {
            await relay.stop()
            try? FileManager.default.removeItem(at: directory)
        }
    }

    @Test(arguments: ["127.0.0.1", "::1"])
    func helloInsideTLSFromASecureSocket(host: String) async throws {
        let relay = try await Relay.start(host: host)
        let loop = EventLoop(name: "securesocket-relay")
        let outcome = Inbox<Outcome>()
        let frames = Inbox<String>()
        let client = try await loop.submit {
            let socket = SecureSocket(loop: loop)
            try socket.addBinaryChainBuildingCertificate(Self.root.der, trusted: true)
            var buffer: [UInt8] = []
            socket.onConnect = { [unowned socket] in
                outcome.put(.connected(socket.serverCertificateStatus, version: socket.protocolVersion))
                var writer = socket
                writer.writeUTFBytes(#"{"op":"hello","protocol":1,"id":7}"#)
                writer.writeByte(0)
                writer.flush()
            }
            socket.onIOError = { outcome.put(.failed($0.code, $0.certificateStatus)) }
            socket.onData = { [unowned socket] _ in
                var reader = socket
                if let bytes = try? reader.readBytes(reader.bytesAvailable) { buffer += bytes }
                while let end = buffer.firstIndex(of: 0) {
                    frames.put(String(decoding: buffer[..<end], as: UTF8.self))
                    buffer.removeSubrange(...end)
                }
            }
            try socket.connect(host: host, port: relay.relay.controlPort)
            return LoopBound(socket, loop: loop)
        }
        #expect(try await outcome.wait("the TLS connection")[0] == .connected(.trusted, version: "TLSv1.3"))
        let reply = try await frames.wait("the hello reply")[0]
        let object = try #require(try JSONSerialization.jsonObject(with: Data(reply.utf8)) as? [String: Any])
        #expect(object["id"] as? Int == 7)
        #expect(object["tls"] as? Bool == true, "\(reply)")
        #expect(try await relay.relay.counters().tlsHandshakes == 1)
        try await loop.submit { client.value.close() }
        await loop.shutdown()
        await relay.stop()
    }

    @Test func aSecureSocketTrustingAnotherRootRefusesTheRelay() async throws {
        let relay = try await Relay.start(host: "127.0.0.1")
        let loop = EventLoop(name: "securesocket-relay")
        let outcome = Inbox<Outcome>()
        let client = try await loop.submit {
            let socket = SecureSocket(loop: loop)
            try socket.addBinaryChainBuildingCertificate(TestPKI.root("Another root").der, trusted: true)
            socket.onConnect = { [unowned socket] in outcome.put(.connected(socket.serverCertificateStatus, version: socket.protocolVersion)) }
            socket.onIOError = { outcome.put(.failed($0.code, $0.certificateStatus)) }
            try socket.connect(host: "127.0.0.1", port: relay.relay.controlPort)
            return LoopBound(socket, loop: loop)
        }
        #expect(try await outcome.wait("the refusal")[0] == .failed(.tls, .untrustedSigners))
        // The relay hears the client's alert and counts a failed handshake, not a session.
        let deadline = ContinuousClock.now + .seconds(10)
        var alerts: UInt64 = 0
        while alerts == 0, ContinuousClock.now < deadline {
            alerts = try await relay.relay.counters().tlsHandshakeFailures(.alert)
            if alerts == 0 { try await Task.sleep(for: .milliseconds(5)) }
        }
        #expect(alerts == 1)
        #expect(try await relay.relay.counters().tlsHandshakes == 0)
        withExtendedLifetime(client) {}
        await loop.shutdown()
        await relay.stop()
    }
}
