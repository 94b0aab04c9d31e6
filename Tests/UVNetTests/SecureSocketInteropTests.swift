import Foundation
import TestSupport
import Testing
@_spi(Testing) import UVNet

/// ``SecureSocket`` against another implementation: `openssl s_server` (its `-rev` mode answers
/// each line reversed), in TLS 1.3 and 1.2, and refusing TLS 1.1.
@Suite struct SecureSocketInteropTests {
    /// An `openssl s_server` on 127.0.0.1 with a PKI written for it, stopped by ``stop()``.
    final class OpenSSLServer: @unchecked Sendable {
        let process: ChildProcess
        let port: Int
        let directory: URL

        /// Starts the server with `arguments` after the certificate options, and waits for its
        /// `ACCEPT host:port` line.
        init(pki: (leaf: [UInt8], chain: [UInt8], key: [UInt8]), arguments: [String]) throws {
            directory = FileManager.default.temporaryDirectory.appendingPathComponent("gamerelay-s_server-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let leaf = directory.appendingPathComponent("leaf.pem")
            let chain = directory.appendingPathComponent("chain.pem")
            let key = directory.appendingPathComponent("key.pem")
            try Data(pki.leaf).write(to: leaf)
            try Data(pki.chain).write(to: chain)
            try Data(pki.key).write(to: key)
            process = try ChildProcess("openssl", ["s_server", "-accept", "127.0.0.1:0", "-cert", leaf.path, "-cert_chain", chain.path,
                                                   "-key", key.path, "-rev", "-naccept", "1"] + arguments, stdout: .pipe, stderr: .stdout)
            // Read until ACCEPT names the port (bounded: s_server prints it at once).
            var text = ""
            let deadline = ContinuousClock.now + .seconds(10)
            var found: Int?
            while found == nil, ContinuousClock.now < deadline {
                var pfd = pollfd(fd: process.stdoutDescriptor, events: Int16(POLLIN), revents: 0)
                guard poll(&pfd, 1, 100) >= 0 else { break }
                let chunk = ChildProcess.read(process.stdoutDescriptor, untilEnd: false)
                if chunk.isEmpty, !process.isRunning { break }
                text += String(decoding: chunk, as: UTF8.self)
                if let line = text.split(separator: "\n").first(where: { $0.hasPrefix("ACCEPT ") }),
                   let port = line.split(separator: ":").last.flatMap({ Int($0.trimmingCharacters(in: .whitespaces)) }) {
                    found = port
                }
            }
            guard let found else {
                kill(process.processIdentifier, SIGKILL)
                throw LoopSideFailure(description: "openssl s_server did not start: \(text)")
            }
            port = found
        }

        func stop() {
            if process.isRunning { kill(process.processIdentifier, SIGTERM) }
            process.waitUntilExit()
            try? FileManager.default.removeItem(at: directory)
        }
    }

    static let root = TestPKI.root()
    static let intermediate = root.issue("GameRelay interop intermediate CA", isCA: true, alternativeNames: nil, serial: 2)
    static let leaf = intermediate.issue("openssl s_server", serial: 3)
    static var serverPKI: (leaf: [UInt8], chain: [UInt8], key: [UInt8]) { (leaf.pem, intermediate.pem, leaf.keyPEM) }

    /// A secure socket trusting `root` (DER), connecting to 127.0.0.1:`port`, its events into `events`.
    static func connect(on loop: EventLoop, to port: Int, trusting root: [UInt8], events: Inbox<SecureEvent>) async throws -> LoopBound<SecureSocket> {
        try await loop.submit {
            let socket = SecureSocket(loop: loop)
            try socket.addBinaryChainBuildingCertificate(root, trusted: true)
            socket.report(to: events)
            try socket.connect(host: "127.0.0.1", port: port)
            return LoopBound(socket, loop: loop)
        }
    }

    @Test(arguments: [([String](), "TLSv1.3"), (["-tls1_2"], "TLSv1.2")])
    func talksToOpenSSLsServer(arguments: [String], version: String) async throws {
        let server = try OpenSSLServer(pki: Self.serverPKI, arguments: arguments)
        defer { server.stop() }
        try await withLoop("secure-socket-interop") { loop in
            let events = Inbox<SecureEvent>()
            let client = try await Self.connect(on: loop, to: server.port, trusting: Self.root.der, events: events)
            let outcome = try await events.next("the handshake with s_server")
            #expect(outcome == .connected(.trusted, subject: "CN=openssl s_server"), "\(outcome)")
            #expect(try await loop.submit { client.value.protocolVersion } == version)
            try await loop.submit {
                var socket = client.value
                socket.writeUTFBytes("GameRelay\n")
                socket.flush()
            }
            var received = ""
            while received.count < 10 {
                guard case .data = try await events.next("s_server's reversed line (\(received.count) of 10 bytes)") else {
                    throw LoopSideFailure(description: "s_server ended the connection early")
                }
                received += try await loop.submit {
                    var socket = client.value
                    return try socket.readUTFBytes(socket.bytesAvailable)
                }
            }
            #expect(received == "yaleRemaG\n")
            try await loop.submit { client.value.close() }
        }
    }

    @Test func refusesAServerThatOffersOnlyTLS11() async throws {
        let server = try OpenSSLServer(pki: Self.serverPKI, arguments: ["-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"])
        defer { server.stop() }
        try await withLoop("secure-socket-interop") { loop in
            let events = Inbox<SecureEvent>()
            let client = try await Self.connect(on: loop, to: server.port, trusting: Self.root.der, events: events)
            guard case .failed(let code, nil, .unknown, let message) = try await events.next("the refused handshake") else {
                throw LoopSideFailure(description: "a TLS 1.1 server was not refused before its certificate")
            }
            #expect(code == .tls)
            #expect(message.hasPrefix("version:"), "\(message)")
            #expect(try await loop.submit { client.value.connected } == false)
        }
    }

    @Test func refusesOpenSSLsServerUnderAnUnknownRoot() async throws {
        let server = try OpenSSLServer(pki: Self.serverPKI, arguments: [])
        defer { server.stop() }
        try await withLoop("secure-socket-interop") { loop in
            let events = Inbox<SecureEvent>()
            let client = try await Self.connect(on: loop, to: server.port, trusting: TestPKI.root("Someone else's root").der, events: events)
            guard case .failed(.tls, .untrustedSigners?, .untrustedSigners, _) = try await events.next("the refused handshake") else {
                throw LoopSideFailure(description: "s_server's chain under an unknown root was not refused as untrustedSigners")
            }
            #expect(try await loop.submit { client.value.serverCertificate?.issuer } == "CN=GameRelay interop intermediate CA")
        }
    }
}
