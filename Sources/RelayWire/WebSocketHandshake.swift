/// The relay's side of the WebSocket upgrade on the control port (PROTOCOL.md §7): reads a
/// request head and decides the answer, with the complete response bytes to write.
///
/// Checks run in the order §7 fixes, the first failure answering: head size (431); a request
/// line other than `<method> <target> HTTP/1.1` (400); method (405); path (404); the header
/// fields' syntax (400); `Origin`, when an allow-list is configured (403); a
/// `Sec-WebSocket-Version` other than `13` (426); then `Host` (exactly one), `Upgrade`,
/// `Connection`, a missing or repeated version, the key, the subprotocol (400). Every answer but
/// 101 carries `Connection: close` and a short text body; the caller writes it and closes.
public enum WebSocketHandshake {
    /// The path browsers upgrade on; a query string is ignored.
    public static let path = "/v1/ws"
    /// The subprotocol a client must offer, named in the 101.
    public static let subprotocol = "gamerelay.v1"
    /// The largest request head accepted, its final `\r\n\r\n` included; more is 431.
    public static let maxHeadBytes = 8192
    /// The GUID RFC 6455 §1.3 appends to the key before hashing it.
    public static let acceptGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

    /// The HTTP statuses the handshake answers with.
    public enum Status: Int, Hashable, Sendable, CaseIterable {
        /// The upgrade succeeded: frames follow.
        case switchingProtocols = 101
        /// A malformed request, or a required upgrade field missing or wrong.
        case badRequest = 400
        /// `Origin` missing or not on the configured allow-list.
        case forbidden = 403
        /// A path other than `/v1/ws`.
        case notFound = 404
        /// A method other than `GET`.
        case methodNotAllowed = 405
        /// A WebSocket version other than 13.
        case upgradeRequired = 426
        /// A head over ``WebSocketHandshake/maxHeadBytes``.
        case requestHeaderFieldsTooLarge = 431

        /// The reason phrase of the status line.
        public var reasonPhrase: String {
            switch self {
            case .switchingProtocols: "Switching Protocols"
            case .badRequest: "Bad Request"
            case .forbidden: "Forbidden"
            case .notFound: "Not Found"
            case .methodNotAllowed: "Method Not Allowed"
            case .upgradeRequired: "Upgrade Required"
            case .requestHeaderFieldsTooLarge: "Request Header Fields Too Large"
            }
        }
    }

    /// The relay's answer to one request head.
    public struct Answer: Hashable, Sendable {
        /// The status to answer with.
        public let status: Status
        /// What decided it, in a few words; the body of a refusal.
        public let detail: String
        /// The `Sec-WebSocket-Accept` value of a 101, else `nil`.
        public let accept: String?

        /// Whether the connection now speaks WebSocket frames.
        public var isUpgrade: Bool { status == .switchingProtocols }

        /// The complete HTTP response: status line, fields, and for a refusal its body.
        public var response: [UInt8] {
            var text = "HTTP/1.1 \(status.rawValue) \(status.reasonPhrase)\r\n"
            if let accept {
                text += "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: \(accept)\r\n"
                text += "Sec-WebSocket-Protocol: \(WebSocketHandshake.subprotocol)\r\n\r\n"
                return Array(text.utf8)
            }
            let body = detail + "\n"
            if status == .upgradeRequired { text += "Sec-WebSocket-Version: 13\r\n" }
            if status == .methodNotAllowed { text += "Allow: GET\r\n" }
            text += "Connection: close\r\nContent-Type: text/plain\r\nContent-Length: \(body.utf8.count)\r\n\r\n"
            return Array((text + body).utf8)
        }

        /// A refusal the relay decides on its own, beyond the request's checks (a plain upgrade
        /// under `--tls-required` gets ``Status/forbidden``); `status` must not be 101.
        public static func refusal(_ status: Status, _ detail: String) -> Answer {
            precondition(status != .switchingProtocols, "a refusal is not an upgrade")
            return Answer(status, detail)
        }

        /// An answer; `accept` is given exactly for 101.
        init(_ status: Status, _ detail: String, accept: String? = nil) {
            self.status = status
            self.detail = detail
            self.accept = accept
        }
    }

    /// What ``read(_:allowedOrigins:maxHeadBytes:)`` made of the bytes received so far.
    public enum Progress: Hashable, Sendable {
        /// The head has not ended and is still within the bound: wait for more bytes.
        case incomplete
        /// The answer to write. `headLength` bytes were the head (0 for 431); for a 101, any
        /// bytes after them are the client's first frames.
        case answer(Answer, headLength: Int)
    }

    /// Reads a request head from the start of everything received on a connection that began
    /// with an HTTP method, and answers it once it has ended or outgrown the bound.
    ///
    /// - Parameters:
    ///   - received: The bytes received so far; at most `maxHeadBytes + 1` ever need keeping.
    ///   - allowedOrigins: The exact `scheme://host[:port]` strings of `--ws-origin`; empty
    ///     when no allow-list is configured, so any `Origin` (or none) passes.
    ///   - maxHeadBytes: The most bytes a head may take, `\r\n\r\n` included.
    /// - Returns: ``Progress/incomplete``, or the answer and the head's length.
    public static func read(
        _ received: UnsafeRawBufferPointer, allowedOrigins: [String], maxHeadBytes: Int = maxHeadBytes
    ) -> Progress {
        guard let end = HTTPRequestHead.headEnd(in: received, maxBytes: maxHeadBytes) else {
            guard received.count > maxHeadBytes else { return .incomplete }
            return .answer(Answer(.requestHeaderFieldsTooLarge, "request head over \(maxHeadBytes) bytes"), headLength: 0)
        }
        let head = UnsafeRawBufferPointer(rebasing: received[..<(end + 4)])
        return .answer(answer(head: head, allowedOrigins: allowedOrigins), headLength: end + 4)
    }

