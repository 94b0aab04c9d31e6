import UVNet

/// A TURN client allocation over UDP (RFC 8656): one socket connected to the server, the
/// requests that set the allocation up (Allocate, CreatePermission, ChannelBind, Refresh) and
/// ChannelData both ways.
///
/// Loop-bound: create and use it on its loop's thread only (checked in debug builds); results
/// arrive as completion handlers on that thread, as with `RelayClient`. Requests are retransmitted
/// every ``retransmitInterval``, doubling, up to ``maxTransmissions`` times. With
/// ``TurnCredentials`` the long-term mechanism runs by itself: the first request goes without
/// them, a 401 supplies REALM and NONCE, and every later request carries USERNAME, REALM, NONCE
/// and MESSAGE-INTEGRITY; a 438 (stale nonce) is retried with the new nonce, and a 437 to Allocate
/// (the server still holds the 5-tuple) from a new local port. Without credentials
/// the server must allow anonymous use (coturn's `--no-auth`).
///
/// ```swift
/// let turn = TurnAllocation(loop: loop, credentials: TurnCredentials(username: "u", password: "p"))
/// try turn.connect(host: "127.0.0.1", port: 3478)
/// turn.allocate { result in
///     guard case .success(let relayed) = result else { return }
///     print("peers reach me at \(relayed)")
///     turn.bindChannel(to: peer) { bound in
///         guard case .success(let channel) = bound else { return }
///         [UInt8]("hello".utf8).withUnsafeBytes { try? turn.sendChannelData($0, channel: channel) }
///     }
/// }
/// turn.onChannelData = { channel, payload in print("\(payload.count) bytes on channel \(channel)") }
/// ```
public final class TurnAllocation {
    /// The loop the allocation runs on.
    public let loop: EventLoop
    /// The long-term credentials, or `nil` for a server without authentication.
    public let credentials: TurnCredentials?
    /// The first retransmission timeout of a request; each retransmission doubles it.
    public var retransmitInterval: Duration = .milliseconds(250)
    /// How many times a request is sent before it fails with ``TurnError/Code/timedOut``.
    public var maxTransmissions = 6
    /// Whether requests carry FINGERPRINT.
    public var fingerprint = false
    /// How often, once allocated, the allocation is refreshed and every channel re-bound (which
    /// also refreshes its permission): well inside coturn's 300-second permission lifetime.
    public var maintenanceInterval: Duration = .seconds(120)

    /// ChannelData from a peer: the channel and a view of the payload, valid during the call.
    public var onChannelData: ((UInt16, UnsafeRawBufferPointer) -> Void)?
    /// Data indications (data from a peer with no channel bound): the peer and the payload,
    /// valid during the call.
    public var onData: ((SocketAddress, UnsafeRawBufferPointer) -> Void)?
    /// Failures of the background refreshes.
    public var onError: ((TurnError) -> Void)?

    /// The relayed transport address peers send to, once allocated.
    public private(set) var relayedAddress: SocketAddress?
    /// This client's address as the server sees it (XOR-MAPPED-ADDRESS), once allocated.
    public private(set) var mappedAddress: SocketAddress?
    /// The lifetime the server granted, in seconds.
    public private(set) var lifetime: UInt32?
    /// The realm the server announced, with long-term credentials.
    public private(set) var realm: String?
    /// Whether ``close()`` has been called.
    public private(set) var isClosed = false

