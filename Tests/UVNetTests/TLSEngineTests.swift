import Testing
@_spi(Testing) import UVNet

/// Two engines talking through memory, no sockets: the handshake, records and failures as bytes.
@Suite struct TLSEngineTests {
    static func engines(client: TLSContext = TLSFixtures.clientContext, serverName: String? = "localhost") -> (TLSEngine, TLSEngine) {
        (TLSEngine(context: client, serverName: serverName), TLSEngine(context: TLSFixtures.serverContext))
    }

    @Test func aHandshakeInMemoryNegotiatesTLS13AndTheRelaysProtocol() {
        let (client, server) = Self.engines()
        #expect(client.protocolVersion == nil)
        let outcome = pump(client: client, server: server)
        #expect(outcome.client == .done)
        #expect(outcome.server == .done)
        #expect(client.isHandshakeComplete && server.isHandshakeComplete)
        #expect(client.protocolVersion == "TLSv1.3")
        #expect(server.protocolVersion == "TLSv1.3")
        #expect(client.alpnProtocol == "gamerelay/1")
        #expect(server.alpnProtocol == "gamerelay/1")
        #expect(client.verifyResult == 0)
        #expect(client.peerCertificate?.isEmpty == false)
        #expect(server.peerCertificate == nil, "the server asks for no client certificate")
        #expect(!client.hasOutput && !server.hasOutput, "a server that keeps no sessions sends no tickets")
    }

    @Test func plaintextCrossesBothWaysAndALargeMessageIsSplitIntoRecords() throws {
        let (client, server) = Self.engines()
        try #require(pump(client: client, server: server).server == .done)

        #expect(client.write(bytes("ping")) == nil)
        server.receive(client.drainOutput())
        let (ping, pingOutcome) = server.readAll()
        #expect(ping == bytes("ping"))
        #expect(pingOutcome == .needsInput)

        let large = pattern(100 * 1024, seed: 7)
        #expect(server.write(large) == nil)
        let ciphertext = server.drainOutput()
        let parsed = try #require(records(ciphertext), "the output is not whole records")
        #expect(parsed.count >= 7, "\(parsed.count) records for 100 KiB")
        #expect(parsed.allSatisfy { $0.type == 23 && $0.length <= 16_384 + 256 })
        // Fed in pieces that split records anywhere, the plaintext comes out whole and in order.
        var received: [UInt8] = []
        var offset = 0
        while offset < ciphertext.count {
            let end = min(ciphertext.count, offset + 1_000 + offset % 3_001)
            client.receive(Array(ciphertext[offset..<end]))
            let (plaintext, outcome) = client.readAll()
            #expect(outcome == .needsInput)
            received += plaintext
            offset = end
        }
        #expect(received == large)
    }

    @Test func closeNotifyEndsTheStream() throws {
        let (client, server) = Self.engines()
        try #require(pump(client: client, server: server).server == .done)
        #expect(client.write(bytes("last")) == nil)
        client.shutdown()
        let ciphertext = client.drainOutput()
        #expect(records(ciphertext)?.count == 2)
        server.receive(ciphertext)
        let (plaintext, outcome) = server.readAll()
        #expect(plaintext == bytes("last"))
        #expect(outcome == .closed)
    }

    @Test func aTamperedRecordFailsToDecrypt() throws {
        let (client, server) = Self.engines()
        try #require(pump(client: client, server: server).server == .done)
        #expect(client.write(bytes("integrity")) == nil)
        var ciphertext = client.drainOutput()
        ciphertext[ciphertext.count - 3] ^= 0x01
        server.receive(ciphertext)
        let (plaintext, outcome) = server.readAll()
        #expect(plaintext.isEmpty)
        guard case .failed(let failure) = outcome else {
            Issue.record("a tampered record read as \(outcome)")
            return
        }
        #expect(failure.reason == .protocol, "\(failure)")
    }

    @Test(arguments: [
        (["other/1"], nil),
        ([], nil),
        (["http/1.1", "gamerelay/1"], "gamerelay/1"),
        (["http/1.1"], "http/1.1"),
    ] as [([String], String?)])
    func alpnFollowsTheServersPreferenceAndIsOptional(offered: [String], selected: String?) throws {
        let context = try TLSContext.client(trustRoots: TLSFixtures.pki.rootPEM, alpn: offered)
        let (client, server) = Self.engines(client: context)
        let outcome = pump(client: client, server: server)
        #expect(outcome.client == .done && outcome.server == .done, "\(outcome)")
        #expect(client.alpnProtocol == selected)
        #expect(server.alpnProtocol == selected)
    }

