import Testing
@_spi(Testing) import UVNet

/// What a ``SecureSocket`` reported, copied off the loop thread.
enum SecureEvent: Sendable, Equatable, CustomStringConvertible {
    /// onConnect, with the status and the certificate's subject as the socket saw them then.
    case connected(CertificateStatus, subject: String?)
    /// onIOError: the error's code and certificate status, and the socket's status then.
    case failed(SocketError.Code, CertificateStatus?, socketStatus: CertificateStatus, message: String)
    case data(Int)
    case closed

    var description: String {
        switch self {
        case .connected(let status, let subject): "connected(\(status), \(subject ?? "no certificate"))"
        case .failed(let code, let status, let socketStatus, let message): "failed(\(code), \(status.map(\.name) ?? "nil"), socket: \(socketStatus)) \(message)"
        case .data(let count): "data(\(count))"
        case .closed: "closed"
        }
    }
}

extension SecureSocket {
    /// Routes every event of this socket to `events`. Loop thread only.
    func report(to events: Inbox<SecureEvent>) {
        onConnect = { [unowned self] in events.put(.connected(serverCertificateStatus, subject: serverCertificate?.subject)) }
        onIOError = { [unowned self] error in
            events.put(.failed(error.code, error.certificateStatus, socketStatus: serverCertificateStatus, message: error.message))
        }
        onData = { events.put(.data($0)) }
        onClose = { events.put(.closed) }
    }
}

/// One certificate a server presents, and what a client must make of it.
struct CertificateCase: Sendable, CustomTestStringConvertible {
    let name: String
    /// What the server sends: leaf first, then its chain.
    let leaf: TestPKI
    /// Whether the server sends the leaf with one bit of its signature flipped.
    var brokenSignature = false
    /// What follows the leaf in what the server sends.
    let chainPEM: [UInt8]
    /// What the server sends.
    var serverPEM: [UInt8] { (brokenSignature ? leaf.pemWithBrokenSignature : leaf.pem) + chainPEM }
    var keyPEM: [UInt8] { leaf.keyPEM }
    var leafDER: [UInt8] { leaf.der }
    /// DER certificates the client adds, with their `trusted` flag.
    let added: [(der: [UInt8], trusted: Bool)]
    /// Revocation lists the client is given.
    let revocationLists: [[UInt8]]
    /// The host connected to, and the name asked for when it differs.
    var host = "127.0.0.1"
    var serverName: String?
    let expected: CertificateStatus

    var testDescription: String { "\(name) → \(expected)" }
}

/// The PKI the matrix is cut from: root → intermediate → leaves, plus the strangers.
enum MatrixPKI {
    static let root = TestPKI.root()
    static let intermediate = root.issue("GameRelay test intermediate CA", isCA: true, alternativeNames: nil, serial: 2)
    static let leaf = intermediate.issue("relay valid", serial: 10)
    static let expired = intermediate.issue("relay expired", serial: 11, validity: (-7200, -3600))
    static let notYetValid = intermediate.issue("relay not yet valid", serial: 12, validity: (3600, 7200))
    static let wrongName = intermediate.issue("relay wrong name", alternativeNames: "DNS:relay.example.net", serial: 13)
    static let revoked = intermediate.issue("relay revoked", serial: 14)
    static let strangerRoot = TestPKI.root("Stranger root CA")
    static let strangerLeaf = strangerRoot.issue("relay under a stranger", serial: 20)
    /// An "intermediate" that is not a CA (basicConstraints CA:FALSE), and a leaf it signed.
    static let notACA = root.issue("not a CA", isCA: false, alternativeNames: nil, serial: 30)
    static let leafOfNotACA = notACA.issue("relay under a non-CA", serial: 31)
    static let selfSigned = TestPKI.root("relay self-signed")
    static let crl = intermediate.revocationList(revoking: 14)
    static let crlOfAnother = intermediate.revocationList(revoking: 99)

    static var trustRoot: [(der: [UInt8], trusted: Bool)] { [(root.der, true)] }