    private var socket: DatagramSocket
    private var server: (host: String, port: Int)?
    private var nonce: [UInt8]?
    private var key: [UInt8]?
    private var pending: [StunTransactionID: Transaction] = [:]
    private var peersByChannel: [UInt16: SocketAddress] = [:]
    private var channelsByPeer: [SocketAddress: UInt16] = [:]
    private var nextChannel = ChannelData.bindableChannels.lowerBound
    private var maintenance: Timer?
    private let sendBuffer: UnsafeMutableRawBufferPointer
    /// Room for one burst of ``sendChannelDataBurst(count:payloadSize:channels:fill:)``, grown on demand.
    private var burstBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 0, alignment: 8)

    private final class Transaction {
        let method: StunMethod
        let attributes: (StunTransactionID) -> [StunAttribute]
        let completion: (Result<StunMessage, TurnError>) -> Void
        let timer: Timer
        var id = StunTransactionID.random()
        var encoded: [UInt8] = []
        var transmissions = 0
        var authRetries = 0
        var mismatchRetries = 0
        var lastError: TurnError?

        init(method: StunMethod, timer: Timer, attributes: @escaping (StunTransactionID) -> [StunAttribute],
             completion: @escaping (Result<StunMessage, TurnError>) -> Void) {
            self.method = method
            self.timer = timer
            self.attributes = attributes
            self.completion = completion
        }
    }

    /// Creates an unconnected allocation on `loop`. Loop thread only.
    public init(loop: EventLoop, credentials: TurnCredentials? = nil) {
        loop.preconditionInEventLoop()
        self.loop = loop
        self.credentials = credentials
        socket = DatagramSocket(loop: loop)
        sendBuffer = .allocate(byteCount: 2048, alignment: 8)
    }

    deinit {
        sendBuffer.deallocate()
        burstBuffer.deallocate()
    }

    /// Connects the socket to the TURN server, so only its datagrams arrive, and starts receiving.
    ///
    /// - Parameters:
    ///   - host: The server's IPv4 or IPv6 literal (no name lookup).
    ///   - port: The server's UDP port, usually 3478.
    /// - Throws: ``TurnError`` `.io` with the socket error.
    public func connect(host: String, port: Int) throws(TurnError) {
        loop.assertInEventLoop()
        do {
            try socket.connect(remoteAddress: host, remotePort: port)
            try socket.receive()
        } catch {
            throw TurnError(error)
        }
        server = (host, port)
        socket.onData = { [weak self] datagram in self?.received(datagram.bytes) }
    }

    /// Moves to a fresh socket (a new local port) connected to the same server, for a 437 to Allocate.
    private func reconnect() throws(TurnError) {
        guard let server else { throw TurnError(.closed, "not connected") }
        socket.close()
        socket = DatagramSocket(loop: loop)
        try connect(host: server.host, port: server.port)
    }

    /// This client's local address, once connected.
    public var localAddress: SocketAddress? { socket.localSocketAddress }

    /// The underlying socket, for socket options such as buffer sizes.
    public var datagramSocket: DatagramSocket { socket }

    // MARK: Requests

    /// Asks for a UDP relayed address (Allocate with REQUESTED-TRANSPORT 17), authenticating if the
    /// server asks to; on success the allocation is refreshed every ``maintenanceInterval``.
    ///
    /// - Parameters:
    ///   - lifetime: The lifetime to ask for, in seconds; `nil` takes the server's default.
    ///   - completion: The relayed address, or ``TurnError`` `.rejected`, `.unauthorized`,
    ///     `.timedOut`, `.protocolViolation` (no XOR-RELAYED-ADDRESS) or `.closed`.
    public func allocate(lifetime: UInt32? = nil, _ completion: @escaping (Result<SocketAddress, TurnError>) -> Void) {
        perform(.allocate, { _ in
            [StunAttribute.requestedTransport(17)] + (lifetime.map { [StunAttribute.lifetime($0)] } ?? [])
        }) { [weak self] result in
            guard let self else { return }
            completion(result.flatMap { message in
                guard let relayed = message.address(.xorRelayedAddress) else {
                    return .failure(TurnError(.protocolViolation, "the Allocate response lacks XOR-RELAYED-ADDRESS"))
                }
                relayedAddress = relayed
                mappedAddress = message.address(.xorMappedAddress)
                self.lifetime = message.attribute(.lifetime)?.uint32Value
                startMaintenance()
                return .success(relayed)
            })
        }
    }

    /// Installs permissions for the IP addresses of `peers` (ports are ignored, RFC 8656 §9).
    ///
    /// - Parameter completion: Success, or ``TurnError`` (`.notAllocated` before ``allocate(lifetime:_:)``).
    public func createPermission(for peers: [SocketAddress], _ completion: @escaping (Result<Void, TurnError>) -> Void) {
        guard relayedAddress != nil else {
            return completion(.failure(TurnError(.notAllocated, "allocate before creating permissions")))
        }
        guard !peers.isEmpty else {
            return completion(.failure(TurnError(.invalidArgument, "CreatePermission needs at least one peer")))
        }
        perform(.createPermission, { id in
            peers.map { StunAttribute.xorAddress(.xorPeerAddress, $0, transactionID: id) }
        }) { result in completion(result.map { _ in () }) }
    }

    /// Binds a channel to `peer` (ChannelBind, which also installs the peer's permission), or
    /// refreshes the binding when `peer` already has one.
    ///
    /// - Parameters:
    ///   - peer: The peer's transport address, typically another allocation's relayed address.
    ///   - channel: The channel to use, in 0x4000…0x4FFF; `nil` picks the peer's current channel or the next free one.
    ///   - completion: The channel number, or ``TurnError``.
    public func bindChannel(to peer: SocketAddress, channel: UInt16? = nil, _ completion: @escaping (Result<UInt16, TurnError>) -> Void) {
        guard relayedAddress != nil else {
            return completion(.failure(TurnError(.notAllocated, "allocate before binding channels")))
        }
        let chosen: UInt16
        if let channel {
            chosen = channel
        } else if let existing = channelsByPeer[peer] {
            chosen = existing
        } else {
            while peersByChannel[nextChannel] != nil, nextChannel < ChannelData.bindableChannels.upperBound { nextChannel += 1 }
            chosen = nextChannel
        }
        guard ChannelData.bindableChannels.contains(chosen), peersByChannel[chosen] == nil || peersByChannel[chosen] == peer else {
            return completion(.failure(TurnError(.invalidArgument, "channel 0x\(String(chosen, radix: 16)) is outside 0x4000...0x4FFF or bound to another peer")))
        }
        perform(.channelBind, { id in
            [StunAttribute.channelNumber(chosen), StunAttribute.xorAddress(.xorPeerAddress, peer, transactionID: id)]
        }) { [weak self] result in
            guard let self else { return }
            completion(result.map { _ in
                peersByChannel[chosen] = peer
                channelsByPeer[peer] = chosen
                return chosen
            })
        }
    }

    /// Refreshes the allocation (Refresh); a lifetime of 0 deletes it.
    ///
    /// - Parameter completion: The lifetime the server granted, or ``TurnError``.
    public func refresh(lifetime: UInt32, _ completion: @escaping (Result<UInt32, TurnError>) -> Void) {
        guard relayedAddress != nil else {
            return completion(.failure(TurnError(.notAllocated, "allocate before refreshing")))
        }
        perform(.refresh, { _ in [StunAttribute.lifetime(lifetime)] }) { [weak self] result in
            completion(result.map { message in
                let granted = message.attribute(.lifetime)?.uint32Value ?? lifetime
                self?.lifetime = granted
                return granted
            })
        }
    }

    /// The channel bound to `peer`, if any.
    public func channel(for peer: SocketAddress) -> UInt16? { channelsByPeer[peer] }

    /// The peer bound to `channel`, if any.
    public func peer(forChannel channel: UInt16) -> SocketAddress? { peersByChannel[channel] }

    // MARK: Data

    /// Sends `payload` to the peer bound to `channel` as one ChannelData datagram (4-byte header,
    /// no padding): one `sendmsg`, queued in order if the kernel's buffer is full.
    ///
    /// The channel is not looked up: sending on an unbound channel makes the server drop the datagram.
    /// - Throws: ``TurnError`` `.closed`, `.invalidArgument` for a payload over 2044 bytes, or `.io`
    ///   (for instance `datagramTooLarge` beyond one packet).
    @inline(__always)
    public func sendChannelData(_ payload: UnsafeRawBufferPointer, channel: UInt16) throws(TurnError) {
        loop.assertInEventLoop()
        guard !isClosed else { throw TurnError(.closed, "the allocation is closed") }
        let size = ChannelData.headerSize + payload.count
        guard size <= sendBuffer.count else {
            throw TurnError(.invalidArgument, "a \(payload.count)-byte payload does not fit one ChannelData datagram")
        }
        ChannelData.writeHeader(channel: channel, length: payload.count, into: sendBuffer)
        if payload.count > 0 {
            UnsafeMutableRawBufferPointer(rebasing: sendBuffer[ChannelData.headerSize..<size]).copyMemory(from: payload)
        }
        do {
            try socket.send(UnsafeRawBufferPointer(rebasing: sendBuffer[..<size]))
        } catch {
            throw TurnError(error)
        }
    }

    /// Sends one ChannelData per entry of `channels` for each of `count` payloads of
    /// `payloadSize` bytes (`fill` writes payload `i`), all the same size, so where Linux's UDP
    /// segmentation offload is available they leave in one system call per 64.
    ///
    /// - Returns: How many datagrams the kernel took.
    /// - Throws: ``TurnError`` `.closed`, or `.invalidArgument` for a payload too large for one datagram.
    @discardableResult
    public func sendChannelDataBurst(count: Int, payloadSize: Int, channels: [UInt16],
                                     fill: (Int, UnsafeMutableRawBufferPointer) -> Void) throws(TurnError) -> Int {
        loop.assertInEventLoop()
        guard !isClosed else { throw TurnError(.closed, "the allocation is closed") }
        let size = ChannelData.headerSize + payloadSize
        guard size <= sendBuffer.count, !channels.isEmpty else {
            throw TurnError(.invalidArgument, "a \(payloadSize)-byte payload does not fit one ChannelData datagram")
        }
        let perCall = max(1, min(DatagramSocket.maxSegments, 65_000 / size))
        if burstBuffer.count < perCall * size {
            burstBuffer.deallocate()
            burstBuffer = .allocate(byteCount: perCall * size, alignment: 8)
        }
        var sent = 0
        var queued = 0
        let payload = UnsafeMutableRawBufferPointer(rebasing: sendBuffer[..<payloadSize])
        func flush() {
            guard queued > 0 else { return }
            sent += (try? socket.sendBurst(UnsafeRawBufferPointer(rebasing: burstBuffer[..<(queued * size)]), segmentSize: size)) ?? 0
            queued = 0
        }
        for index in 0..<count {
            fill(index, payload)
            for channel in channels {
                if queued == perCall { flush() }
                let slot = UnsafeMutableRawBufferPointer(rebasing: burstBuffer[(queued * size)..<((queued + 1) * size)])
                ChannelData.writeHeader(channel: channel, length: payloadSize, into: slot)
                UnsafeMutableRawBufferPointer(rebasing: slot[ChannelData.headerSize...]).copyMemory(from: UnsafeRawBufferPointer(payload))
                queued += 1
            }
        }
        flush()
        return sent
    }

    /// Sends `payload` to `peer` in a Send indication (no channel needed, but a permission is).
    ///
    /// - Throws: ``TurnError`` `.notAllocated`, `.closed` or `.io`.
    public func sendIndication(_ payload: [UInt8], to peer: SocketAddress) throws(TurnError) {
        loop.assertInEventLoop()
        guard !isClosed else { throw TurnError(.closed, "the allocation is closed") }
        guard relayedAddress != nil else { throw TurnError(.notAllocated, "allocate before sending") }
        var message = StunMessage(type: StunMessageType(method: .send, messageClass: .indication))
        message.attributes = [.xorAddress(.xorPeerAddress, peer, transactionID: message.transactionID), .data(payload)]
        try transmit(message.encode(fingerprint: fingerprint))
    }

    /// Deletes the allocation on the server (a Refresh with lifetime 0, sent once, unanswered),
    /// fails pending requests with ``TurnError/Code/closed`` and closes the socket.
    public func close() {
        loop.assertInEventLoop()
        guard !isClosed else { return }
        if relayedAddress != nil {
            let message = StunMessage(type: StunMessageType(method: .refresh, messageClass: .request),
                                      attributes: [.lifetime(0)] + credentialAttributes())
            try? transmit(message.encode(integrityKey: key, fingerprint: fingerprint))
        }
        isClosed = true
        maintenance?.close()
        maintenance = nil
        let waiting = pending
        pending.removeAll()
        for (_, transaction) in waiting {
            transaction.timer.close()
            transaction.completion(.failure(TurnError(.closed, "the allocation closed before the \(transaction.method) response")))
        }
        socket.close()
        onChannelData = nil
        onData = nil
        onError = nil
    }

    // MARK: Transactions

    private func perform(_ method: StunMethod, _ attributes: @escaping (StunTransactionID) -> [StunAttribute],
                         _ completion: @escaping (Result<StunMessage, TurnError>) -> Void) {
        loop.assertInEventLoop()
        guard !isClosed else { return completion(.failure(TurnError(.closed, "the allocation is closed"))) }
        let transaction = Transaction(method: method, timer: Timer(loop: loop), attributes: attributes, completion: completion)
        start(transaction)
    }

    private func credentialAttributes() -> [StunAttribute] {
        guard let credentials, let realm, let nonce else { return [] }
        return [.username(credentials.username), .realm(realm), .nonce(nonce)]
    }

    private func start(_ transaction: Transaction) {
        let id = StunTransactionID.random()
        transaction.id = id
        transaction.transmissions = 0
        let message = StunMessage(type: StunMessageType(method: transaction.method, messageClass: .request),
                                  transactionID: id, attributes: transaction.attributes(id) + credentialAttributes())
        transaction.encoded = message.encode(integrityKey: credentialAttributes().isEmpty ? nil : key, fingerprint: fingerprint)
        pending[id] = transaction
        retransmit(transaction, timeout: retransmitInterval)
    }

    private func retransmit(_ transaction: Transaction, timeout: Duration) {
        guard pending[transaction.id] === transaction else { return }
        guard transaction.transmissions < maxTransmissions else {
            let cause = transaction.lastError.map { " (last send error: \($0))" } ?? ""
            finish(transaction, .failure(TurnError(.timedOut, "no response to \(transaction.method) after \(transaction.transmissions) transmissions\(cause)")))
            return
        }
        transaction.transmissions += 1
        // A failed send counts as a lost datagram: an ICMP error (ECONNREFUSED on the connected
        // socket while the server is still starting) must not end the transaction early.
        do {
            try transmit(transaction.encoded)
        } catch {
            transaction.lastError = error
        }
        transaction.timer.start(after: timeout) { [weak self, unowned transaction] in
            self?.retransmit(transaction, timeout: timeout * 2)
        }
    }

    private func finish(_ transaction: Transaction, _ result: Result<StunMessage, TurnError>) {
        pending.removeValue(forKey: transaction.id)
        transaction.timer.close()
        transaction.completion(result)
    }

    private func transmit(_ bytes: [UInt8]) throws(TurnError) {
        let result = bytes.withUnsafeBytes { raw in
            Result { () throws(SocketError) in try socket.send(raw) }
        }
        if case .failure(let error) = result { throw TurnError(error) }
    }

    // MARK: Receiving

    private func received(_ bytes: UnsafeRawBufferPointer) {
        guard let first = bytes.first else { return }
        if first & 0xC0 == 0x40 {
            guard let frame = ChannelData.parse(bytes) else { return }
            onChannelData?(frame.channel, frame.payload)
        } else if StunMessage.looksLikeStun(bytes) {
            handleStun(Array(bytes))
        }
    }

    private func handleStun(_ bytes: [UInt8]) {
        guard let message = try? StunMessage(decoding: bytes) else { return }
        switch message.type.messageClass {
        case .indication:
            guard message.type.method == .data, let peer = message.address(.xorPeerAddress),
                  let data = message.attribute(.data) else { return }
            data.value.withUnsafeBytes { onData?(peer, $0) }
        case .successResponse, .errorResponse:
            guard let transaction = pending[message.transactionID] else { return }
            // A response that carries MESSAGE-INTEGRITY must carry the right one (RFC 8489 §9.2.5).
            if let key, StunMessage.verifyIntegrity(bytes, key: key) == false { return }
            if message.type.messageClass == .successResponse {
                finish(transaction, .success(message))
            } else {
                handleError(message, for: transaction)
            }
        case .request:
            return
        }
    }

    private func handleError(_ message: StunMessage, for transaction: Transaction) {
        let error = message.errorCode ?? StunErrorCode(code: 0, reason: "no ERROR-CODE")
        let challenge = error.code == StunErrorCode.unauthorized || error.code == StunErrorCode.staleNonce
        if error.code == StunErrorCode.allocationMismatch, transaction.method == .allocate, relayedAddress == nil,
           transaction.mismatchRetries < 3 {
            // The server still holds an allocation for this 5-tuple (a recently reused local
            // port): RFC 8656 §7.4 has the client try again from another local port.
            pending.removeValue(forKey: transaction.id)
            transaction.mismatchRetries += 1
            do {
                try reconnect()
            } catch {
                transaction.timer.close()
                return transaction.completion(.failure(error))
            }
            return start(transaction)
        }
        guard challenge else {
            return finish(transaction, .failure(TurnError(.rejected, "\(transaction.method) refused", stunError: error)))
        }
        guard let credentials else {
            return finish(transaction, .failure(TurnError(.unauthorized, "the server requires credentials", stunError: error)))
        }
        guard transaction.authRetries < 2, let nonce = message.attribute(.nonce) else {
            return finish(transaction, .failure(TurnError(.unauthorized, "the server refused the credentials", stunError: error)))
        }
        if let announced = message.attribute(.realm)?.stringValue {
            if let expected = credentials.realm, expected != announced {
                return finish(transaction, .failure(TurnError(.unauthorized, "the server's realm \"\(announced)\" is not \"\(expected)\"", stunError: error)))
            }
            realm = announced
        }
        guard let realm else {
            return finish(transaction, .failure(TurnError(.protocolViolation, "a \(error.code) without REALM", stunError: error)))
        }
        self.nonce = nonce.value
        key = credentials.key(realm: realm)
        pending.removeValue(forKey: transaction.id)
        transaction.authRetries += 1
        start(transaction)
    }

    // MARK: Maintenance

    private func startMaintenance() {
        guard maintenance == nil, !isClosed else { return }
        let timer = Timer(loop: loop)
        maintenance = timer
        timer.start(after: maintenanceInterval, repeating: maintenanceInterval) { [weak self] in self?.maintain() }
    }

    private func maintain() {
        let report: (TurnError) -> Void = { [weak self] error in self?.onError?(error) }
        refresh(lifetime: lifetime ?? 600) { if case .failure(let error) = $0 { report(error) } }
        for (channel, peer) in peersByChannel {
            bindChannel(to: peer, channel: channel) { if case .failure(let error) = $0 { report(error) } }
        }
    }
}
