/// Writes WebSocket (RFC 6455) frames: unmasked for a server, masked with a caller-supplied key
/// for a client, so every output is deterministic.
///
/// Headers can be written straight into caller storage in front of a payload already in place
/// (``writeHeader(opcode:isFinal:payloadCount:maskingKey:into:)``), or whole frames appended to
/// an array. Lengths use the shortest of the 7-, 16- and 64-bit forms.
public enum WebSocketFrameEncoder {
    /// The most payload bytes a control frame (close, ping, pong) may carry.
    public static let maxControlPayload = 125

    /// How many bytes the header of a frame with `payloadCount` payload bytes takes: 2 to 14.
    public static func headerLength(payloadCount: Int, isMasked: Bool) -> Int {
        precondition(payloadCount >= 0, "a payload count cannot be negative")
        let extended = payloadCount < 126 ? 0 : payloadCount <= 0xFFFF ? 2 : 8
        return 2 + extended + (isMasked ? 4 : 0)
    }

    /// Writes a frame header at the start of `buffer`.
    ///
    /// - Parameters:
    ///   - opcode: The frame's opcode.
    ///   - isFinal: The FIN bit: `false` on every fragment of a message but its last.
    ///   - payloadCount: The payload's length; a control frame's must be at most 125.
    ///   - maskingKey: The client's masking key (wire order, read big-endian), or `nil` for a
    ///     server frame. The caller masks the payload with ``WebSocketMask``.
    ///   - buffer: Storage of at least ``headerLength(payloadCount:isMasked:)`` bytes.
    /// - Returns: The number of bytes written.
    @discardableResult
    public static func writeHeader(
        opcode: WebSocketOpcode, isFinal: Bool = true, payloadCount: Int, maskingKey: UInt32?,
        into buffer: UnsafeMutableRawBufferPointer
    ) -> Int {
        precondition(!opcode.isControl || (isFinal && payloadCount <= maxControlPayload),
                     "a control frame is final and carries at most 125 bytes")
        let length = headerLength(payloadCount: payloadCount, isMasked: maskingKey != nil)
        precondition(buffer.count >= length, "the buffer is too small for the header")
        buffer[0] = (isFinal ? 0x80 : 0) | opcode.rawValue
        let maskBit: UInt8 = maskingKey == nil ? 0 : 0x80
        var index = 2
        if payloadCount < 126 {
            buffer[1] = maskBit | UInt8(payloadCount)
        } else if payloadCount <= 0xFFFF {
            buffer[1] = maskBit | 126
            buffer[2] = UInt8(payloadCount >> 8)
            buffer[3] = UInt8(truncatingIfNeeded: payloadCount)
            index = 4
        } else {
            buffer[1] = maskBit | 127
            let count = UInt64(payloadCount)
            for byte in 0..<8 {
                buffer[2 + byte] = UInt8(truncatingIfNeeded: count >> (56 - 8 * UInt64(byte)))
            }
            index = 10
        }
        if let maskingKey {
            for byte in 0..<4 {
                buffer[index + byte] = UInt8(truncatingIfNeeded: maskingKey >> (24 - 8 * UInt32(byte)))
            }
        }
        return length
    }

    /// Appends one frame, header and (masked, for a client) payload, to `output`.
    ///
    /// - Parameters:
    ///   - opcode: The frame's opcode.
    ///   - isFinal: The FIN bit.
    ///   - payload: The payload as the application sees it.
    ///   - maskingKey: The client's masking key, or `nil` for a server frame.
    ///   - output: The bytes to send, which the frame is added to.
    public static func appendFrame(
        opcode: WebSocketOpcode, isFinal: Bool = true, payload: UnsafeRawBufferPointer, maskingKey: UInt32?,
        to output: inout [UInt8]
    ) {
        let start = output.count
        let headerCount = headerLength(payloadCount: payload.count, isMasked: maskingKey != nil)
        output.append(contentsOf: repeatElement(0, count: headerCount))
        _ = output.withUnsafeMutableBytes { buffer in
            writeHeader(opcode: opcode, isFinal: isFinal, payloadCount: payload.count, maskingKey: maskingKey,
                        into: UnsafeMutableRawBufferPointer(rebasing: buffer[start...]))
        }
        let payloadStart = output.count
        output.append(contentsOf: payload)
        if let maskingKey {
            WebSocketMask.apply(key: maskingKey, offset: 0, to: &output, from: payloadStart)
        }
    }

    /// Appends one frame with an array payload, as the raw-buffer overload does.
    public static func appendFrame(
        opcode: WebSocketOpcode, isFinal: Bool = true, payload: [UInt8], maskingKey: UInt32?, to output: inout [UInt8]
    ) {
        payload.withUnsafeBytes {
            appendFrame(opcode: opcode, isFinal: isFinal, payload: $0, maskingKey: maskingKey, to: &output)
        }
    }

    /// One unfragmented text message.
    public static func text(_ text: String, maskingKey: UInt32? = nil) -> [UInt8] {
        frame(.text, Array(text.utf8), maskingKey)
    }

    /// One unfragmented binary message.
    public static func binary(_ bytes: [UInt8], maskingKey: UInt32? = nil) -> [UInt8] {
        frame(.binary, bytes, maskingKey)
    }

    /// A ping; `payload` must be at most 125 bytes.
    public static func ping(_ payload: [UInt8] = [], maskingKey: UInt32? = nil) -> [UInt8] {
        frame(.ping, payload, maskingKey)
    }

    /// A pong, usually echoing a ping's payload; `payload` must be at most 125 bytes.
    public static func pong(_ payload: [UInt8] = [], maskingKey: UInt32? = nil) -> [UInt8] {
        frame(.pong, payload, maskingKey)
    }

    /// A close frame: empty without a code, else the code (one ``WebSocketCloseCode/isValidOnWire``)
    /// and as much of `reason` as fits in 123 bytes without splitting a character.
    public static func close(code: WebSocketCloseCode?, reason: String = "", maskingKey: UInt32? = nil) -> [UInt8] {
        guard let code else { return frame(.close, [], maskingKey) }
        precondition(code.isValidOnWire, "close code \(code) must not be sent")
        var payload = [UInt8(code.rawValue >> 8), UInt8(truncatingIfNeeded: code.rawValue)]
        var fitted = 0
        for scalar in reason.unicodeScalars {
            let size = UTF8.width(scalar)
            guard fitted + size <= maxControlPayload - 2 else { break }
            fitted += size
        }
        payload.append(contentsOf: reason.utf8.prefix(fitted))
        return frame(.close, payload, maskingKey)
    }

    private static func frame(_ opcode: WebSocketOpcode, _ payload: [UInt8], _ maskingKey: UInt32?) -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(headerLength(payloadCount: payload.count, isMasked: maskingKey != nil) + payload.count)
        appendFrame(opcode: opcode, payload: payload, maskingKey: maskingKey, to: &output)
        return output
    }
}