    @Test func theServerNameIsCheckedWhenTheClientVerifies() throws {
        for (name, accepted) in [("localhost", true), ("127.0.0.1", true), ("::1", true), ("LOCALHOST", true),
                                 ("relay.example", false), ("127.0.0.2", false), ("::2", false)] {
            let (client, server) = Self.engines(serverName: name)
            let outcome = pump(client: client, server: server)
            if accepted {
                #expect(outcome.client == .done, "\(name): \(outcome.client)")
                continue
            }
            guard case .failed(let failure) = outcome.client else {
                Issue.record("\(name): the client accepted a certificate for other names (\(outcome.client))")
                continue
            }
            #expect(failure.reason == .certificate, "\(name): \(failure)")
            #expect(failure.message.contains("mismatch"), "\(name): \(failure)")
            // The client tells the server why; the server fails on that alert.
            server.receive(client.drainOutput())
            guard case .failed(let serverFailure) = server.handshake() else {
                Issue.record("\(name): the server did not fail on the client's alert")
                continue
            }
            #expect(serverFailure.reason == .alert, "\(name): \(serverFailure)")
        }
    }

    @Test func aClientThatDoesNotVerifyAcceptsAnyCertificate() throws {
        let context = try TLSContext.client(verify: false)
        let (client, server) = Self.engines(client: context, serverName: "relay.example")
        let outcome = pump(client: client, server: server)
        #expect(outcome.client == .done && outcome.server == .done)
    }

    @Test func aServerWithoutItsIntermediateIsRefusedByAClientTrustingOnlyTheRoot() throws {
        let pki = TLSFixtures.pki
        let leafOnly = try TLSContext.server(certificateChain: pki.leafPEM, privateKey: pki.leafKeyPEM)
        let client = TLSEngine(context: TLSFixtures.clientContext, serverName: "localhost")
        let server = TLSEngine(context: leafOnly)
        guard case .failed(let failure) = pump(client: client, server: server).client else {
            Issue.record("the client accepted a chain that does not reach its root")
            return
        }
        #expect(failure.reason == .certificate, "\(failure)")
    }

    /// A ClientHello offering TLS 1.1 only (no supported_versions extension): client_version
    /// 0x0302, two TLS 1.0-era cipher suites, null compression.
    static let tls11ClientHello: [UInt8] = {
        var body: [UInt8] = [0x03, 0x02] + pattern(32, seed: 1) + [0x00]
        body += [0x00, 0x04, 0x00, 0x2F, 0x00, 0x35, 0x01, 0x00]
        let handshake: [UInt8] = [0x01, 0x00, UInt8(body.count >> 8), UInt8(body.count & 0xFF)] + body
        return [0x16, 0x03, 0x01, UInt8(handshake.count >> 8), UInt8(handshake.count & 0xFF)] + handshake
    }()

    @Test func aTLS11OnlyClientHelloGetsAnAlertAndNoServerHello() throws {
        let server = TLSEngine(context: TLSFixtures.serverContext)
        server.receive(Self.tls11ClientHello)
        guard case .failed(let failure) = server.handshake() else {
            Issue.record("the server went on with a TLS 1.1 client")
            return
        }
        #expect(failure.reason == .version, "\(failure)")
        let output = server.drainOutput()
        let parsed = try #require(records(output))
        #expect(!parsed.isEmpty, "no alert for the client")
        #expect(parsed.allSatisfy { $0.type == 21 }, "records of types \(parsed.map(\.type)), not only alerts")
    }

    @Test(arguments: [
        ("HTTP", bytes("GET / HTTP/1.1\r\nHost: relay\r\n\r\n")),
        ("handshake type, then HTTP", [0x16] + bytes("GET / HTTP/1.1\r\n\r\n")),
        ("pattern", pattern(300, seed: 3)),
        ("an oversized record", [0x16, 0x03, 0x01, 0xFF, 0xFF] + pattern(64)),
        ("a handshake that is not a ClientHello", [0x16, 0x03, 0x01, 0x00, 0x04, 0x02, 0x00, 0x00, 0x00]),
    ])
    func bytesThatAreNotAClientHelloFailTheHandshake(_ name: String, _ garbage: [UInt8]) {
        let server = TLSEngine(context: TLSFixtures.serverContext)
        server.receive(garbage)
        guard case .failed(let failure) = server.handshake() else {
            Issue.record("\(name): the server waits for more instead of failing")
            return
        }
        #expect(failure.reason == .protocol || failure.reason == .version, "\(name): \(failure)")
    }

