import RelayWire

/// Checks `WebSocketFrameDecoder`, the reader of browser members' frames (PROTOCOL.md §7), and
/// `WebSocketFrameEncoder` against it, for any byte stream.
///
/// Input: a flags byte (bit 0: read as a client, else as the relay; bits 1–2: `maxText` of 0, 5,
/// 64 or 16384; bits 3–4: `maxBinary` of 0, 3, 100 or 1200), a seed byte for the read sizes and
/// the re-encoding, then the stream.
///
/// Invariants: every split of the stream gives the same events as one read; the decoder never
/// holds more than a header, a control payload and the larger bound; texts are valid UTF-8
/// within `maxText`, binaries within `maxBinary`, pings and pongs within 125 bytes, close codes
/// allowed on the wire; a close, a too-large text or a protocol error is the last event; and
/// the events, encoded again by the peer (masked towards the relay, fragmented, with pings
/// between the fragments), decode to the same events, and to a 1002 for the wrong role.
///
/// - Throws: ``FuzzFailure`` when an invariant does not hold.
public func fuzzWebSocketFrames(_ data: [UInt8]) throws(FuzzFailure) {
    var input = FuzzInput(data)
    let flags = input.byte() ?? 0
    let seed = input.byte() ?? 0
    let role: WebSocketRole = flags & 1 == 0 ? .server : .client
    let maxText = [0, 5, 64, 16384][Int(flags >> 1 & 3)]
    let maxBinary = [0, 3, 100, 1200][Int(flags >> 3 & 3)]
    let stream = Array(input.rest())
    let bound = 14 + 125 + max(maxText, maxBinary)

    let whole = decodeWebSocket(stream, role: role, maxText: maxText, maxBinary: maxBinary, bound: bound, chunks: nil)
    let split = decodeWebSocket(stream, role: role, maxText: maxText, maxBinary: maxBinary, bound: bound, chunks: ChunkSizes(seed: seed))
    try check(whole.events == split.events, "a split stream read differently: \(whole.events) vs \(split.events)")
    try check(whole.largestBuffer <= bound && split.largestBuffer <= bound, "the decoder held more than \(bound) bytes")

    for (index, event) in whole.events.enumerated() {
        let isLast = index == whole.events.count - 1
        switch event {
        case .text(let bytes):
            try check(bytes.count <= maxText && String(validating: bytes, as: UTF8.self) != nil, "a text over the bound or not UTF-8")
        case .binary(let bytes):
            try check(bytes.count <= maxBinary, "a binary of \(bytes.count) bytes over \(maxBinary)")
        case .ping(let bytes), .pong(let bytes):
            try check(bytes.count <= 125, "a control payload of \(bytes.count) bytes")
        case .close(let code, let reason):
            try check(isLast && (code?.isValidOnWire ?? reason.isEmpty) && reason.utf8.count <= 123, "a bad close event \(event)")
        case .textTooLarge, .protocolError:
            try check(isLast, "\(event) was not the last event")
        case .binaryTooLarge:
            break
        }
    }
    try check(whole.isFinished == (whole.events.last.map(isTerminal) ?? false), "isFinished disagrees with the events")

    // Encode the events again as the peer would send them.
    var random = ChunkSizes(seed: seed ^ 0x5A)
    var keys = ChunkSizes(seed: seed ^ 0xA5)
    let peerKey: () -> UInt32? = role == .server ? { UInt32(truncatingIfNeeded: keys.next() &* 2_654_435_761) } : { nil }
    var encoded: [UInt8] = []
    var expected: [WebSocketFrameEvent] = []
    for event in whole.events {
        switch event {
        case .text(let bytes): appendFragmented(.text, bytes, &encoded, &expected, &random, peerKey)
        case .binary(let bytes): appendFragmented(.binary, bytes, &encoded, &expected, &random, peerKey)
        case .ping(let bytes): WebSocketFrameEncoder.appendFrame(opcode: .ping, payload: bytes, maskingKey: peerKey(), to: &encoded)
        case .pong(let bytes): WebSocketFrameEncoder.appendFrame(opcode: .pong, payload: bytes, maskingKey: peerKey(), to: &encoded)
        case .close(let code, let reason): encoded += WebSocketFrameEncoder.close(code: code, reason: reason, maskingKey: peerKey())
        case .textTooLarge: encoded += WebSocketFrameEncoder.text(String(repeating: "a", count: maxText + 1), maskingKey: peerKey())
        case .binaryTooLarge: encoded += WebSocketFrameEncoder.binary(Array(repeating: 0, count: maxBinary + 1), maskingKey: peerKey())
        // RSV bits: a protocol error whatever the role.
        case .protocolError: encoded += [0xC2, 0x00]
        }
        switch event {
        case .text, .binary: break
        default: expected.append(event)
        }
    }
    let again = decodeWebSocket(encoded, role: role, maxText: maxText, maxBinary: maxBinary, bound: bound, chunks: ChunkSizes(seed: seed &+ 1))
    try check(again.events.count == expected.count, "re-encoded events decode to \(again.events.count) events, not \(expected.count)")
    for (first, second) in zip(expected, again.events) {
        if case .protocolError = first, case .protocolError = second { continue }
        try check(first == second, "re-encoded \(first) decoded as \(second)")
    }
    if !encoded.isEmpty {
        let wrongRole: WebSocketRole = role == .server ? .client : .server
        let wrong = decodeWebSocket(encoded, role: wrongRole, maxText: maxText, maxBinary: maxBinary, bound: bound, chunks: nil)
        guard case .protocolError(let code, _)? = wrong.events.first else {
            throw FuzzFailure("frames for the other role were read: \(wrong.events.prefix(3))")
        }
        try check(code == .protocolError, "frames for the other role closed with \(code), not 1002")
    }
}

