extension WebSocketHandshake {
    /// What the first bytes of a control-port connection say about its protocol.
    public enum Sniff: Hashable, Sendable {
        /// Every byte so far is a prefix of a method and a space: wait for more (at most 8 bytes).
        case undecided
        /// The connection starts with an HTTP method and a space: read an upgrade request head.
        case http
        /// Anything else: the plain control channel (JSON messages, or Flash's policy request).
        case notHTTP
    }

    /// The methods PROTOCOL.md §7 recognises at the start of a connection, each followed by a space.
    public static let sniffedMethods = ["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"]

    /// Decides from the first bytes of a connection whether it is an HTTP request (§7).
    ///
    /// No JSON message or policy request starts with an upper-case letter, so the answer is
    /// never ambiguous; it is final once it is not ``Sniff/undecided``.
    ///
    /// - Parameter prefix: The bytes received so far, from the connection's start.
    public static func sniff(_ prefix: UnsafeRawBufferPointer) -> Sniff {
        var undecided = false
        for method in sniffedMethods {
            let expected = Array(method.utf8) + [0x20]
            let count = min(prefix.count, expected.count)
            guard prefix.prefix(count).elementsEqual(expected.prefix(count)) else { continue }
            if count == expected.count { return .http }
            undecided = true
        }
        return undecided ? .undecided : .notHTTP
    }

    /// Decides from the first bytes of a connection held in an array, as the raw-buffer overload does.
    public static func sniff(_ prefix: [UInt8]) -> Sniff {
        prefix.withUnsafeBytes { sniff($0) }
    }
}
