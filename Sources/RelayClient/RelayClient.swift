import RelayWire
import UVNet

/// A game's connection to a relay: the control channel (create, join, leave, events) and the
/// data channel (BIND, DATA, PING), over UVNet sockets.
///
/// Loop-bound: create and use it on its loop's thread; results arrive as completion handlers and
/// events as ``onEvent``, all on that thread. The UDP socket is `connect()`ed to the relay, so
/// datagrams from anyone else never reach the game.
///
/// A game loop sending its position at 30 Hz to everyone else in the session:
///
/// ```swift
/// let client = RelayClient(loop: loop)
/// client.connect(host: "relay.example.net", port: 7400) { _ in
///     client.join(code: "K7QX2M", name: "alice") { result in
///         guard case .success = result else { return }
///         client.bind { _ in
///             let tick = Timer(loop: loop)
///             tick.start(after: .zero, repeating: .milliseconds(33)) {
///                 var position = (x: Float(1), y: Float(2))
///                 withUnsafeBytes(of: &position) { try? client.send($0, latest: true) }
///             }
///         }
///     }
/// }
/// client.onData = { data in
///     print("member \(data.sender) sent \(data.payload.count) bytes (#\(data.sequence))")
/// }
/// ```
///
/// Inside TLS (PROTOCOL.md §6), so the token and the join code can't be read on the way: one
/// client context, with the system's trust store or the relay operator's root, serves every
/// client of the game.
///
/// ```swift
/// let tls = try TLSContext.client()   // or .client(trustRootsFile: "relay-ca.pem")
/// client.connect(host: "relay.example.net", port: 7400, tls: tls) { result in ... }
/// ```
///
/// Voice: 50 Opus frames per second, each a `send` without `latest` (every frame counts, in
/// order), to the whole session or to one member:
///
/// ```swift
/// let frames = Timer(loop: loop)
/// frames.start(after: .zero, repeating: .milliseconds(20)) {
///     let frame: [UInt8] = encoder.nextOpusFrame()   // about 60-120 bytes at 24-48 kbit/s
///     frame.withUnsafeBytes { try? client.send($0, to: whisperTarget) }   // nil: everyone
/// }
/// client.onData = { data in decoder.push(data.payload, from: data.sender, sequence: data.sequence) }
/// ```
///
/// Over a WebSocket (PROTOCOL.md §7), as a browser would reach the relay, both channels share
/// one connection on the control port (inside TLS too): the member is bound from its join on,
/// so ``bind(_:)`` completes at once, and DATA, PING and PONG travel as binary messages. The
/// rest of the code is the same.
///
/// ```swift
/// client.connect(host: "relay.example.net", port: 7400, transport: .webSocket()) { result in ... }
/// ```
///
/// A tick session (PROTOCOL.md §8) batches the LATEST broadcasts of every member into one
/// AGGREGATE per receiver and tick; the receive code above stays as it is, since each entry
/// arrives at ``onData`` as an update of its own:
///
/// ```swift
/// client.create(capacity: 16, tick: 30) { created in ... }   // then join, bind, send(latest: true) as above
/// ```
public final class RelayClient {
    /// The loop the client runs on.
    public let loop: EventLoop
    /// How long a control request waits for its reply.
    public var requestTimeout: Duration = .seconds(10)
    /// How often the client sends `ping` on the control channel once connected, so the relay's
    /// control idle timeout (30 s by default) never closes a member that only streams UDP
    /// (PROTOCOL.md §1.1: at least every 10 s); nil sends none. Set it before ``connect(host:port:_:)``.
    public var keepAliveInterval: Duration? = .seconds(10)

    /// Events from the relay, and `.closed` when the control connection ends.
    public var onEvent: ((RelayEvent) -> Void)?
    /// Updates from other members: each DATA datagram, and in a tick session (PROTOCOL.md §8)
    /// each entry of an AGGREGATE as an update of its own, so a game's receive code is the same
    /// for both kinds of session (``ReceivedData/tick`` tells them apart).
    public var onData: ((ReceivedData) -> Void)?
    /// PONG answers: the PING's sequence and the round-trip time.
    public var onPong: ((UInt32, Duration) -> Void)?

