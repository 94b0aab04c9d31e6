/// Reads a WebSocket (RFC 6455) byte stream, split into reads of any size, as messages and
/// control frames, for either end of the connection.
///
/// Feed each read with `append(_:)` and drain ``WebSocketFrameEvent``s with ``next()``; every
/// split of one stream yields the same events. Bytes are consumed as they arrive: the decoder
/// keeps at most a frame header (14 bytes), one control payload (125 bytes) and the message in
/// progress, which never grows past `maxText` or `maxBinary` — a frame that would take it past
/// is reported before any of its payload is kept. No extension is negotiated, so RSV bits are
/// errors. Text is checked as UTF-8 once its message is complete.
///
/// After ``WebSocketFrameEvent/close(code:reason:)``, ``WebSocketFrameEvent/textTooLarge`` or
/// ``WebSocketFrameEvent/protocolError(_:reason:)`` the decoder ``isFinished`` and ignores
/// further input; ``WebSocketFrameEvent/binaryTooLarge`` is not terminal.
public struct WebSocketFrameDecoder: Sendable {
    private enum Phase: Sendable {
        case header
        case payload
        case finished
    }

    // Where the current frame's payload goes.
    private enum Sink: Sendable {
        case control
        case message
        case skip
    }

    /// Which end this decoder reads for: a server requires masked frames, a client unmasked ones.
    public let role: WebSocketRole
    /// The most bytes a text message may have (the relay's `maxControlMessage`).
    public let maxText: Int
    /// The most bytes a binary message may have (the relay's `maxDatagram`).
    public let maxBinary: Int

    private var phase = Phase.header
    private var header: [UInt8] = []
    private var frameOpcode = WebSocketOpcode.continuation
    private var frameIsFinal = false
    private var remaining: UInt64 = 0
    private var maskingKey: UInt32?
    private var maskOffset = 0
    private var sink = Sink.skip
    // The opcode of the data message in progress (text or binary), nil between messages.
    private var messageOpcode: WebSocketOpcode?
    // The message in progress is over its bound: its payload is being skipped.
    private var messageIsSkipped = false
    private var message: [UInt8] = []
    private var control: [UInt8] = []
    private var events: [WebSocketFrameEvent] = []
    private var eventStart = 0

    /// Creates a decoder for a new connection.
    ///
    /// - Parameters:
    ///   - role: ``WebSocketRole/server`` for the relay reading a browser's frames.
    ///   - maxText: The largest text message accepted; exactly that many bytes is allowed.
    ///   - maxBinary: The largest binary message accepted; exactly that many bytes is allowed.
    public init(role: WebSocketRole, maxText: Int, maxBinary: Int) {
        precondition(maxText >= 0 && maxBinary >= 0, "message bounds must not be negative")
        self.role = role
        self.maxText = maxText
        self.maxBinary = maxBinary
        header.reserveCapacity(14)
    }

    /// Whether the decoder has reported a close, an oversized text message or a protocol error,
    /// and ignores further input (events already reported can still be drained).
    public var isFinished: Bool {
        if case .finished = phase { return true }
        return false
    }

    /// The bytes the decoder holds for the frame and message in progress, for accounting: at
    /// most 14 + 125 + max(`maxText`, `maxBinary`).
    public var bufferedByteCount: Int { header.count + control.count + message.count }

    /// Returns the next event, or `nil` when all bytes appended so far are accounted for.
    public mutating func next() -> WebSocketFrameEvent? {
        guard eventStart < events.count else { return nil }
        let event = events[eventStart]
        eventStart += 1
        if eventStart == events.count {
            events.removeAll(keepingCapacity: true)
            eventStart = 0
        }
        return event
    }

