import RelayWire

/// The byte-level half of ``RelayClient``'s WebSocket transport (PROTOCOL.md §7), without a
/// socket: the upgrade request and the check of its answer, then masked frames out and
/// decoded frames in. The client feeds it what the stream delivers and writes what it
/// appends, so every step is tested on bytes alone.
///
/// Bounded: the response head may take ``maxResponseHead`` bytes, a text message
/// ``maxText``, a binary one ``maxBinary``; the decoder keeps no more than that.
struct WebSocketClientChannel {
    /// Where the connection stands.
    enum Phase: Equatable {
        /// The request is out; the response head has not arrived in full.
        case upgrading
        /// The relay answered 101: frames flow.
        case open
        /// A close frame went out (or the upgrade failed): nothing more is read or written.
        case closed
    }

    /// What the bytes read so far make of the upgrade.
    enum Upgrade: Equatable {
        /// The response head is not complete yet.
        case incomplete
        /// A valid 101: frames follow, and any bytes after the head are already decoded.
        case accepted
        /// A well-formed refusal with this HTTP status.
        case refused(status: Int)
        /// No valid answer; the text says what is wrong.
        case invalid(String)
    }

    /// The most bytes a response head may take. The relay's are a few hundred bytes.
    static let maxResponseHead = 8192
    /// The largest text message (reply or event) accepted: the 1 MiB bound of the client's
    /// control channel over TCP, far above what the relay writes (a `join` reply listing 64
    /// members is under 8 KiB).
    static let maxText = 1 << 20
    /// The largest binary message (datagram) accepted: 1472 bytes, the most any relay's
    /// `maxDatagram` may be (PROTOCOL.md §5), so the bound holds before `hello` has said less.
    static let maxBinary = 1472

    /// The `Sec-WebSocket-Key` sent, to check the answer against.
    let key: String
    private(set) var phase = Phase.upgrading
    private var head: [UInt8] = []
    private var decoder = WebSocketFrameDecoder(role: .client, maxText: maxText, maxBinary: maxBinary)
    private var maskingKeys: MaskingKeys

    /// Starts a channel whose key is made of `randomBytes` (16 of them, from the system's
    /// generator in the client), masking its frames with keys from `maskingKeys`.
    init(randomBytes: [UInt8], maskingKeys: MaskingKeys = MaskingKeys()) {
        key = WebSocketClientHandshake.key(randomBytes: randomBytes)
        self.maskingKeys = maskingKeys
    }

    /// The upgrade request for the relay at `host`:`port` (an IPv6 literal goes in brackets).
    func request(host: String, port: Int, origin: String?) -> [UInt8] {
        let name = host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host
        return WebSocketClientHandshake.request(host: "\(name):\(port)", key: key, origin: origin)
    }

    /// Reads bytes of the relay's answer to the upgrade; once the head is complete, says what
    /// it was. Bytes after an accepting head are the first frames, and go to the decoder.
    mutating func readUpgrade(_ bytes: UnsafeRawBufferPointer) -> Upgrade {
        guard phase == .upgrading else { return .invalid("the upgrade is over") }
        // Search only the new bytes, and the three before them that could start the `\r\n\r\n`.
        let searchFrom = max(head.count - 3, 0)
        let appended = min(bytes.count, Self.maxResponseHead - head.count)
        head.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[..<appended]))
        let end = head.withUnsafeBytes { whole in
            HTTPRequestHead.headEnd(in: UnsafeRawBufferPointer(rebasing: whole[searchFrom...]), maxBytes: whole.count - searchFrom)
                .map { $0 + searchFrom }
        }
        guard let end else {
            guard head.count < Self.maxResponseHead else {
                phase = .closed
                head = []
                return .invalid("no response head within \(Self.maxResponseHead) bytes")
            }
            return .incomplete
        }
        let headLength = end + 4
        let verdict = head.withUnsafeBytes { WebSocketClientHandshake.verify(head: UnsafeRawBufferPointer(rebasing: $0[..<headLength]), key: key) }
        let rest = head[headLength...]
        head = []
        switch verdict {
        case .accepted:
            break
        case .refused(let status):
            phase = .closed
            return .refused(status: status)
        case .invalid(let reason):
            phase = .closed
            return .invalid(reason)
        }
        phase = .open
        // Frames that came with the head: first those kept with it, then the rest of this read.
        rest.withUnsafeBytes { decoder.append($0) }
        if appended < bytes.count { decoder.append(UnsafeRawBufferPointer(rebasing: bytes[appended...])) }
        return .accepted
    }

    /// Reads frame bytes from the relay; ``next()`` then returns what they complete.
    mutating func read(_ bytes: UnsafeRawBufferPointer) {
        guard phase == .open else { return }
        decoder.append(bytes)
    }

    /// The next message or control frame read, or nil.
    mutating func next() -> WebSocketFrameEvent? {
        decoder.next()
    }

    /// Appends one masked text message carrying `text` (a control message) to `output`.
    mutating func appendText(_ text: UnsafeRawBufferPointer, to output: inout [UInt8]) {
        WebSocketFrameEncoder.appendFrame(opcode: .text, payload: text, maskingKey: maskingKeys.next(), to: &output)
    }

    /// Appends one masked binary message to `output`: the datagram `header` followed by
    /// `payload`, framed, copied and masked in one pass over `output`'s storage.
    mutating func appendDatagram(_ header: PacketHeader, payload: UnsafeRawBufferPointer, to output: inout [UInt8]) {
        let size = PacketHeader.size + payload.count
        let maskingKey = maskingKeys.next()
        let headerLength = WebSocketFrameEncoder.headerLength(payloadCount: size, isMasked: true)
        let start = output.count
        output.append(contentsOf: repeatElement(0, count: headerLength + size))
        output.withUnsafeMutableBytes { whole in
            let frame = UnsafeMutableRawBufferPointer(rebasing: whole[start...])
            WebSocketFrameEncoder.writeHeader(opcode: .binary, payloadCount: size, maskingKey: maskingKey, into: frame)
            let datagram = UnsafeMutableRawBufferPointer(rebasing: frame[headerLength...])
            header.write(to: datagram)
            if payload.count > 0 {
                UnsafeMutableRawBufferPointer(rebasing: datagram[PacketHeader.size...]).copyMemory(from: payload)
            }
            WebSocketMask.apply(key: maskingKey, offset: 0, to: datagram)
        }
    }

    /// Appends a masked pong echoing a ping's payload.
    mutating func appendPong(_ payload: [UInt8], to output: inout [UInt8]) {
        WebSocketFrameEncoder.appendFrame(opcode: .pong, payload: payload, maskingKey: maskingKeys.next(), to: &output)
    }

    /// Appends a masked close frame with `code`, and closes the channel: nothing is read or
    /// written after it.
    mutating func appendClose(code: WebSocketCloseCode, to output: inout [UInt8]) {
        guard phase == .open else { return }
        output.append(contentsOf: WebSocketFrameEncoder.close(code: code, maskingKey: maskingKeys.next()))
        phase = .closed
    }
}