    /// The membership, once joined.
    public private(set) var membership: Membership?
    /// The largest datagram the client sends, header included: the relay's `maxDatagram` from
    /// `hello` (1200 until then), but never more than one packet carries (1472 bytes to an
    /// IPv4 relay, 1452 to an IPv6 one, at Ethernet's MTU), whatever the relay advertises.
    public var maxDatagram: Int {
        min(relayMaxDatagram, Self.largestDatagram, udp?.maxDatagramSize ?? .max)
    }
    /// DATA, BIND and PING datagrams dropped because the kernel's send buffer was full (over a
    /// WebSocket: because more than ``maxWebSocketBacklog`` bytes waited unsent): the client
    /// never queues one, since a late game update is worth nothing.
    public var datagramsDropped: Int { drops.count }
    /// Received datagrams dropped as malformed: AGGREGATEs whose entries do not fill them exactly,
    /// and over a WebSocket binary messages larger than any datagram. Such a datagram delivers
    /// none of its entries.
    public var malformedDatagramsDropped: Int { drops.malformedReceived }
    /// Well-formed AGGREGATE datagrams received (PROTOCOL.md §8), however many entries each
    /// held: with the updates ``onData`` saw, how many updates one datagram carried.
    public private(set) var aggregatesReceived = 0
    /// Whether the member can receive datagrams: its UDP address is bound, or it joined over a
    /// WebSocket, which binds it at once.
    public private(set) var isBound = false
    /// How the client reaches the relay, as given to ``connect(host:port:tls:serverName:transport:_:)``.
    public private(set) var transport: RelayTransport = .udp
    /// The most bytes a WebSocket may hold unsent (in the client and in the kernel) before a
    /// datagram is dropped and counted in ``datagramsDropped`` rather than queued: a late game
    /// update is worth nothing, over TCP as over UDP. Control messages always queue.
    public var maxWebSocketBacklog = 256 * 1024

    private let control: Socket
    // Internal rather than private from here on where RelayClient+WebSocket.swift needs it.
    /// What control frames go through: the socket, or TLS over it.
    var stream: any ByteStream
    private var decoder = ControlFrameDecoder(maxMessageSize: 1 << 20)
    private var nextRequestID = 1
    private var pending: [Int: (timer: Timer, handler: (Result<JSONObject, RelayClientError>) -> Void)] = [:]
    private var udp: DatagramSocket?
    private var relayHost: String?
    var sequence: UInt32 = 0
    private var pingSequence: UInt32 = 0
    private var bindAttempt: BindAttempt?
    private var keepAlive: Timer?
    /// What the relay's `hello` advertised, before the client's own limits.
    private var relayMaxDatagram = 1200
    /// One packet at Ethernet's MTU less the IPv4 and UDP headers: no datagram is larger.
    private static let largestDatagram = 1472
    private var sendBuffer = [UInt8](repeating: 0, count: RelayClient.largestDatagram)
    var drops = DatagramDrops()
    /// Room for one burst of ``sendBurst(count:payloadSize:to:fill:)``, grown on demand.
    var burstBuffer: [UInt8] = []
    /// Over a WebSocket: the upgrade, then the frames; nil over UDP.
    var webSocket: WebSocketClientChannel?
    /// Frames on their way to ``stream``, reused so that a datagram allocates nothing.
    var webSocketOutput: [UInt8] = []
    /// Over a WebSocket: the connect's completion, until the relay has answered the upgrade.
    var upgradeCompletion: ((Result<Void, RelayClientError>) -> Void)?
    var upgradeTimer: Timer?

    private final class BindAttempt {
        var tries = 0
        var cookie: [UInt8] = []
        let timer: Timer
        let completion: (Result<Void, RelayClientError>) -> Void
        init(timer: Timer, completion: @escaping (Result<Void, RelayClientError>) -> Void) {
            self.timer = timer
            self.completion = completion
        }
    }

    /// Creates a client on `loop`. Loop thread only.
    public init(loop: EventLoop) {
        loop.preconditionInEventLoop()
        self.loop = loop
        control = Socket(loop: loop)
        stream = control
    }

    // MARK: Control channel