    /// Reads bytes received from the peer; the events they complete are returned by ``next()``.
    /// Ignored once ``isFinished``.
    public mutating func append(_ bytes: UnsafeRawBufferPointer) {
        var index = 0
        let count = bytes.count
        while index < count {
            switch phase {
            case .finished:
                return
            case .header:
                let needed = Self.headerLength(header)
                let take = min(needed - header.count, count - index)
                header.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[index..<(index + take)]))
                index += take
                if header.count == 2 {
                    guard checkFirstTwoBytes() else { return }
                }
                if header.count == Self.headerLength(header) {
                    startPayload()
                }
            case .payload:
                let take = Int(min(remaining, UInt64(count - index)))
                let chunk = UnsafeRawBufferPointer(rebasing: bytes[index..<(index + take)])
                switch sink {
                case .control: Self.appendPayload(chunk, to: &control, maskingKey: maskingKey, offset: maskOffset)
                case .message: Self.appendPayload(chunk, to: &message, maskingKey: maskingKey, offset: maskOffset)
                case .skip: break
                }
                maskOffset = (maskOffset + take) & 3
                remaining -= UInt64(take)
                index += take
                if remaining == 0 {
                    endFrame()
                }
            }
        }
    }

    /// Reads bytes received from the peer, as the raw-buffer overload does.
    public mutating func append(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { append($0) }
    }

    /// How many header bytes the frame whose header starts with `header` takes (2 until the
    /// second byte is known).
    private static func headerLength(_ header: [UInt8]) -> Int {
        guard header.count >= 2 else { return 2 }
        let length7 = header[1] & 0x7F
        let extended = length7 == 126 ? 2 : length7 == 127 ? 8 : 0
        return 2 + extended + (header[1] & 0x80 != 0 ? 4 : 0)
    }

    /// Checks what the first two header bytes decide; reports a protocol error and returns
    /// `false` if they break a rule.
    private mutating func checkFirstTwoBytes() -> Bool {
        let first = header[0]
        let second = header[1]
        guard first & 0x70 == 0 else { return fail("reserved bits set without an extension") }
        guard let opcode = WebSocketOpcode(rawValue: first & 0x0F) else {
            return fail("unknown opcode \(first & 0x0F)")
        }
        let isFinal = first & 0x80 != 0
        if opcode.isControl {
            guard isFinal else { return fail("fragmented control frame") }
            guard second & 0x7F <= 125 else { return fail("control frame payload over 125 bytes") }
        }
        let isMasked = second & 0x80 != 0
        switch role {
        case .server: guard isMasked else { return fail("unmasked client frame") }
        case .client: guard !isMasked else { return fail("masked server frame") }
        }
        switch opcode {
        case .continuation:
            guard messageOpcode != nil else { return fail("continuation frame without a message to continue") }
        case .text, .binary:
            guard messageOpcode == nil else { return fail("new data frame inside a fragmented message") }
        case .close, .ping, .pong:
            break
        }
        frameOpcode = opcode
        frameIsFinal = isFinal
        return true
    }

    /// Reads the length and masking key of a complete header and decides where the payload goes.
    private mutating func startPayload() {
        let length7 = header[1] & 0x7F
        var length = UInt64(length7)
        var keyStart = 2
        if length7 == 126 {
            length = UInt64(header[2]) << 8 | UInt64(header[3])
            keyStart = 4
        } else if length7 == 127 {
            length = header[2..<10].reduce(0) { $0 << 8 | UInt64($1) }
            keyStart = 10
            guard length >> 63 == 0 else {
                fail("64-bit payload length with its most significant bit set")
                return
            }
        }
        maskingKey = header[1] & 0x80 == 0 ? nil : header[keyStart..<(keyStart + 4)].reduce(0) { $0 << 8 | UInt32($1) }
        maskOffset = 0
        remaining = length
        header.removeAll(keepingCapacity: true)
        phase = .payload

        switch frameOpcode {
        case .close, .ping, .pong:
            sink = .control
        case .text, .binary, .continuation:
            if frameOpcode != .continuation {
                messageOpcode = frameOpcode
                messageIsSkipped = false
            }
            if messageIsSkipped {
                sink = .skip
            } else {
                let bound = messageOpcode == .text ? maxText : maxBinary
                if length > UInt64(bound - message.count) {
                    message = []
                    if messageOpcode == .text {
                        finish(.textTooLarge)
                        return
                    }
                    events.append(.binaryTooLarge)
                    messageIsSkipped = true
                    sink = .skip
                } else {
                    sink = .message
                }
            }
        }
        if remaining == 0 {
            endFrame()
        }
    }

    /// Appends (and unmasks) payload bytes to a buffer whose bound was checked at the header.
    private static func appendPayload(
        _ chunk: UnsafeRawBufferPointer, to buffer: inout [UInt8], maskingKey: UInt32?, offset: Int
    ) {
        let start = buffer.count
        buffer.append(contentsOf: chunk)
        if let maskingKey {
            WebSocketMask.apply(key: maskingKey, offset: offset, to: &buffer, from: start)
        }
    }

    /// Handles a frame whose payload is complete, and gets ready for the next header.
    private mutating func endFrame() {
        phase = .header
        switch frameOpcode {
        case .ping:
            events.append(.ping(control))
            control = []
        case .pong:
            events.append(.pong(control))
            control = []
        case .close:
            endCloseFrame()
        case .text, .binary, .continuation:
            guard frameIsFinal else { return }
            let opcode = messageOpcode
            messageOpcode = nil
            if messageIsSkipped {
                messageIsSkipped = false
                return
            }
            let bytes = message
            message = []
            if opcode == .text {
                guard UTF8Validation.firstInvalidOffset(in: bytes) == nil else {
                    finish(.protocolError(.invalidPayload, reason: "text message is not valid UTF-8"))
                    return
                }
                events.append(.text(bytes))
            } else {
                events.append(.binary(bytes))
            }
        }
    }

    /// Reads a complete close frame's status code and reason.
    private mutating func endCloseFrame() {
        let payload = control
        control = []
        guard !payload.isEmpty else {
            finish(.close(code: nil, reason: ""))
            return
        }
        guard payload.count >= 2 else {
            finish(.protocolError(.protocolError, reason: "close frame with a 1-byte payload"))
            return
        }
        let code = WebSocketCloseCode(rawValue: UInt16(payload[0]) << 8 | UInt16(payload[1]))
        guard code.isValidOnWire else {
            finish(.protocolError(.protocolError, reason: "close code \(code) is not allowed on the wire"))
            return
        }
        let reason = Array(payload[2...])
        guard UTF8Validation.firstInvalidOffset(in: reason) == nil else {
            finish(.protocolError(.invalidPayload, reason: "close reason is not valid UTF-8"))
            return
        }
        finish(.close(code: code, reason: String(decoding: reason, as: UTF8.self)))
    }

    /// Reports a 1002 protocol error; returns `false` for the caller's guard.
    @discardableResult
    private mutating func fail(_ reason: String) -> Bool {
        finish(.protocolError(.protocolError, reason: reason))
        return false
    }

    /// Reports a terminal event and drops everything buffered.
    private mutating func finish(_ event: WebSocketFrameEvent) {
        events.append(event)
        phase = .finished
        header = []
        message = []
        control = []
    }
}
