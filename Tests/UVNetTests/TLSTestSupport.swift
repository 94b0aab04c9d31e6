import Testing
@_spi(Testing) import UVNet

// Shared helpers for the TLS tests: one test PKI and the contexts made from it, an in-memory
// handshake between two engines, and TLS streams over real loopback sockets with their events
// copied off the loop thread.

/// The PKI and contexts the TLS tests share (making keys is cheap, but one set is enough).
enum TLSFixtures {
    /// Root → intermediate → leaf for 127.0.0.1, ::1 and localhost.
    static let pki = TestCertificates()
    /// A second, unrelated PKI: a client that trusts only its root must refuse ``pki``'s leaf.
    static let otherPKI = TestCertificates()

    /// A server sending the leaf and the intermediate.
    static let serverContext = try! TLSContext.server(certificateChain: pki.chainPEM, privateKey: pki.leafKeyPEM)
    /// A client that trusts only the root, so the server must send the intermediate.
    static let clientContext = try! TLSContext.client(trustRoots: pki.rootPEM)

    /// PEM whose base64 body starts with bytes no DER structure starts with: still PEM, no
    /// longer a certificate.
    static func damaged(_ pem: [UInt8]) -> [UInt8] {
        var bytes = pem
        let header = Array("-----BEGIN CERTIFICATE-----\n".utf8)
        precondition(bytes.starts(with: header))
        for index in header.count..<(header.count + 8) { bytes[index] = UInt8(ascii: "/") }
        return bytes
    }
}

// MARK: Engines in memory

extension TLSEngine {
    /// Everything waiting for the network, as an array.
    func drainOutput() -> [UInt8] {
        var bytes: [UInt8] = []
        takeOutput { bytes.append(contentsOf: $0) }
        return bytes
    }

    /// Hands `bytes` to the engine as if they came from the network.
    func receive(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { receive($0) }
    }

    /// Encrypts `bytes`; nil or why OpenSSL refused.
    func write(_ bytes: [UInt8]) -> TLSFailure? {
        bytes.withUnsafeBytes { write($0) }
    }

    /// Decrypts what was received: the plaintext and how reading ended.
    func readAll() -> ([UInt8], ReadOutcome) {
        var plaintext: [UInt8] = []
        let outcome = readPlaintext(into: &plaintext)
        return (plaintext, outcome)
    }
}

/// The outcomes of an in-memory handshake, client and server.
struct HandshakeOutcome {
    var client: TLSEngine.HandshakeStep
    var server: TLSEngine.HandshakeStep
}

/// Moves bytes between a client and a server engine until both are done, either fails, or
/// neither has anything left to say (at most `rounds` round trips).
@discardableResult
func pump(client: TLSEngine, server: TLSEngine, rounds: Int = 8) -> HandshakeOutcome {
    var outcome = HandshakeOutcome(client: client.handshake(), server: .needsInput)
    for _ in 0..<rounds {
        server.receive(client.drainOutput())
        outcome.server = server.handshake()
        client.receive(server.drainOutput())
        outcome.client = client.handshake()
        if case .failed = outcome.client { break }
        if case .failed = outcome.server { break }
        if outcome.client == .done && outcome.server == .done { break }
    }
    // What a finished client still owes the server (its Finished, in TLS 1.3).
    if outcome.client == .done, outcome.server != .done {
        server.receive(client.drainOutput())
        outcome.server = server.handshake()
    }
    return outcome
}

/// The TLS records in `bytes`: content type and length of each; nil when they do not parse
/// into whole records.
func records(_ bytes: [UInt8]) -> [(type: UInt8, length: Int)]? {
    var result: [(type: UInt8, length: Int)] = []
    var offset = 0
    while offset < bytes.count {
        guard bytes.count - offset >= 5 else { return nil }
        let length = Int(bytes[offset + 3]) << 8 | Int(bytes[offset + 4])
        guard bytes.count - offset - 5 >= length else { return nil }
        result.append((bytes[offset], length))
        offset += 5 + length
    }
    return result
}

// MARK: Streams over sockets

/// What a ``TLSStream`` reported, copied off the loop thread.
enum TLSEvent: Sendable, Equatable, CustomStringConvertible {
    /// The handshake finished (nil) or failed.
    case handshake(TLSFailure?)
    case data(Int)
    case closed
    case failed(SocketError.Code)

    var description: String {
        switch self {
        case .handshake(nil): "handshake done"
        case .handshake(let failure?): "handshake failed (\(failure))"
        case .data(let count): "data(\(count))"
        case .closed: "closed"
        case .failed(let code): "failed(\(code))"
        }
    }
}

