/// The request line of an HTTP/1.x request head, read from untrusted bytes for the relay's
/// operator endpoints (`/metrics`, `/healthz`, `/readyz`).
///
/// Pure and bounded, so the socket code only buffers and answers: the head must end (with the
/// empty line, `\r\n\r\n`) within a fixed number of bytes, and is read once it has. The request
/// line is everything before the head's first `\r`; it must be exactly three fields separated
/// by single spaces, each well-formed UTF-8, the target starting with `/` and the version with
/// `HTTP/1.`. Header fields are not interpreted. Every comparison is on bytes, so no two
/// readers can see one request line two ways.
public struct HTTPRequestHead: Hashable, Sendable {
    /// What ``parse(_:maxBytes:)`` found in the bytes received so far.
    public enum Parse: Hashable, Sendable {
        /// No end of head yet, and no more than `maxBytes` received: wait for more.
        case incomplete
        /// More than `maxBytes` received without an end of head within the first `maxBytes`.
        case tooLarge
        /// The head ended, but its request line is not `<method> <target> HTTP/1.<x>`.
        case malformed
        /// The head ended within `maxBytes` and its request line is well formed.
        case complete(HTTPRequestHead)
    }

    /// The method, e.g. `GET`; any field without a space or `\r`, possibly empty.
    public let method: String
    /// The request target as sent: a path starting with `/` and an optional `?query`.
    public let target: String
    /// The protocol version field, starting with `HTTP/1.`.
    public let version: String
    /// The bytes the head takes, its final `\r\n\r\n` included; anything after it is a body.
    public let length: Int

    /// The end of head.
    private static let terminator: [UInt8] = [13, 10, 13, 10]
    /// What the version field must start with.
    private static let versionPrefix = Array("HTTP/1.".utf8)

    /// The target before its first `?`: the path the endpoints route on.
    public var path: String {
        String(decoding: target.utf8.prefix { $0 != UInt8(ascii: "?") }, as: UTF8.self)
    }

    /// Reads the head at the start of `bytes`, everything a peer has sent so far.
    ///
    /// - Parameters:
    ///   - bytes: The received bytes from the start of the request; at most `maxBytes + 1` of them
    ///     ever need to be kept, since one more tells ``Parse/tooLarge``.
    ///   - maxBytes: The most bytes a head may take, its final `\r\n\r\n` included.
    /// - Returns: ``Parse/complete(_:)`` or ``Parse/malformed`` once the head has ended within
    ///   `maxBytes`, else ``Parse/tooLarge`` once more than `maxBytes` bytes are in, else
    ///   ``Parse/incomplete``.
    public static func parse(_ bytes: UnsafeRawBufferPointer, maxBytes: Int) -> Parse {
        guard let end = headEnd(in: bytes, maxBytes: maxBytes) else {
            return bytes.count > maxBytes ? .tooLarge : .incomplete
        }
        // The head's last `\r` bounds the search, so the request line always ends.
        var lineEnd = 0
        while bytes[lineEnd] != 13 { lineEnd += 1 }
        let line = UnsafeRawBufferPointer(rebasing: bytes[..<lineEnd])
        let fields = line.split(separator: UInt8(ascii: " "), maxSplits: 3, omittingEmptySubsequences: false)
        guard fields.count == 3,
            let method = String(validating: fields[0], as: UTF8.self),
            let target = String(validating: fields[1], as: UTF8.self),
            let version = String(validating: fields[2], as: UTF8.self),
            fields[1].first == UInt8(ascii: "/"),
            fields[2].starts(with: versionPrefix)
        else { return .malformed }
        return .complete(HTTPRequestHead(method: method, target: target, version: version, length: end + terminator.count))
    }

    /// Reads the head at the start of an array, as the raw-buffer overload does.
    public static func parse(_ bytes: [UInt8], maxBytes: Int) -> Parse {
        bytes.withUnsafeBytes { parse($0, maxBytes: maxBytes) }
    }

    /// The offset of the first `\r\n\r\n` that ends within the first `maxBytes` bytes.
    ///
    /// - Returns: The offset of its first byte, or `nil` if there is none.
    public static func headEnd(in bytes: UnsafeRawBufferPointer, maxBytes: Int) -> Int? {
        let limit = min(bytes.count, max(maxBytes, 0))
        guard limit >= terminator.count else { return nil }
        for index in 0...(limit - terminator.count)
        where bytes[index] == 13 && bytes[index + 1] == 10 && bytes[index + 2] == 13 && bytes[index + 3] == 10 {
            return index
        }
        return nil
    }
}