    static let matrix: [CertificateCase] = [
        CertificateCase(name: "valid chain", leaf: leaf, chainPEM: intermediate.pem,
                        added: trustRoot, revocationLists: [], expected: .trusted),
        CertificateCase(name: "valid chain by host name", leaf: leaf, chainPEM: intermediate.pem,
                        added: trustRoot, revocationLists: [], host: "localhost", expected: .trusted),
        CertificateCase(name: "valid chain over IPv6", leaf: leaf, chainPEM: intermediate.pem,
                        added: trustRoot, revocationLists: [], host: "::1", expected: .trusted),
        CertificateCase(name: "expired leaf", leaf: expired, chainPEM: intermediate.pem,
                        added: trustRoot, revocationLists: [], expected: .expired),
        CertificateCase(name: "leaf not yet valid", leaf: notYetValid, chainPEM: intermediate.pem,
                        added: trustRoot, revocationLists: [], expected: .notYetValid),
        CertificateCase(name: "leaf for another name", leaf: wrongName, chainPEM: intermediate.pem,
                        added: trustRoot, revocationLists: [], expected: .principalMismatch),
        CertificateCase(name: "valid leaf, another name asked for", leaf: leaf, chainPEM: intermediate.pem,
                        added: trustRoot, revocationLists: [], serverName: "relay.example.net", expected: .principalMismatch),
        CertificateCase(name: "an empty server name still checks the host", leaf: wrongName, chainPEM: intermediate.pem,
                        added: trustRoot, revocationLists: [], serverName: "", expected: .principalMismatch),
        CertificateCase(name: "leaf signed by an unknown CA", leaf: strangerLeaf, chainPEM: [],
                        added: trustRoot, revocationLists: [], expected: .untrustedSigners),
        CertificateCase(name: "self-signed leaf", leaf: selfSigned, chainPEM: [],
                        added: trustRoot, revocationLists: [], expected: .untrustedSigners),
        CertificateCase(name: "chain through a non-CA intermediate", leaf: leafOfNotACA, chainPEM: notACA.pem,
                        added: trustRoot, revocationLists: [], expected: .invalidChain),
        CertificateCase(name: "revoked leaf (DER CRL)", leaf: revoked, chainPEM: intermediate.pem,
                        added: trustRoot, revocationLists: [crl.der], expected: .revoked),
        CertificateCase(name: "revoked leaf (PEM CRL)", leaf: revoked, chainPEM: intermediate.pem,
                        added: trustRoot, revocationLists: [crl.pem], expected: .revoked),
        CertificateCase(name: "leaf a CRL does not list", leaf: leaf, chainPEM: intermediate.pem,
                        added: trustRoot, revocationLists: [crlOfAnother.der], expected: .trusted),
        CertificateCase(name: "leaf with a broken signature", leaf: leaf, brokenSignature: true, chainPEM: intermediate.pem,
                        added: trustRoot, revocationLists: [], expected: .invalid),
        CertificateCase(name: "intermediate missing from the server's chain", leaf: leaf, chainPEM: [],
                        added: trustRoot, revocationLists: [], expected: .untrustedSigners),
        CertificateCase(name: "intermediate added for chain building", leaf: leaf, chainPEM: [],
                        added: trustRoot + [(intermediate.der, false)], revocationLists: [], expected: .trusted),
        CertificateCase(name: "intermediate trusted on its own", leaf: leaf, chainPEM: intermediate.pem,
                        added: [(intermediate.der, true)], revocationLists: [], expected: .trusted),
        CertificateCase(name: "nothing added: the system store alone", leaf: leaf, chainPEM: intermediate.pem,
                        added: [], revocationLists: [], expected: .untrustedSigners),
    ]
}