    /// Connects the control channel to the relay; with `tls`, inside TLS (PROTOCOL.md §6)
    /// through a ``SecureSocket``, and `completion` runs once the handshake is done and the
    /// certificate trusted. A refused certificate fails with `.tls` and its
    /// ``RelayClientError/certificateStatus``; a TLS connection not made within
    /// ``requestTimeout`` fails with `.timedOut`.
    ///
    /// With ``RelayTransport/webSocket(origin:)`` the client then upgrades the connection to a
    /// WebSocket (`GET /v1/ws`, subprotocol `gamerelay.v1`), and `completion` runs once the
    /// relay has answered `101`. A refusal fails with `.upgradeRefused` and the HTTP status in
    /// ``RelayClientError/httpStatus`` (such as 403 for an origin the relay does not accept);
    /// no answer within ``requestTimeout`` fails with `.timedOut`.
    ///
    /// - Parameters:
    ///   - tls: A client context (``TLSContext/client(trustRoots:verify:alpn:)``): its trust
    ///     roots verify the relay's certificate. One context serves any number of clients.
    ///   - serverName: The name the relay's certificate must carry (and SNI); `host` when nil.
    ///   - transport: UDP for DATA (the default), or one WebSocket for both channels.
    public func connect(host: String, port: Int, tls: TLSContext? = nil, serverName: String? = nil,
                        transport: RelayTransport = .udp,
                        _ completion: @escaping (Result<Void, RelayClientError>) -> Void) {
        loop.assertInEventLoop()
        self.transport = transport
        // The connection is answered once: established, refused, failed or timed out.
        var answered = false
        let answer = { [weak self] (result: Result<Void, RelayClientError>) in
            guard let self, !answered else { return }
            answered = true
            if case .success = result {
                relayHost = control.remoteAddress ?? host
                startKeepAlive()
            }
            completion(result)
        }
        // The TCP (or TLS) connection is up: over a WebSocket, the upgrade comes first.
        let established = { [weak self] in
            guard let self else { return }
            if transport.isWebSocket {
                startUpgrade(host: host, port: port, origin: transport.origin, answer)
            } else {
                answer(.success(()))
            }
        }
        guard let tls else {
            control.onConnect = established
            control.onIOError = { [weak self] error in
                answer(.failure(RelayClientError(error)))
                self?.connectionEnded()
            }
            attachHandlers()
            do {
                try control.connect(host: host, port: port)
            } catch {
                completion(.failure(RelayClientError(error)))
            }
            return
        }
        // SecureSocket connects, shakes hands and validates the certificate; a literal address
        // (`[::1]` too) is checked as an IP address, anything else as a name.
        let secure = SecureSocket(socket: control, context: tls)
        secure.serverName = serverName
        // A relay that accepts but never finishes the handshake must not leave connect waiting.
        secure.timeout = requestTimeout
        stream = secure
        attachHandlers()
        secure.onConnect = established
        secure.onIOError = { [weak self] error in
            answer(.failure(Self.connectFailure(error, host: host)))
            self?.connectionEnded()
        }
        do {
            try secure.connect(host: host, port: port)
        } catch {
            completion(.failure(RelayClientError(error)))
        }
    }

    /// What a failed TLS connect tells the caller: a refused certificate by its status name.
    private static func connectFailure(_ error: SocketError, host: String) -> RelayClientError {
        switch error.code {
        case .tls:
            var failure = RelayClientError(.tls, "TLS handshake with \(host) failed: \(error.message)", socketError: error)
            failure.certificateStatus = error.certificateStatus
            return failure
        case .timedOut:
            return RelayClientError(.timedOut, "no TLS connection with \(host) within the request timeout", socketError: error)
        default:
            return RelayClientError(error)
        }
    }

    /// Points the stream's close and data callbacks at the client.
    private func attachHandlers() {
        stream.onClose = { [weak self] in self?.connectionEnded() }
        stream.onData = { [weak self] _ in self?.readControl() }
        if stream !== control {
            stream.onIOError = { [weak self] _ in self?.connectionEnded() }
        }
    }

