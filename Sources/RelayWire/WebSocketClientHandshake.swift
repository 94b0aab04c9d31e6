/// A client's side of the WebSocket upgrade to a relay (PROTOCOL.md §7): the request to send and
/// the check of the relay's answer.
///
/// The key's 16 random bytes come from the caller, so a test can fix them.
public enum WebSocketClientHandshake {
    /// What the relay's response head says.
    public enum Verdict: Hashable, Sendable {
        /// A 101 with the right accept value and subprotocol: frames follow.
        case accepted
        /// A well-formed refusal with this status (400, 403, 404, 405, 426, 431, …).
        case refused(status: Int)
        /// Not a valid upgrade answer; the text says what is wrong.
        case invalid(String)
    }

    /// The `Sec-WebSocket-Key` for 16 random bytes.
    public static func key(randomBytes: [UInt8]) -> String {
        precondition(randomBytes.count == 16, "a WebSocket key is 16 random bytes")
        return Base64.encode(randomBytes)
    }

    /// The upgrade request head, ending with its empty line.
    ///
    /// - Parameters:
    ///   - host: The `Host` value: the relay's host, and `:port` unless it is the scheme's default.
    ///   - path: The request target; the relay's is ``WebSocketHandshake/path``.
    ///   - key: From ``key(randomBytes:)``; keep it to check the answer.
    ///   - origin: An `Origin` to send, as a browser would, or `nil` for none.
    public static func request(host: String, path: String = WebSocketHandshake.path, key: String, origin: String? = nil) -> [UInt8] {
        var text = "GET \(path) HTTP/1.1\r\nHost: \(host)\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        text += "Sec-WebSocket-Key: \(key)\r\nSec-WebSocket-Version: 13\r\n"
        text += "Sec-WebSocket-Protocol: \(WebSocketHandshake.subprotocol)\r\n"
        if let origin { text += "Origin: \(origin)\r\n" }
        return Array((text + "\r\n").utf8)
    }

    /// Checks the relay's response head against the key that was sent.
    ///
    /// - Parameters:
    ///   - head: Exactly the response head, status line through the final `\r\n\r\n`
    ///     (``HTTPRequestHead/headEnd(in:maxBytes:)`` finds its end); a refusal's body follows it.
    ///   - key: The `Sec-WebSocket-Key` that was sent.
    /// - Returns: ``Verdict/accepted`` only for a 101 with `Upgrade: websocket`, `Connection:
    ///   Upgrade`, the right `Sec-WebSocket-Accept`, `Sec-WebSocket-Protocol: gamerelay.v1` and
    ///   no extension.
    public static func verify(head: UnsafeRawBufferPointer, key: String) -> Verdict {
        guard let lineEnd = head.firstIndex(of: 13) else { return .invalid("no status line") }
        let line = Array(head[..<lineEnd])
        let prefix = Array("HTTP/1.1 ".utf8)
        guard line.count >= prefix.count + 3, line.starts(with: prefix),
            line[9..<12].allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
            line.count == 12 || line[12] == 0x20
        else { return .invalid("malformed status line") }
        let status = line[9..<12].reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
        guard let fields = HTTPHeaderFields.parse(head) else { return .invalid("malformed header field") }
        guard status == 101 else { return .refused(status: status) }
        guard fields.containsToken("upgrade", "websocket") else { return .invalid("101 without Upgrade: websocket") }
        guard fields.containsToken("connection", "upgrade") else { return .invalid("101 without Connection: Upgrade") }
        guard fields.values("sec-websocket-accept") == [WebSocketHandshake.accept(forKey: key)] else {
            return .invalid("wrong Sec-WebSocket-Accept")
        }
        guard fields.values("sec-websocket-protocol") == [WebSocketHandshake.subprotocol] else {
            return .invalid("101 without Sec-WebSocket-Protocol: \(WebSocketHandshake.subprotocol)")
        }
        guard fields.values("sec-websocket-extensions").isEmpty else { return .invalid("an extension was not offered") }
        return .accepted
    }

    /// Checks a response head held in an array, as the raw-buffer overload does.
    public static func verify(head: [UInt8], key: String) -> Verdict {
        head.withUnsafeBytes { verify(head: $0, key: key) }
    }
}