/// ``SecureSocket`` against servers presenting every kind of certificate, over real loopback
/// connections: the status matrix of flash.net's `CertificateStatus`.
@Suite struct SecureSocketTests {
    @Test(arguments: MatrixPKI.matrix)
    func statusMatrix(_ certificate: CertificateCase) async throws {
        try await withLoop("secure-socket-matrix") { loop in
            let context = try TLSContext.server(certificateChain: certificate.serverPEM, privateKey: certificate.keyPEM)
            let listenOn = certificate.host == "::1" ? "::1" : "127.0.0.1"
            let server = try await TLSServer.listen(on: loop, address: listenOn, context: context)
            let events = Inbox<SecureEvent>()
            let client = try await loop.submit {
                let socket = SecureSocket(loop: loop)
                #expect(socket.serverCertificateStatus == .unknown)
                for added in certificate.added { try socket.addBinaryChainBuildingCertificate(added.der, trusted: added.trusted) }
                for list in certificate.revocationLists { try socket.addRevocationList(list) }
                socket.serverName = certificate.serverName
                socket.report(to: events)
                try socket.connect(host: certificate.host, port: server.port)
                return LoopBound(socket, loop: loop)
            }
            let event = try await events.next("\(certificate.name): the outcome")
            let leafSubject = try #require(X509Certificate(der: certificate.leafDER)).subject
            if certificate.expected == .trusted {
                #expect(event == .connected(.trusted, subject: leafSubject))
                // And the connection works: plaintext both ways.
                try await loop.submit {
                    var socket = client.value
                    socket.writeUTFBytes("ping")
                    socket.flush()
                }
                let accepted = try await server.accepted.next("the accepted stream")
                #expect(try await server.events.handshake("the server") == nil)
                #expect(try await receive(4, from: accepted, events: server.events, "the client's bytes") == bytes("ping"))
                try await send(bytes("pong"), on: accepted)
                #expect(try await events.next("the server's bytes") == .data(4))
                #expect(try await loop.submit { var socket = client.value; return try socket.readUTFBytes(4) } == "pong")
            } else {
                guard case .failed(let code, let status, let socketStatus, let message) = event else {
                    throw LoopSideFailure(description: "\(certificate.name): \(event) instead of a refusal")
                }
                #expect(code == .tls, "\(message)")
                #expect(status == certificate.expected, "\(message)")
                #expect(socketStatus == certificate.expected)
                #expect(message.contains(certificate.expected.name), "\(message)")
                let facts = try await loop.submit { (client.value.connected, client.value.isClosed, client.value.serverCertificate?.subject) }
                #expect(facts.0 == false && facts.1 == true)
                #expect(facts.2 == leafSubject, "the refused certificate stays readable")
                // The server hears of the refusal (an alert), instead of waiting for the client.
                #expect(try await server.events.handshake("the server") != nil)
            }
            #expect(events.isEmpty, "\(events.drain())")
            try await loop.submit { client.value.close() }
        }
    }

    @Test func everyStatusNameIsFlashNets() {
        #expect(CertificateStatus.all.map(\.name) == ["trusted", "expired", "notYetValid", "invalid", "invalidChain",
                                                      "principalMismatch", "revoked", "untrustedSigners", "unknown"])
        // The matrix exercises every status but `unknown`, which is the state before validation.
        let covered = Set(MatrixPKI.matrix.map(\.expected))
        #expect(covered == Set(CertificateStatus.all).subtracting([.unknown]))
    }

    @Test func theServerCertificateCarriesItsFields() async throws {
        let certificate = try #require(X509Certificate(der: MatrixPKI.expired.der))
        #expect(certificate.subject == "CN=relay expired")
        #expect(certificate.issuer == "CN=GameRelay test intermediate CA")
        #expect(certificate.serialNumber == "0B")
        #expect(certificate.validNotAfter - certificate.validNotBefore == 3600)
        #expect(certificate.encoded == MatrixPKI.expired.der)
        #expect(X509Certificate(der: Array(MatrixPKI.expired.der.dropLast())) == nil)
        #expect(X509Certificate(der: MatrixPKI.expired.der + [0]) == nil, "trailing bytes are not one certificate")
    }

    @Test func badCertificatesAndListsAreRefusedWhenAdded() async throws {
        try await withLoop { loop in
            let outcomes = try await loop.submit {
                let socket = SecureSocket(loop: loop)
                var codes: [SocketError.Code?] = []
                func code(_ body: () throws -> Void) -> SocketError.Code? {
                    do { try body(); return nil } catch { return (error as? SocketError)?.code ?? .io }
                }
                codes.append(code { try socket.addBinaryChainBuildingCertificate(MatrixPKI.root.pem, trusted: true) })
                codes.append(code { try socket.addBinaryChainBuildingCertificate([], trusted: false) })
                codes.append(code { try socket.addRevocationList(MatrixPKI.root.der) })
                codes.append(code { try socket.addBinaryChainBuildingCertificate(ByteArray(MatrixPKI.root.der), trusted: true) })
                let withContext = SecureSocket(socket: Socket(loop: loop), context: TLSFixtures.clientContext)
                codes.append(code { try withContext.addBinaryChainBuildingCertificate(MatrixPKI.root.der, trusted: true) })
                withContext.close()
                socket.close()
                codes.append(code { try socket.connect(host: "127.0.0.1", port: 1) })
                return codes
            }
            #expect(outcomes == [.invalidArgument, .invalidArgument, .invalidArgument, nil, .invalidArgument, .closed])
        }
    }

    @Test func aServerThatNeverAnswersTheHelloTimesOut() async throws {
        try await withLoop { loop in
            let (listener, port) = try await loop.submit {
                let listener = ServerSocket(loop: loop)
                try listener.bind(localPort: 0, localAddress: "127.0.0.1")
                try listener.listen()
                listener.onConnect = { _ in }  // accepted, never answered
                return (LoopBound(listener, loop: loop), listener.localPort)
            }
            let events = Inbox<SecureEvent>()
            let client = try await loop.submit {
                let socket = SecureSocket(loop: loop)
                socket.timeout = .milliseconds(300)
                socket.report(to: events)
                try socket.connect(host: "127.0.0.1", port: port)
                return LoopBound(socket, loop: loop)
            }
            guard case .failed(let code, nil, .unknown, _) = try await events.next("the timeout") else {
                throw LoopSideFailure(description: "no timeout")
            }
            #expect(code == .timedOut)
            try await loop.submit {
                #expect(client.value.isClosed)
                listener.value.close()
            }
        }
    }
}