    /// Asks the relay for its version and limits (`hello`); adopts its `maxDatagram`, up to the
    /// client's own limit (see ``maxDatagram``).
    ///
    /// The reply fails with `.protocolViolation` when a field is missing or `maxDatagram` is
    /// smaller than a packet header.
    public func hello(client: String = "gamerelay-client", _ completion: @escaping (Result<RelayHello, RelayClientError>) -> Void) {
        request(op: "hello", { json in
            json.field("protocol", integer: 1)
            json.field("client", string: client)
        }) { [weak self] result in
            completion(result.flatMap { object in
                guard let server = object["server"]?.stringValue,
                      let udpPort = object["udp"]?.objectValue?["port"]?.numberValue?.wholeValue,
                      let maxDatagram = object["maxDatagram"]?.numberValue?.wholeValue,
                      let idle = object["idleTimeoutMs"]?.numberValue?.wholeValue else {
                    return .failure(RelayClientError(.protocolViolation, "hello reply lacks a field"))
                }
                guard maxDatagram >= PacketHeader.size else {
                    return .failure(RelayClientError(.protocolViolation, "hello advertises a maxDatagram of \(maxDatagram), smaller than a \(PacketHeader.size)-byte packet header"))
                }
                self?.relayMaxDatagram = Int(clamping: maxDatagram)
                var hello = RelayHello(server: server, udpPort: Int(udpPort), maxDatagram: Int(maxDatagram), idleTimeoutMs: Int(idle))
                if case .array(let features)? = object["features"] { hello.features = features.compactMap(\.stringValue) }
                hello.tls = object["tls"] == .bool(true)
                return .success(hello)
            })
        }
    }

    /// Creates a session (`create`); the client does not join it.
    ///
    /// - Parameters:
    ///   - capacity: The most members at once; nil for the relay's default.
    ///   - tick: Makes it a tick session (PROTOCOL.md §8) of this many ticks per second (1…120):
    ///     LATEST broadcasts reach the others once per tick, batched into one AGGREGATE per
    ///     receiver, for up to one tick of added latency. Needs a relay whose ``RelayHello/features``
    ///     include `"tick"`. Nil forwards every datagram at once.
    public func create(capacity: Int? = nil, tick: Int? = nil, _ completion: @escaping (Result<CreatedSession, RelayClientError>) -> Void) {
        request(op: "create", { json in
            if let capacity { json.field("capacity", integer: capacity) }
            if let tick { json.field("tick", integer: tick) }
        }) { result in
            completion(result.flatMap { object in
                guard let session = object["session"]?.stringValue, let code = object["code"]?.stringValue,
                      let capacity = object["capacity"]?.numberValue?.wholeValue else {
                    return .failure(RelayClientError(.protocolViolation, "create reply lacks a field"))
                }
                var created = CreatedSession(session: session, code: code, capacity: Int(capacity))
                created.tick = object["tick"]?.numberValue?.wholeValue.map { Int(clamping: $0) }
                return .success(created)
            })
        }
    }

    /// Joins a session by its id (`join`).
    public func join(session: String, name: String = "", _ completion: @escaping (Result<Membership, RelayClientError>) -> Void) {
        join(key: "session", value: session, name: name, completion)
    }

    /// Joins a session by its join code (`join`).
    public func join(code: String, name: String = "", _ completion: @escaping (Result<Membership, RelayClientError>) -> Void) {
        join(key: "code", value: code, name: name, completion)
    }

    private func join(key: String, value: String, name: String, _ completion: @escaping (Result<Membership, RelayClientError>) -> Void) {
        request(op: "join", { json in
            json.field(key, string: value)
            json.field("name", string: name)
        }) { [weak self] result in
            guard let self else { return }
            switch result.flatMap(Self.membership) {
            case .success(let membership):
                do throws(RelayClientError) {
                    try openDataChannel(membership)
                    self.membership = membership
                    completion(.success(membership))
                } catch {
                    completion(.failure(error))
                }
            case .failure(let error):
                completion(.failure(error))
            }
        }
    }

    private static func membership(_ object: JSONObject) -> Result<Membership, RelayClientError> {
        guard let session = object["session"]?.stringValue, let low = UInt32(session.suffix(8), radix: 16),
              let member = object["member"]?.numberValue?.wholeValue, let tokenHex = object["token"]?.stringValue,
              let token = MemberToken(hex: tokenHex), let udpPort = object["udp"]?.objectValue?["port"]?.numberValue?.wholeValue,
              let owner = object["owner"]?.numberValue?.wholeValue, case .array(let list)? = object["members"] else {
            return .failure(RelayClientError(.protocolViolation, "join reply lacks a field"))
        }
        let others = list.compactMap { entry -> (member: UInt16, name: String)? in
            guard let id = entry.objectValue?["member"]?.numberValue?.wholeValue else { return nil }
            return (UInt16(truncatingIfNeeded: id), entry.objectValue?["name"]?.stringValue ?? "")
        }
        return .success(Membership(session: session, sessionLow: low, member: UInt16(truncatingIfNeeded: member),
                                   token: token.bytes, udpPort: Int(udpPort), members: others,
                                   owner: UInt16(truncatingIfNeeded: owner)))
    }