extension TLSStream {
    /// Routes every event of this stream to `events`. Loop thread only.
    func report(to events: Inbox<TLSEvent>) {
        onHandshake = { result in
            switch result {
            case .success: events.put(.handshake(nil))
            case .failure(let failure): events.put(.handshake(failure))
            }
        }
        onData = { events.put(.data($0)) }
        onClose = { events.put(.closed) }
        onIOError = { events.put(.failed($0.code)) }
    }
}

extension Inbox where Element == TLSEvent {
    /// The next event, which must be the end of the handshake: nil when it finished, else the failure.
    func handshake(_ what: String) async throws -> TLSFailure? {
        let event = try await next("\(what)'s handshake")
        guard case .handshake(let failure) = event else {
            throw LoopSideFailure(description: "\(what): \(event) instead of the end of the handshake")
        }
        return failure
    }
}

/// A listener on a loopback address whose accepted connections become server ``TLSStream``s.
struct TLSServer: Sendable {
    let listener: LoopBound<ServerSocket>
    let port: Int
    /// The accepted streams, in order.
    let accepted: Inbox<LoopBound<TLSStream>>
    /// The events of every accepted stream.
    let events: Inbox<TLSEvent>
    /// Put when the socket under an accepted stream sees the peer's FIN: a stream that ended on
    /// close_notify has closed its socket by then, so nothing arrives here.
    let socketEOF: Inbox<Bool>

    /// Listens on `address`:0. `prepare` runs on the loop for each accepted stream after its
    /// callbacks are set and before ``TLSStream/start()``.
    static func listen(on loop: EventLoop, address: String = "127.0.0.1", context: TLSContext = TLSFixtures.serverContext,
                       prepare: (@Sendable (TLSStream) -> Void)? = nil) async throws -> TLSServer {
        let accepted = Inbox<LoopBound<TLSStream>>()
        let events = Inbox<TLSEvent>()
        let socketEOF = Inbox<Bool>()
        let (listener, port) = try await loop.submit {
            let listener = ServerSocket(loop: loop)
            try listener.bind(localPort: 0, localAddress: address)
            try listener.listen()
            listener.onConnect = { socket in
                let stream = TLSStream(socket: socket, context: context)
                stream.report(to: events)
                let closing = socket.onClose
                socket.onClose = {
                    socketEOF.put(true)
                    closing?()
                }
                accepted.put(LoopBound(stream, loop: loop))
                prepare?(stream)
                stream.start()
            }
            return (LoopBound(listener, loop: loop), listener.localPort)
        }
        return TLSServer(listener: listener, port: port, accepted: accepted, events: events, socketEOF: socketEOF)
    }
}

/// A client ``TLSStream`` connecting to `host`:`port`; `prepare` runs on the loop after
/// ``TLSStream/start()``, before the connection is up.
func connectTLS(on loop: EventLoop, host: String = "127.0.0.1", port: Int, context: TLSContext = TLSFixtures.clientContext,
                serverName: String?, events: Inbox<TLSEvent>,
                prepare: (@Sendable (TLSStream) -> Void)? = nil) async throws -> LoopBound<TLSStream> {
    try await loop.submit {
        let socket = Socket(loop: loop)
        let stream = TLSStream(socket: socket, context: context, serverName: serverName)
        stream.report(to: events)
        try socket.connect(host: host, port: port)
        stream.start()
        prepare?(stream)
        return LoopBound(stream, loop: loop)
    }
}

/// Writes `bytes` to `stream` and flushes.
func send(_ bytes: [UInt8], on stream: LoopBound<TLSStream>) async throws {
    try await stream.loop.submit {
        stream.value.writeBytes(bytes)
        stream.value.flush()
    }
}

/// Waits for `.data` events on `events` until `count` plaintext bytes have arrived, then takes
/// them from `stream`. Fails on any other event.
func receive(_ count: Int, from stream: LoopBound<TLSStream>, events: Inbox<TLSEvent>, _ what: String) async throws -> [UInt8] {
    var arrived = 0
    while arrived < count {
        let event = try await events.next("\(what): \(arrived) of \(count) bytes so far")
        guard case .data(let more) = event else {
            throw LoopSideFailure(description: "\(what): \(event) after \(arrived) of \(count) bytes")
        }
        arrived += more
    }
    return try await stream.loop.submit {
        try stream.value.readRawBytes(count: count) { Array($0) }
    }
}

extension TLSStream {
    /// Queues `bytes` for ``flush()``.
    func writeBytes(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { writeRawBytes($0) }
    }
}