/// An owner that holds its secure socket and whose closures the socket holds, as a game's
/// connection object does: the cycle must end when the connection ends, however it ends.
private final class SecureOwner {
    var socket: SecureSocket?
}

@Suite struct SecureSocketLifetimeTests {
    enum Ending: String, Sendable, CaseIterable { case refusedCertificate, clientClose, serverClose, timeout }

    @Test(arguments: Ending.allCases)
    func theSocketAndItsOwnerAreReleased(ending: Ending) async throws {
        try await withLoop("secure-socket-lifetime") { loop in
            let context = try TLSContext.server(certificateChain: MatrixPKI.leaf.pem + MatrixPKI.intermediate.pem,
                                                privateKey: MatrixPKI.leaf.keyPEM)
            let server = try await TLSServer.listen(on: loop, context: context)
            let (silent, silentPort) = try await loop.submit {
                let listener = ServerSocket(loop: loop)
                try listener.bind(localPort: 0, localAddress: "127.0.0.1")
                try listener.listen()
                listener.onConnect = { _ in }
                return (LoopBound(listener, loop: loop), listener.localPort)
            }
            let ended = Inbox<String>()
            let references = try await loop.submit {
                let owner = SecureOwner()
                let socket = SecureSocket(loop: loop)
                owner.socket = socket
                // Without the root, only the system's store: the certificate is refused.
                if ending != .refusedCertificate {
                    try socket.addBinaryChainBuildingCertificate(MatrixPKI.root.der, trusted: true)
                }
                if ending == .timeout { socket.timeout = .milliseconds(200) }
                socket.onConnect = {
                    _ = owner
                    if ending == .clientClose {
                        owner.socket?.close()
                        ended.put("closed by the client")
                    }
                }
                socket.onClose = { _ = owner; ended.put("closed by the server") }
                socket.onIOError = { error in _ = owner; ended.put("failed: \(error.code)") }
                try socket.connect(host: "127.0.0.1", port: ending == .timeout ? silentPort : server.port)
                return LoopBound(({ [weak owner] in owner }, { [weak socket] in socket }), loop: loop)
            }
            if ending == .serverClose {
                let accepted = try await server.accepted.next("the accepted stream")
                try await loop.submit { accepted.value.shutdownOutput() }
            }
            let how = try await ended.next("the connection's end")
            switch ending {
            case .refusedCertificate: #expect(how == "failed: tls")
            case .timeout: #expect(how == "failed: timedOut")
            case .clientClose, .serverClose: break
            }
            let deadline = ContinuousClock.now + .seconds(10)
            var alive = true
            while alive, ContinuousClock.now < deadline {
                alive = try await loop.submit { references.value.0() != nil || references.value.1() != nil }
                if alive { try await Task.sleep(for: .milliseconds(5)) }
            }
            #expect(!alive, "the secure socket or its owner outlived a connection that ended by \(ending)")
            try await loop.submit { silent.value.close() }
        }
    }
}