    /// Leaves the session (`leave`); the UDP binding is revoked by the relay, and ``membership``
    /// is nil again. The control connection (or WebSocket) stays open for another `join`.
    public func leave(_ completion: @escaping (Result<Void, RelayClientError>) -> Void) {
        request(op: "leave", { _ in }) { [weak self] result in
            if case .success = result {
                self?.membership = nil
                self?.closeDataChannel()
            }
            completion(result.map { _ in () })
        }
    }

    /// Kicks `member` from the session (`kick`); owner only.
    public func kick(member: UInt16, _ completion: @escaping (Result<Void, RelayClientError>) -> Void) {
        request(op: "kick", { json in json.field("member", integer: member) }) { result in
            completion(result.map { _ in () })
        }
    }

    /// Sends a control-channel `ping`.
    public func controlPing(_ completion: @escaping (Result<Void, RelayClientError>) -> Void) {
        request(op: "ping", { _ in }) { result in completion(result.map { _ in () }) }
    }

    private static let keepAlivePing = Array(#"{"op":"ping"}"#.utf8)

    /// Sends `ping` without an `id` every ``keepAliveInterval``; its reply has no `id` either and
    /// is dropped on arrival.
    private func startKeepAlive() {
        guard let interval = keepAliveInterval, interval > .zero else { return }
        let timer = Timer(loop: loop)
        timer.start(after: interval, repeating: interval) { [weak self] in
            guard let self, isControlOpen else { return }
            writeControl(Self.keepAlivePing)
        }
        keepAlive = timer
    }

    private func request(op: String, _ fields: (inout JSONWriter) -> Void,
                         _ completion: @escaping (Result<JSONObject, RelayClientError>) -> Void) {
        loop.assertInEventLoop()
        guard isControlOpen else {
            completion(.failure(RelayClientError(.closed, "the control connection is not open")))
            return
        }
        let id = nextRequestID
        nextRequestID += 1
        var json = JSONWriter()
        json.beginObject()
        json.field("op", string: op)
        json.field("id", integer: id)
        fields(&json)
        json.endObject()
        let timer = loop.schedule(after: requestTimeout) { [weak self] in
            guard let entry = self?.pending.removeValue(forKey: id) else { return }
            entry.handler(.failure(RelayClientError(.timedOut, "no reply to \(op) within the request timeout")))
        }
        pending[id] = (timer, completion)
        writeControl(json.bytes)
    }

    /// Whether control messages can go out: connected (and upgraded), and not closed or closing.
    private var isControlOpen: Bool {
        relayHost != nil && !stream.isClosed && (webSocket.map { $0.phase == .open } ?? true)
    }

    /// Writes one control message: a text message over a WebSocket, else the JSON and its
    /// terminator.
    private func writeControl(_ message: [UInt8]) {
        if webSocket != nil {
            webSocketOutput.removeAll(keepingCapacity: true)
            message.withUnsafeBytes { webSocket!.appendText($0, to: &webSocketOutput) }
            webSocketOutput.withUnsafeBytes { stream.writeRawBytes($0) }
        } else {
            message.withUnsafeBytes { stream.writeRawBytes($0) }
            withUnsafeBytes(of: UInt8(0)) { stream.writeRawBytes($0) }
        }
        stream.flush()
    }

    private func readControl() {
        let count = stream.bytesAvailable
        guard count > 0 else { return }
        if webSocket != nil {
            readWebSocket(count)
            return
        }
        try? stream.readRawBytes(count: count) { decoder.append($0) }
        while let event = decoder.next() {
            guard case .message(let bytes, _) = event else { continue }
            handleControlMessage(bytes)
        }
    }

    /// Handles one reply or event, whichever channel brought it.
    func handleControlMessage(_ bytes: [UInt8]) {
        guard let object = (try? JSONValue.parse(bytes))?.objectValue else { return }
        if let eventName = object["event"]?.stringValue {
            dispatchEvent(eventName, object)
        } else if let id = object["id"]?.numberValue?.wholeValue, let entry = pending.removeValue(forKey: Int(id)) {
            entry.timer.close()
            if object["ok"] == .bool(true) {
                entry.handler(.success(object))
            } else {
                let error = object["error"]?.objectValue
                entry.handler(.failure(RelayClientError(.refused, error?["message"]?.stringValue ?? "refused",
                                                        relayCode: error?["code"]?.stringValue ?? "unknown")))
            }
        }
    }

    private func dispatchEvent(_ name: String, _ object: JSONObject) {
        let member = object["member"]?.numberValue?.wholeValue.map { UInt16(truncatingIfNeeded: $0) } ?? 0
        let event: RelayEvent
        switch name {
        case "joined": event = .joined(member: member, name: object["name"]?.stringValue ?? "")
        case "left": event = .left(member: member, reason: object["reason"]?.stringValue ?? "")
        case "owner": event = .owner(member: member)
        case "bound": event = .bound(address: object["address"]?.stringValue ?? "")
        case "unbound":
            isBound = false
            event = .unbound(reason: object["reason"]?.stringValue ?? "")
        case "kicked":
            membership = nil
            closeDataChannel()
            event = .kicked
        case "shutdown": event = .shutdown(drainMs: Int(object["drainMs"]?.numberValue?.wholeValue ?? 0))
        case "closing": event = .closing(reason: object["reason"]?.stringValue ?? "")
        default: return
        }
        onEvent?(event)
    }

    func connectionEnded() {
        keepAlive?.close()
        keepAlive = nil
        upgradeTimer?.close()
        upgradeTimer = nil
        if let completion = upgradeCompletion {
            upgradeCompletion = nil
            completion(.failure(RelayClientError(.closed, "the connection closed before the relay answered the WebSocket upgrade")))
        }
        let waiting = pending
        pending.removeAll()
        for (_, entry) in waiting {
            entry.timer.close()
            entry.handler(.failure(RelayClientError(.closed, "the control connection closed")))
        }
        closeDataChannel()
        onEvent?(.closed)
    }

    /// Closes both channels; pending requests fail with `.closed`. A WebSocket is closed with
    /// a close frame (1000), after which the relay ends the connection.
    public func close() {
        loop.assertInEventLoop()
        if webSocket?.phase == .open {
            endWebSocket(.normalClosure)
        } else {
            stream.close()
            connectionEnded()
        }
        onEvent = nil
        onData = nil
        onPong = nil
    }

    // MARK: Data channel

    private func openDataChannel(_ membership: Membership) throws(RelayClientError) {
        closeDataChannel()
        if webSocket != nil {
            // Bound to the WebSocket at its join (PROTOCOL.md §7): no socket, no BIND.
            isBound = true
            return
        }
        let socket = DatagramSocket(loop: loop)
        do {
            try socket.connect(remoteAddress: relayHost ?? "127.0.0.1", remotePort: membership.udpPort)
            try socket.receive()
        } catch {
            socket.close()
            throw RelayClientError(error)
        }
        socket.onData = { [weak self] datagram in self?.received(datagram.bytes) }
        udp = socket
    }

    private func closeDataChannel() {
        bindAttempt?.timer.close()
        if let attempt = bindAttempt {
            bindAttempt = nil
            attempt.completion(.failure(RelayClientError(.closed, "the membership ended before the bind completed")))
        }
        udp?.close()
        udp = nil
        isBound = false
    }

    /// The local UDP address (after `join`).
    public var localUDPAddress: SocketAddress? { udp?.localSocketAddress }

    /// Proves this client's UDP address to the relay (PROTOCOL.md §2.2): BIND every 250 ms, with
    /// the relay's cookie once it arrives, until an empty BIND_ACK, giving up after 10 tries.
    /// Over a WebSocket the member is bound from its join on, and `completion` runs at once.
    public func bind(_ completion: @escaping (Result<Void, RelayClientError>) -> Void) {
        loop.assertInEventLoop()
        guard membership != nil, hasDataChannel else {
            completion(.failure(RelayClientError(.notJoined, "join a session before binding")))
            return
        }
        if webSocket != nil {
            completion(.success(()))
            return
        }
        bindAttempt?.timer.close()
        let attempt = BindAttempt(timer: Timer(loop: loop), completion: completion)
        bindAttempt = attempt
        attempt.timer.start(after: .zero, repeating: .milliseconds(250)) { [weak self] in self?.sendBind() }
    }

    private func sendBind() {
        guard let attempt = bindAttempt, let membership else { return }
        guard attempt.tries < 10 else {
            attempt.timer.close()
            bindAttempt = nil
            attempt.completion(.failure(RelayClientError(.timedOut, "no BIND_ACK after 10 tries")))
            return
        }
        attempt.tries += 1
        let header = PacketHeader(type: PacketType.bind, session: membership.sessionLow, member: membership.member)
        sendRaw(header, payload: membership.token + attempt.cookie)
    }

    /// Sends `payload` as one DATA datagram to every other member (`target` nil) or to one member.
    ///
    /// - Parameter latest: Sets the LATEST flag: the relay drops it if a newer LATEST packet from
    ///   this client was already forwarded (use it for state, not for voice).
    /// - Throws: ``RelayClientError`` `.notJoined`, or `.datagramTooLarge` when the datagram would
    ///   exceed the relay's `maxDatagram`; the datagram is then not sent.
    public func send(_ payload: UnsafeRawBufferPointer, to target: UInt16? = nil, latest: Bool = false) throws(RelayClientError) {
        loop.assertInEventLoop()
        guard let membership, hasDataChannel else { throw RelayClientError(.notJoined, "join a session before sending") }
        let size = PacketHeader.size + payload.count
        guard size <= maxDatagram else {
            throw RelayClientError(.datagramTooLarge, "a \(size)-byte datagram exceeds the relay's \(maxDatagram)-byte limit")
        }
        sequence &+= 1
        let header = PacketHeader(type: PacketType.data, flags: latest ? PacketFlags.latest : 0,
                                  session: membership.sessionLow, member: membership.member,
                                  target: target ?? PacketHeader.broadcastTarget, sequence: sequence)
        try sendDatagram(header, payload)
    }

    /// Sends `count` DATA datagrams of `payloadSize` payload bytes each, in sequence, to every
    /// other member (`target` nil) or to one: `fill` writes datagram `i`'s payload. Where Linux's
    /// UDP segmentation offload is available they leave in one system call per 64, walking the
    /// IP stack once; elsewhere one by one. For a burst that is due at once, such as a tick's
    /// worth of state and voice.
    ///
    /// - Returns: How many the kernel took; the rest were dropped (its buffer was full) and
    ///   counted in ``datagramsDropped``.
    /// - Throws: ``RelayClientError`` `.notJoined`, or `.datagramTooLarge`; nothing is sent then.
    @discardableResult
    public func sendBurst(count: Int, payloadSize: Int, to target: UInt16? = nil,
                          fill: (Int, UnsafeMutableRawBufferPointer) -> Void) throws(RelayClientError) -> Int {
        loop.assertInEventLoop()
        guard let membership, hasDataChannel else { throw RelayClientError(.notJoined, "join a session before sending") }
        let size = PacketHeader.size + payloadSize
        guard size <= maxDatagram else {
            throw RelayClientError(.datagramTooLarge, "a \(size)-byte datagram exceeds the relay's \(maxDatagram)-byte limit")
        }
        guard let udp else {
            return sendBinaryBurst(count: count, payloadSize: payloadSize, membership: membership, target: target, fill: fill)
        }
        let perCall = max(1, min(DatagramSocket.maxSegments, 65_000 / size))
        if burstBuffer.count < perCall * size { burstBuffer = [UInt8](repeating: 0, count: perCall * size) }
        var sent = 0
        var start = 0
        while start < count {
            let chunk = min(perCall, count - start)
            burstBuffer.withUnsafeMutableBytes { buffer in
                for offset in 0..<chunk {
                    sequence &+= 1
                    let slot = UnsafeMutableRawBufferPointer(rebasing: buffer[(offset * size)..<((offset + 1) * size)])
                    PacketHeader(type: PacketType.data, flags: 0, session: membership.sessionLow, member: membership.member,
                                 target: target ?? PacketHeader.broadcastTarget, sequence: sequence).write(to: slot)
                    fill(start + offset, UnsafeMutableRawBufferPointer(rebasing: slot[PacketHeader.size...]))
                }
                sent += drops.sendBurst(UnsafeRawBufferPointer(rebasing: buffer[..<(chunk * size)]), segmentSize: size,
                                        sendSegments: { (bytes) throws(SocketError) in try udp.sendSegments(bytes, segmentSize: size) },
                                        send: { (bytes) throws(SocketError) in try udp.trySend(bytes) })
            }
            start += chunk
        }
        return sent
    }

    /// The sequence number of the last DATA sent.
    public var lastSequence: UInt32 { sequence }

    /// Sends a PING carrying the send time; the PONG arrives at ``onPong`` with the round-trip time.
    ///
    /// - Returns: the PING's sequence number.
    @discardableResult
    public func ping() throws(RelayClientError) -> UInt32 {
        loop.assertInEventLoop()
        guard let membership, hasDataChannel else { throw RelayClientError(.notJoined, "join a session before pinging") }
        pingSequence &+= 1
        var sentAt = loop.now.bigEndian
        let header = PacketHeader(type: PacketType.ping, session: membership.sessionLow, member: membership.member, sequence: pingSequence)
        try withUnsafeBytes(of: &sentAt) { (bytes) throws(RelayClientError) in try sendDatagram(header, bytes) }
        return pingSequence
    }

    private func sendRaw(_ header: PacketHeader, payload: [UInt8]) {
        guard udp != nil else { return }
        payload.withUnsafeBytes { try? sendDatagram(header, $0) }
    }

    /// Whether datagrams can go out: a UDP socket after `join`, or an open WebSocket.
    private var hasDataChannel: Bool {
        udp != nil || webSocket?.phase == .open
    }

    private func sendDatagram(_ header: PacketHeader, _ payload: UnsafeRawBufferPointer) throws(RelayClientError) {
        guard let udp else {
            sendBinary(header, payload)
            return
        }
        let size = PacketHeader.size + payload.count
        // The callers check ``maxDatagram``, which is never more than the buffer; this keeps a
        // future caller that forgets from overrunning it.
        guard size <= sendBuffer.count else {
            throw RelayClientError(.datagramTooLarge, "a \(size)-byte datagram exceeds the client's \(sendBuffer.count)-byte limit")
        }
        let result = sendBuffer.withUnsafeMutableBytes { (buffer) -> Result<Void, SocketError> in
            header.write(to: buffer)
            if payload.count > 0 { UnsafeMutableRawBufferPointer(rebasing: buffer[PacketHeader.size...]).copyMemory(from: payload) }
            return Result { () throws(SocketError) in
                try drops.send(UnsafeRawBufferPointer(rebasing: buffer[..<size])) { (bytes) throws(SocketError) in try udp.trySend(bytes) }
            }
        }
        if case .failure(let error) = result { throw RelayClientError(error) }
    }

    /// Hands each entry of an AGGREGATE to ``onData`` as if its DATA datagram had been forwarded
    /// (a LATEST broadcast from the entry's member, with its sequence), or drops and counts the
    /// whole datagram when it is malformed.
    private func deliverAggregate(_ bytes: UnsafeRawBufferPointer) {
        switch AggregateDatagram.decode(bytes) {
        case .failure:
            drops.receivedMalformed()
        case .success(let aggregate):
            aggregatesReceived &+= 1
            guard let onData else { return }
            let tick = aggregate.header.sequence
            for entry in aggregate.entries {
                let header = PacketHeader(type: PacketType.data, flags: PacketFlags.latest, session: aggregate.header.session,
                                          member: entry.member, target: PacketHeader.broadcastTarget, sequence: entry.sequence)
                onData(ReceivedData(header: header, payload: entry.payload, tick: tick))
            }
        }
    }

    func received(_ bytes: UnsafeRawBufferPointer) {
        guard let header = PacketHeader(parsing: bytes), header.magic == PacketHeader.magic else { return }
        let payload = UnsafeRawBufferPointer(rebasing: bytes[PacketHeader.size...])
        switch header.type {
        case PacketType.data:
            onData?(ReceivedData(header: header, payload: payload))
        case PacketType.aggregate:
            deliverAggregate(bytes)
        case PacketType.pong:
            guard payload.count >= 8 else { return }
            let sentAt = UInt64(bigEndian: payload.loadUnaligned(as: UInt64.self))
            let now = loop.now
            onPong?(header.sequence, .nanoseconds(Int64(now >= sentAt ? now - sentAt : 0)))
        case PacketType.bindAck:
            guard let attempt = bindAttempt else { return }
            if payload.count == PacketHeader.cookieSize {
                attempt.cookie = Array(payload)
                sendBind()
            } else if payload.isEmpty {
                attempt.timer.close()
                bindAttempt = nil
                isBound = true
                attempt.completion(.success(()))
            }
        default:
            return
        }
    }
}
