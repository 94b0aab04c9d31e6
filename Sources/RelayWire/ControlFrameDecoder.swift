/// Splits a control connection's byte stream into messages, the way Flash's
/// `XMLSocket` frames them (PROTOCOL.md §1.1).
///
/// The first `\0` or `\n` ends a message. Empty and whitespace-only messages are
/// skipped without a trace. Feed each read with `append(_:)` and drain events with
/// ``next()`` until it returns `nil`; each byte is scanned once however the stream
/// is split, and consumed bytes are compacted away.
///
/// While everything received is still a prefix of `<policy-file-request/>\0`, the
/// decoder waits (at most those 23 bytes); once the stream diverges it is framed
/// normally from its first byte.
public struct ControlFrameDecoder: Sendable {
    private enum Phase: Sendable {
        // Every byte so far is a prefix of the policy request.
        case policyPrefix
        case frames
        // After a policy request or an oversized message: the connection is closing.
        case finished
    }

    // Compacting only once this many consumed bytes pile up, and they outnumber the
    // live ones, keeps the copying amortised O(1) per byte.
    private static let compactionThreshold = 4096

    /// The longest message accepted, terminator excluded (`maxControlMessage`).
    public let maxMessageSize: Int
    /// The terminator of the last non-empty message, which replies and events use;
    /// `0` before any message.
    public private(set) var replyTerminator: UInt8 = 0

    private var phase = Phase.policyPrefix
    private var buffer: [UInt8] = []
    // Start of the first unconsumed message in `buffer`.
    private var start = 0
    // Bytes before this offset (and at or after `start`) hold no terminator.
    private var scanned = 0

    /// Creates a decoder for a new connection.
    ///
    /// - Parameter maxMessageSize: `maxControlMessage`; a message of exactly this
    ///   many bytes is allowed, one more is ``ControlFrameEvent/tooLarge(lastTerminator:)``.
    public init(maxMessageSize: Int) {
        precondition(maxMessageSize >= 0, "maxMessageSize must not be negative")
        self.maxMessageSize = maxMessageSize
    }

    /// Whether the decoder has reported a policy request or an oversized message
    /// and will yield nothing more.
    public var isFinished: Bool {
        if case .finished = phase { return true }
        return false
    }

    /// The bytes received but not yet returned as events.
    public var bufferedByteCount: Int { buffer.count - start }

    /// Adds bytes read from the connection; ignored once ``isFinished``.
    public mutating func append(_ bytes: UnsafeRawBufferPointer) {
        guard !isFinished else { return }
        compact()
        buffer.append(contentsOf: bytes)
    }

    /// Adds bytes read from the connection; ignored once ``isFinished``.
    public mutating func append(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { append($0) }
    }

    /// Returns the next event, or `nil` when more bytes are needed or the decoder
    /// ``isFinished``.
    ///
    /// Every complete message before an oversized one is returned first, so the
    /// caller answers them in order before `message_too_large`.
    public mutating func next() -> ControlFrameEvent? {
        switch phase {
        case .finished:
            return nil
        case .policyPrefix:
            let request = Self.policyFileRequest
            let count = min(buffer.count, request.count)
            guard buffer[..<count].elementsEqual(request[..<count]) else {
                phase = .frames
                return nextFrame()
            }
            guard count == request.count else { return nil }
            finish()
            return .policyFileRequest
        case .frames:
            return nextFrame()
        }
    }

    private mutating func nextFrame() -> ControlFrameEvent? {
        while true {
            guard let end = firstTerminator() else {
                if start == buffer.count {
                    // All consumed: released at once, so an idle connection holds no buffer
                    // until its next read (compacting in `append` would keep it until then).
                    buffer = []
                    start = 0
                    scanned = 0
                    return nil
                }
                scanned = buffer.count
                guard buffer.count - start > maxMessageSize else { return nil }
                finish()
                return .tooLarge(lastTerminator: replyTerminator)
            }
            let message = buffer[start..<end]
            let terminator = buffer[end]
            start = end + 1
            scanned = start
            guard message.count <= maxMessageSize else {
                finish()
                return .tooLarge(lastTerminator: replyTerminator)
            }
            if message.allSatisfy(Self.isWhitespace) { continue }
            replyTerminator = terminator
            return .message(Array(message), terminator: terminator)
        }
    }

    private func firstTerminator() -> Int? {
        buffer.withUnsafeBufferPointer { bytes in
            var index = scanned
            while index < bytes.count {
                let byte = bytes[index]
                if byte == 0 || byte == 10 { return index }
                index += 1
            }
            return nil
        }
    }

    private mutating func compact() {
        if start == buffer.count {
            // Released, not kept: an idle connection should hold no buffer.
            buffer.removeAll()
        } else if start >= Self.compactionThreshold && start * 2 >= buffer.count {
            buffer.removeFirst(start)
        } else {
            return
        }
        scanned -= start
        start = 0
    }

    private mutating func finish() {
        phase = .finished
        buffer = []
        start = 0
        scanned = 0
    }

    // JSON whitespace; `\n` never reaches here because it terminates the message.
    private static func isWhitespace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x09 || byte == 0x0D || byte == 0x0A
    }
}
