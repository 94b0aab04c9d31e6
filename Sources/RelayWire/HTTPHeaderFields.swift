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
        let read = readLines(head)
        return read.isWellFormed ? read.fields : nil
    }

    /// Reads the field lines of a head as ``parse(_:)`` does, but keeps the well-formed ones when
    /// others break the rules, so a caller can run checks that come before "the head is
    /// malformed" in its order (PROTOCOL.md §7 answers a disallowed `Origin` with 403 and another
    /// WebSocket version with 426 before anything else is judged).
    ///
    /// - Parameter head: A whole head, as for ``parse(_:)``.
    /// - Returns: The well-formed field lines, and whether every line was well-formed and the
    ///   head ended with its empty line.
    public static func readLines(_ head: UnsafeRawBufferPointer) -> (fields: HTTPHeaderFields, isWellFormed: Bool) {
        let count = head.count
        var fields: [Field] = []
        var isWellFormed = true
        // The end of the line starting at `start`: the index of its `\r\n`, or nil.
        func lineEnd(from start: Int) -> Int? {
            var index = start
            while index + 1 < count {
                if head[index] == 13, head[index + 1] == 10 { return index }
                index += 1
            }
            return nil
        }
        // Skip the start line; the caller judged it.
        guard let startLineEnd = lineEnd(from: 0) else { return (HTTPHeaderFields(fields: []), false) }
        // A bare `\r` in the start line is malformed too.
        if head[..<startLineEnd].contains(13) { isWellFormed = false }
        var index = startLineEnd + 2
        while true {
            guard let end = lineEnd(from: index) else { return (HTTPHeaderFields(fields: fields), false) }
            if end == index {
                // The empty line: it must be the end of the head.
                return (HTTPHeaderFields(fields: fields), isWellFormed && end + 2 == count)
            }
            if let field = field(UnsafeRawBufferPointer(rebasing: head[index..<end])) {
                fields.append(field)
            } else {
                isWellFormed = false
            }
            index = end + 2
        }
    }

    /// One field line without its `\r\n`, or nil when it breaks the rules (a line starting with
    /// whitespace continues the one before it, obs-fold, which is refused).
    private static func field(_ line: UnsafeRawBufferPointer) -> Field? {
        let count = line.count
        var index = 0
        while index < count, isTokenCharacter(line[index]) { index += 1 }
        guard index > 0, index < count, line[index] == UInt8(ascii: ":") else { return nil }
        let name = String(decoding: UnsafeRawBufferPointer(rebasing: line[..<index]), as: UTF8.self).lowercased()
        var valueStart = index + 1
        var valueEnd = count
        guard line[valueStart...].allSatisfy(isValueCharacter) else { return nil }
        while valueStart < valueEnd, isWhitespace(line[valueStart]) { valueStart += 1 }
        while valueEnd > valueStart, isWhitespace(line[valueEnd - 1]) { valueEnd -= 1 }
        var value = String.UnicodeScalarView()
        for byte in line[valueStart..<valueEnd] { value.append(Unicode.Scalar(byte)) }
        return Field(name: name, value: String(value))
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
