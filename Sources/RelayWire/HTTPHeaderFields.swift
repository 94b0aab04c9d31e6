/// The header fields of an HTTP/1.1 head (RFC 7230 §3.2), read strictly from untrusted bytes
/// for the WebSocket handshake.
///
/// Each field line is a token name, `:` with nothing before it, optional whitespace, and a value
/// of visible characters, spaces, tabs and bytes 0x80–0xFF (kept as U+0080–U+00FF, so a value
/// reads one way only); lines end with `\r\n`. Folded lines (obs-fold), bare `\r` or `\n`, NUL
/// and other control characters make the whole head malformed. Repeated fields are kept in
/// order; ``values(_:)`` returns all of them, and ``tokens(_:)`` reads a comma-separated list
/// across them, as a recipient combining them would (§3.2.2).
public struct HTTPHeaderFields: Hashable, Sendable {
    /// One field line: its name lowercased, since names are case-insensitive, and its value
    /// without surrounding whitespace.
    public struct Field: Hashable, Sendable {
        /// The field name in lowercase.
        public let name: String
        /// The field value, leading and trailing spaces and tabs removed.
        public let value: String
    }

    /// Every field line, in the order received.
    public let fields: [Field]

    /// Reads the field lines of a head: everything after its start line's `\r\n`, through the
    /// empty line that ends it.
    ///
    /// - Parameter head: A whole head — a start line, field lines, and the final `\r\n\r\n` — as
    ///   cut by ``HTTPRequestHead/headEnd(in:maxBytes:)``.
    /// - Returns: The fields, or `nil` if any line breaks the rules above or the head does not
    ///   end with an empty line.
    public static func parse(_ head: UnsafeRawBufferPointer) -> HTTPHeaderFields? {
        let count = head.count
        // Skip the start line, which ends at its first `\r`; a bare one is malformed.
        var index = 0
        while index < count, head[index] != 13 { index += 1 }
        guard index + 1 < count, head[index + 1] == 10 else { return nil }
        index += 2
        var fields: [Field] = []
        while true {
            guard index + 1 < count else { return nil }
            if head[index] == 13 && head[index + 1] == 10 {
                // The empty line: it must be the end of the head.
                return index + 2 == count ? HTTPHeaderFields(fields: fields) : nil
            }
            let nameStart = index
            while index < count, isTokenCharacter(head[index]) { index += 1 }
            guard index > nameStart, index < count, head[index] == UInt8(ascii: ":") else { return nil }
            let name = String(decoding: UnsafeRawBufferPointer(rebasing: head[nameStart..<index]), as: UTF8.self).lowercased()
            index += 1
            var valueStart = index
            while index < count, head[index] != 13 {
                guard isValueCharacter(head[index]) else { return nil }
                index += 1
            }
            guard index + 1 < count, head[index + 1] == 10 else { return nil }
            var valueEnd = index
            while valueStart < valueEnd, isWhitespace(head[valueStart]) { valueStart += 1 }
            while valueEnd > valueStart, isWhitespace(head[valueEnd - 1]) { valueEnd -= 1 }
            var value = String.UnicodeScalarView()
            for byte in head[valueStart..<valueEnd] { value.append(Unicode.Scalar(byte)) }
            fields.append(Field(name: name, value: String(value)))
            index += 2
            // A line starting with whitespace would continue this one (obs-fold): refused.
            guard index < count, !isWhitespace(head[index]) else { return nil }
        }
    }

    /// Reads the field lines of a head held in an array, as the raw-buffer overload does.
    public static func parse(_ head: [UInt8]) -> HTTPHeaderFields? {
        head.withUnsafeBytes { parse($0) }
    }

    /// The values of every field named `name` (any case), in order; empty if there is none.
    public func values(_ name: String) -> [String] {
        let name = name.lowercased()
        return fields.filter { $0.name == name }.map(\.value)
    }

    /// The elements of a comma-separated list carried by every field named `name`, in order,
    /// without surrounding whitespace and without empty elements.
    public func tokens(_ name: String) -> [Substring] {
        values(name).flatMap { value in
            value.split(separator: ",", omittingEmptySubsequences: false)
                .map { $0.trimmingWhitespace() }
                .filter { !$0.isEmpty }
        }
    }

    /// Whether a comma-separated list field holds `token`, compared without regard to ASCII case.
    public func containsToken(_ name: String, _ token: String) -> Bool {
        let token = token.lowercased()
        return tokens(name).contains { $0.lowercased() == token }
    }

    /// `tchar` of RFC 7230 §3.2.6: letters, digits and ``!#$%&'*+-.^_`|~``.
    static func isTokenCharacter(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        default:
            return Array("!#$%&'*+-.^_`|~".utf8).contains(byte)
        }
    }

    private static func isValueCharacter(_ byte: UInt8) -> Bool {
        byte == 9 || (byte >= 0x20 && byte != 0x7F)
    }

    private static func isWhitespace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 9
    }
}

extension Substring {
    /// The substring without leading and trailing spaces and tabs (HTTP's optional whitespace).
    fileprivate func trimmingWhitespace() -> Substring {
        var result = self
        while let first = result.first, first == " " || first == "\t" { result.removeFirst() }
        while let last = result.last, last == " " || last == "\t" { result.removeLast() }
        return result
    }
}