    @Test func aFailedHandshakeStaysFailed() {
        let server = TLSEngine(context: TLSFixtures.serverContext)
        server.receive(bytes("GET / HTTP/1.1\r\n\r\n"))
        guard case .failed(let first) = server.handshake() else {
            Issue.record("the server did not fail on HTTP")
            return
        }
        _ = server.drainOutput()
        #expect(server.handshake() == .failed(first))
        // A good ClientHello after the failure changes nothing.
        let client = TLSEngine(context: TLSFixtures.clientContext, serverName: "localhost")
        _ = client.handshake()
        server.receive(client.drainOutput())
        #expect(server.handshake() == .failed(first))
        #expect(!server.isHandshakeComplete)
        #expect(!server.hasOutput, "a failed engine answered a ClientHello")
        var plaintext: [UInt8] = []
        #expect(server.readPlaintext(into: &plaintext) == .failed(first))
    }

    /// A ClientHello offering TLS 1.2 only (no supported_versions extension) with one cipher
    /// suite the test certificate can serve: ECDHE-ECDSA-AES128-GCM-SHA256, X25519 or P-256,
    /// ECDSA with SHA-256.
    static let tls12ClientHello: [UInt8] = {
        let extensions: [UInt8] = [
            0x00, 0x0A, 0x00, 0x06, 0x00, 0x04, 0x00, 0x1D, 0x00, 0x17,  // supported_groups
            0x00, 0x0B, 0x00, 0x02, 0x01, 0x00,  // ec_point_formats: uncompressed
            0x00, 0x0D, 0x00, 0x04, 0x00, 0x02, 0x04, 0x03,  // signature_algorithms
        ]
        var body: [UInt8] = [0x03, 0x03] + pattern(32, seed: 2) + [0x00]
        body += [0x00, 0x02, 0xC0, 0x2B, 0x01, 0x00]
        body += [UInt8(extensions.count >> 8), UInt8(extensions.count & 0xFF)] + extensions
        let handshake: [UInt8] = [0x01, 0x00, UInt8(body.count >> 8), UInt8(body.count & 0xFF)] + body
        return [0x16, 0x03, 0x01, UInt8(handshake.count >> 8), UInt8(handshake.count & 0xFF)] + handshake
    }()

    @Test func aTLS12ClientHelloGetsATLS12ServerHello() throws {
        let server = TLSEngine(context: TLSFixtures.serverContext)
        server.receive(Self.tls12ClientHello)
        #expect(server.handshake() == .needsInput)
        let output = server.drainOutput()
        let parsed = try #require(records(output))
        #expect(parsed.allSatisfy { $0.type == 22 }, "\(parsed.map(\.type))")
        // ServerHello (type 2) whose server_version is 0x0303.
        #expect(output.count > 9 && output[5] == 2 && output[9] == 0x03 && output[10] == 0x03)
    }

    @Test func closeNotifyDuringTheHandshakeIsAClose() {
        let server = TLSEngine(context: TLSFixtures.serverContext)
        server.receive(Self.tls12ClientHello)
        #expect(server.handshake() == .needsInput)
        _ = server.drainOutput()
        // Where a TLS 1.2 server waits for the ClientKeyExchange, the client gives up politely:
        // a warning-level close_notify in a plaintext record.
        server.receive([0x15, 0x03, 0x03, 0x00, 0x02, 0x01, 0x00])
        guard case .failed(let failure) = server.handshake() else {
            Issue.record("the server did not end the handshake on close_notify")
            return
        }
        #expect(failure.reason == .closed, "\(failure)")
    }

    @Test func aClientHelloSplitIntoSingleBytesStillCompletes() {
        let (client, server) = Self.engines()
        _ = client.handshake()
        let hello = client.drainOutput()
        for (index, byte) in hello.enumerated() {
            server.receive([byte])
            let step = server.handshake()
            if index < hello.count - 1 {
                #expect(step == .needsInput, "after \(index + 1) of \(hello.count) bytes: \(step)")
                #expect(!server.hasOutput)
            }
        }
        #expect(server.hasOutput, "no ServerHello after the whole ClientHello")
        client.receive(server.drainOutput())
        #expect(client.handshake() == .done)
        server.receive(client.drainOutput())
        #expect(server.handshake() == .done)
    }
}