    /// Reads a request head from an array, as the raw-buffer overload does.
    public static func read(_ received: [UInt8], allowedOrigins: [String], maxHeadBytes: Int = maxHeadBytes) -> Progress {
        received.withUnsafeBytes { read($0, allowedOrigins: allowedOrigins, maxHeadBytes: maxHeadBytes) }
    }

    /// Answers one complete request head (its size already checked).
    ///
    /// - Parameters:
    ///   - head: Exactly the head: request line, field lines and the final `\r\n\r\n`.
    ///   - allowedOrigins: The `--ws-origin` allow-list; empty for none.
    /// - Returns: The first failing check's answer, or 101 with its accept value.
    public static func answer(head: UnsafeRawBufferPointer, allowedOrigins: [String]) -> Answer {
        guard let line = requestLine(head) else {
            return Answer(.badRequest, "the request line is not <method> <target> HTTP/1.1")
        }
        guard line.method == "GET" else { return Answer(.methodNotAllowed, "only GET upgrades to a WebSocket") }
        guard line.target.prefix(while: { $0 != "?" }) == path else {
            return Answer(.notFound, "the WebSocket is at \(path)")
        }
        // A malformed field line is "anything else" in §7's order: Origin and the version are
        // judged first, from the lines that are well-formed.
        let (fields, isWellFormed) = HTTPHeaderFields.readLines(head)
        if !allowedOrigins.isEmpty {
            let origins = fields.values("origin")
            guard origins.count == 1, allowedOrigins.contains(origins[0]) else {
                return Answer(.forbidden, "origin not allowed")
            }
        }
        let versions = fields.values("sec-websocket-version")
        if versions.count == 1, versions[0] != "13" {
            return Answer(.upgradeRequired, "only WebSocket version 13 is supported")
        }
        guard isWellFormed else { return Answer(.badRequest, "malformed header field") }
        guard fields.values("host").count == 1 else { return Answer(.badRequest, "exactly one Host field is required") }
        let upgrades = fields.values("upgrade")
        guard upgrades.count == 1, fields.containsToken("upgrade", "websocket") else {
            return Answer(.badRequest, "Upgrade: websocket is required")
        }
        guard fields.containsToken("connection", "upgrade") else {
            return Answer(.badRequest, "Connection: Upgrade is required")
        }
        guard versions.count == 1 else { return Answer(.badRequest, "exactly one Sec-WebSocket-Version: 13 is required") }
        let keys = fields.values("sec-websocket-key")
        guard keys.count == 1, let key = Base64.decode(Array(keys[0].utf8)), key.count == 16 else {
            return Answer(.badRequest, "Sec-WebSocket-Key must be 16 bytes in base64")
        }
        guard fields.tokens("sec-websocket-protocol").contains(Substring(subprotocol)) else {
            return Answer(.badRequest, "the subprotocol \(subprotocol) must be offered")
        }
        return Answer(.switchingProtocols, "switching to WebSocket", accept: accept(forKey: keys[0]))
    }

    /// Answers one complete request head held in an array, as the raw-buffer overload does.
    public static func answer(head: [UInt8], allowedOrigins: [String]) -> Answer {
        head.withUnsafeBytes { answer(head: $0, allowedOrigins: allowedOrigins) }
    }

    /// The answer to a head that outgrew the bound, for a caller that tracks the size itself.
    public static var tooLargeAnswer: Answer {
        Answer(.requestHeaderFieldsTooLarge, "request head over \(maxHeadBytes) bytes")
    }

    /// `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key`: base64(SHA-1(key + GUID)), RFC 6455 §4.2.2.
    public static func accept(forKey key: String) -> String {
        Base64.encode(SHA1.digest(Array((key + acceptGUID).utf8)))
    }

    /// The request line's method and target when it is exactly `<method> <target> HTTP/1.1`:
    /// a token method, a target of visible ASCII, single spaces.
    private static func requestLine(_ head: UnsafeRawBufferPointer) -> (method: String, target: String)? {
        guard let end = head.firstIndex(of: 13), end + 1 < head.count, head[end + 1] == 10 else { return nil }
        let parts = head[..<end].split(separator: 0x20, maxSplits: 3, omittingEmptySubsequences: false)
        guard parts.count == 3,
            !parts[0].isEmpty, parts[0].allSatisfy(HTTPHeaderFields.isTokenCharacter),
            !parts[1].isEmpty, parts[1].allSatisfy({ $0 > 0x20 && $0 < 0x7F }),
            parts[2].elementsEqual("HTTP/1.1".utf8)
        else { return nil }
        return (String(decoding: parts[0], as: UTF8.self), String(decoding: parts[1], as: UTF8.self))
    }
}