private struct DecodedWebSocket {
    var events: [WebSocketFrameEvent] = []
    var largestBuffer = 0
    var isFinished = false
}

private func decodeWebSocket(
    _ stream: [UInt8], role: WebSocketRole, maxText: Int, maxBinary: Int, bound: Int, chunks: ChunkSizes?
) -> DecodedWebSocket {
    var decoder = WebSocketFrameDecoder(role: role, maxText: maxText, maxBinary: maxBinary)
    var result = DecodedWebSocket()
    var sizes = chunks
    var start = 0
    while start < stream.count {
        let size = sizes == nil ? stream.count : sizes!.next()
        let end = min(stream.count, start + size)
        decoder.append(Array(stream[start..<end]))
        result.largestBuffer = max(result.largestBuffer, decoder.bufferedByteCount)
        while let event = decoder.next() { result.events.append(event) }
        start = end
    }
    result.isFinished = decoder.isFinished
    return result
}

private func isTerminal(_ event: WebSocketFrameEvent) -> Bool {
    switch event {
    case .close, .textTooLarge, .protocolError: return true
    case .text, .binary, .ping, .pong, .binaryTooLarge: return false
    }
}

/// Appends a message in a few fragments, sometimes with a ping between two of them, and the
/// events they must decode to.
private func appendFragmented(
    _ opcode: WebSocketOpcode, _ bytes: [UInt8], _ output: inout [UInt8], _ expected: inout [WebSocketFrameEvent],
    _ random: inout ChunkSizes, _ key: () -> UInt32?
) {
    var start = 0
    var first = true
    while true {
        var size = random.next()
        // Long messages in a handful of fragments, so a round trip stays cheap.
        size = max(size, (bytes.count - start) / 4)
        let end = min(bytes.count, start + size)
        let isFinal = end == bytes.count && (size & 1 == 0 || !first)
        WebSocketFrameEncoder.appendFrame(opcode: first ? opcode : .continuation, isFinal: isFinal,
                                          payload: Array(bytes[start..<end]), maskingKey: key(), to: &output)
        if isFinal { break }
        if size % 3 == 0 {
            let ping = [UInt8(truncatingIfNeeded: size)]
            WebSocketFrameEncoder.appendFrame(opcode: .ping, payload: ping, maskingKey: key(), to: &output)
            expected.append(.ping(ping))
        }
        first = false
        start = end
    }
    expected.append(opcode == .text ? .text(bytes) : .binary(bytes))
}
