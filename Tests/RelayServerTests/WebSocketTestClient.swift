import Foundation
import RelayWire
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

/// A blocking WebSocket client of the control port with bounded waits (PROTOCOL.md §7): the
/// upgrade, masked frames out, the relay's frames in, decoded by RelayWire's client decoder.
final class WebSocketTestClient: JSONMessageClient {
    let fd: Int32
    private var input: [UInt8] = []
    private var decoder = WebSocketFrameDecoder(role: .client, maxText: 1 << 20, maxBinary: 1 << 16)
    private var events: [WebSocketFrameEvent] = []
    /// Whether the relay ended the stream.
    private(set) var isAtEOF = false
    private var maskingKey: UInt32 = 0x3779_1AE5

    /// Connects without upgrading.
    init(host: String = "127.0.0.1", port: Int) throws {
        fd = try connectedTestSocket(host: host, port: port)
    }

    deinit { Glibc.close(fd) }

    /// Closes both directions, as a browser tab that goes away does.
    func close() {
        _ = Glibc.shutdown(fd, Int32(SHUT_RDWR))
    }

    /// Connects and upgrades; throws unless the answer is 101 with the right accept value.
    static func upgraded(host: String = "127.0.0.1", port: Int, origin: String? = nil) throws -> WebSocketTestClient {
        let client = try WebSocketTestClient(host: host, port: port)
        let head = try client.upgrade(origin: origin)
        guard head.hasPrefix("HTTP/1.1 101 ") else { throw TestFailure("expected 101, got \(head)") }
        return client
    }

    /// Sends the upgrade request and returns the answer's head (for a refusal, head and body).
    func upgrade(origin: String? = nil, path: String = WebSocketHandshake.path) throws -> String {
        let key = WebSocketClientHandshake.key(randomBytes: (0..<16).map { _ in UInt8.random(in: 0...255) })
        try sendRaw(WebSocketClientHandshake.request(host: "127.0.0.1", path: path, key: key, origin: origin))
        return try readHead(key: key)
    }

    /// Reads an HTTP answer: the head of a 101 (bytes after it are frames), or a refusal whole.
    func readHead(key: String, timeout: Duration = .seconds(10)) throws -> String {
        let deadline = ContinuousClock.now + timeout
        while true {
            if let end = input.withUnsafeBytes({ HTTPRequestHead.headEnd(in: $0, maxBytes: 1 << 16) }) {
                let head = Array(input[..<(end + 4)])
                input.removeSubrange(..<(end + 4))
                let text = String(decoding: head, as: UTF8.self)
                guard text.hasPrefix("HTTP/1.1 101 ") else {
                    // A refusal: its body follows, then the relay closes.
                    while try readMore(until: deadline) {}
                    return text + String(decoding: input, as: UTF8.self)
                }
                guard WebSocketClientHandshake.verify(head: head, key: key) == .accepted else {
                    throw TestFailure("the 101 does not verify: \(text)")
                }
                let rest = input
                input = []
                decoder.append(rest)
                return text
            }
            guard try readMore(until: deadline) else { throw TestFailure("closed before the answer's head: \(String(decoding: input, as: UTF8.self))") }
        }
    }

    /// Sends raw bytes.
    func sendRaw(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw TestFailure("send failed: errno \(errno)") }
            offset += n
        }
    }

    /// The next masking key: a fixed walk, since the relay only has to unmask it.
    private func nextKey() -> UInt32 {
        maskingKey = maskingKey &* 1_103_515_245 &+ 12_345
        return maskingKey
    }

    /// Sends one masked frame.
    func sendFrame(_ opcode: WebSocketOpcode, _ payload: [UInt8], isFinal: Bool = true, masked: Bool = true) throws {
        var frame: [UInt8] = []
        WebSocketFrameEncoder.appendFrame(opcode: opcode, isFinal: isFinal, payload: payload, maskingKey: masked ? nextKey() : nil, to: &frame)
        try sendRaw(frame)
    }

    /// Sends one text message.
    func sendText(_ text: String) throws { try sendFrame(.text, Array(text.utf8)) }

    /// Sends one binary message (a datagram).
    func sendBinary(_ bytes: [UInt8]) throws { try sendFrame(.binary, bytes) }

    /// The next frame event from the relay, waiting at most `timeout`; nil once the stream ended.
    func next(timeout: Duration = .seconds(10)) throws -> WebSocketFrameEvent? {
        let deadline = ContinuousClock.now + timeout
        while true {
            if let event = decoder.next() { return event }
            guard try readMore(until: deadline) else { return nil }
            decoder.append(input)
            input = []
        }
    }

    /// The next text message parsed as a JSON object, skipping nothing: any other frame fails.
    func readObject(timeout: Duration = .seconds(10)) throws -> [String: Any] {
        guard let event = try next(timeout: timeout) else { throw TestFailure("closed while waiting for a text message") }
        guard case .text(let bytes) = event else { throw TestFailure("expected a text message, got \(event)") }
        guard let object = try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any] else {
            throw TestFailure("not a JSON object: \(String(decoding: bytes, as: UTF8.self))")
        }
        return object
    }

    /// Sends one control message as a text message.
    func send(_ json: String) throws { try sendText(json) }

    /// The next binary message (a datagram), failing on any other frame.
    func expectBinary(timeout: Duration = .seconds(5)) throws -> [UInt8] {
        guard let event = try next(timeout: timeout) else { throw TestFailure("closed while waiting for a binary message") }
        guard case .binary(let bytes) = event else { throw TestFailure("expected a binary message, got \(event)") }
        return bytes
    }

    /// The close frame's code, which must be the next frame, and then the end of the stream.
    func expectClose(timeout: Duration = .seconds(10)) throws -> WebSocketCloseCode? {
        guard let event = try next(timeout: timeout) else { throw TestFailure("the stream ended without a close frame") }
        guard case .close(let code, _) = event else { throw TestFailure("expected a close frame, got \(event)") }
        let deadline = ContinuousClock.now + timeout
        while try readMore(until: deadline) { input = [] }
        return code
    }

    /// Reads what is available, waiting until `deadline`; false on EOF or reset.
    private func readMore(until deadline: ContinuousClock.Instant) throws -> Bool {
        if isAtEOF { return false }
        guard let chunk = try receiveAvailable(fd, until: deadline) else {
            isAtEOF = true
            return false
        }
        input.append(contentsOf: chunk)
        return true
    }
}
