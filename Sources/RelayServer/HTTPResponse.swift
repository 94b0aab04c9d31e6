/// An HTTP/1.1 response as the relay's small SDK client reads it: the status code and the body,
/// framed by `Content-Length`, `Transfer-Encoding: chunked`, or the end of the connection.
///
/// Pure and bounded: ``parse(_:isComplete:limit:)`` looks at the bytes received so far and says
/// whether more are needed, so a peer that sends too much or nonsense gets an error, never more memory.
public struct HTTPResponse: Hashable, Sendable {
    /// The status code, 100…999.
    public var status: Int
    /// The body, after chunked framing is removed.
    public var body: [UInt8]

    /// Creates a response.
    public init(status: Int, body: [UInt8]) {
        self.status = status
        self.body = body
    }

    /// The outcome of looking at the bytes received so far.
    public enum Parse: Hashable, Sendable {
        /// The response is not complete yet.
        case needMore
        /// A whole response.
        case done(HTTPResponse)
        /// Not HTTP/1.x, a framing error, or over the size limit; the text says which.
        case invalid(String)
    }

    /// The largest head (status line and headers) accepted.
    public static let maxHeadBytes = 16 << 10

    /// Parses `bytes`, everything the connection brought so far.
    ///
    /// - Parameters:
    ///   - isComplete: Whether the peer has closed, which ends a body without other framing.
    ///   - limit: The most bytes a whole response may take, head included.
    /// - Returns: ``Parse/needMore`` until a whole response is there.
    public static func parse(_ bytes: [UInt8], isComplete: Bool, limit: Int = 64 << 10) -> Parse {
        if bytes.count > limit { return .invalid("the response exceeds \(limit) bytes") }
        guard let headEnd = find(crlfcrlf, in: bytes, from: 0) else {
            if bytes.count > maxHeadBytes { return .invalid("the response head exceeds \(maxHeadBytes) bytes") }
            return isComplete ? .invalid("the connection closed inside the response head") : .needMore
        }
        let lines = split(Array(bytes[..<headEnd]))
        guard let statusLine = lines.first else { return .invalid("no status line") }
        // "HTTP/1.1 200 OK": the version, one space, three digits, then a space or the end.
        guard statusLine.count >= 12, Array(statusLine[0..<7]) == Array("HTTP/1.".utf8),
              statusLine[7] == UInt8(ascii: "0") || statusLine[7] == UInt8(ascii: "1"),
              statusLine[8] == UInt8(ascii: " "),
              statusLine[9...11].allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
              statusLine[9] != UInt8(ascii: "0"),
              statusLine.count == 12 || statusLine[12] == UInt8(ascii: " ") else {
            return .invalid("not an HTTP/1.x status line")
        }
        let status = statusLine[9...11].reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
        var contentLength: Int?
        var chunked = false
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")), colon > line.startIndex else { return .invalid("a header line without a name") }
            let name = String(decoding: line[..<colon], as: UTF8.self).lowercased()
            let value = String(decoding: line[(colon + 1)...], as: UTF8.self).trimmingASCIIWhitespace()
            switch name {
            case "content-length":
                guard !value.isEmpty, value.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }), value.utf8.count <= 9, let length = Int(value) else {
                    return .invalid("a bad Content-Length")
                }
                if let contentLength, contentLength != length { return .invalid("two different Content-Lengths") }
                contentLength = length
            case "transfer-encoding":
                guard value.lowercased() == "chunked" else { return .invalid("an unsupported Transfer-Encoding") }
                chunked = true
            default:
                break
            }
        }
        let bodyStart = headEnd + 4
        // 1xx, 204 and 304 have no body, whatever the headers say.
        if status < 200 || status == 204 || status == 304 {
            return .done(HTTPResponse(status: status, body: []))
        }
        if chunked {
            if contentLength != nil { return .invalid("both Content-Length and chunked") }
            return dechunk(bytes, from: bodyStart, isComplete: isComplete, status: status)
        }
        if let contentLength {
            if bodyStart + contentLength > limit { return .invalid("the response exceeds \(limit) bytes") }
            guard bytes.count >= bodyStart + contentLength else {
                return isComplete ? .invalid("the connection closed inside the body") : .needMore
            }
            return .done(HTTPResponse(status: status, body: Array(bytes[bodyStart..<(bodyStart + contentLength)])))
        }
        return isComplete ? .done(HTTPResponse(status: status, body: Array(bytes[bodyStart...]))) : .needMore
    }

    private static let crlf: [UInt8] = [13, 10]
    private static let crlfcrlf: [UInt8] = [13, 10, 13, 10]

    private static func dechunk(_ bytes: [UInt8], from start: Int, isComplete: Bool, status: Int) -> Parse {
        var body: [UInt8] = []
        var index = start
        let more: Parse = isComplete ? .invalid("the connection closed inside a chunk") : .needMore
        while true {
            guard let lineEnd = find(crlf, in: bytes, from: index) else { return more }
            // The size in hex, maybe followed by ";extension".
            var size = 0
            var digits = 0
            for byte in bytes[index..<lineEnd] {
                guard let digit = hexValue(byte) else {
                    if digits > 0, byte == UInt8(ascii: ";") || byte == UInt8(ascii: " ") { break }
                    return .invalid("a bad chunk size")
                }
                digits += 1
                guard digits <= 7 else { return .invalid("a chunk over the size limit") }
                size = size * 16 + digit
            }
            guard digits > 0 else { return .invalid("a bad chunk size") }
            index = lineEnd + 2
            if size == 0 {
                // Trailer lines, if any, then the empty line that ends the message.
                while true {
                    guard let end = find(crlf, in: bytes, from: index) else { return more }
                    if end == index { return .done(HTTPResponse(status: status, body: body)) }
                    index = end + 2
                }
            }
            guard bytes.count >= index + size + 2 else { return more }
            guard bytes[index + size] == 13, bytes[index + size + 1] == 10 else { return .invalid("a chunk without its CRLF") }
            body.append(contentsOf: bytes[index..<(index + size)])
            index += size + 2
        }
    }

    private static func hexValue(_ byte: UInt8) -> Int? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): Int(byte - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): Int(byte - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): Int(byte - UInt8(ascii: "A") + 10)
        default: nil
        }
    }

    private static func find(_ needle: [UInt8], in bytes: [UInt8], from start: Int) -> Int? {
        guard bytes.count >= needle.count, start <= bytes.count - needle.count else { return nil }
        var index = start
        while index <= bytes.count - needle.count {
            if bytes[index] == needle[0], Array(bytes[index..<(index + needle.count)]) == needle { return index }
            index += 1
        }
        return nil
    }

    private static func split(_ head: [UInt8]) -> [ArraySlice<UInt8>] {
        var lines: [ArraySlice<UInt8>] = []
        var start = 0
        var index = 0
        while index + 1 < head.count {
            if head[index] == 13, head[index + 1] == 10 {
                lines.append(head[start..<index])
                index += 2
                start = index
            } else {
                index += 1
            }
        }
        lines.append(head[start...])
        return lines
    }
}

extension String {
    /// The text without leading and trailing spaces and tabs.
    func trimmingASCIIWhitespace() -> String {
        let scalars = unicodeScalars
        guard let first = scalars.firstIndex(where: { $0 != " " && $0 != "\t" }),
              let last = scalars.lastIndex(where: { $0 != " " && $0 != "\t" }) else { return "" }
        return String(scalars[first...last])
    }
}
