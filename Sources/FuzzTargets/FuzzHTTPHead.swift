import RelayWire

/// Checks `HTTPRequestHead.parse(_:maxBytes:)`, the `/metrics` endpoint's request-head reader,
/// for any bytes and bound.
///
/// Input: one selector byte (below 0x80: the endpoint's bound of 8192 bytes; else a bound of
/// 0…127 bytes, so the boundary is reached often), then the bytes received.
///
/// Invariants: the outcome is decided by the first `\r\n\r\n` ending within the bound, as
/// written; a complete head's fields are the request line's three space-separated fields, each
/// free of spaces and `\r`, with the target starting `/` and the version `HTTP/1.`; a malformed
/// one is not; the path is the target before its first `?`; nothing past `maxBytes + 1` bytes
/// changes the outcome (the endpoint keeps no more), and a complete head reads the same from
/// exactly its own bytes and is incomplete one byte short.
///
/// - Throws: ``FuzzFailure`` when an invariant does not hold.
public func fuzzHTTPHead(_ data: [UInt8]) throws(FuzzFailure) {
    var input = FuzzInput(data)
    let selector = input.byte() ?? 0
    let maxBytes = selector < 0x80 ? 8192 : Int(selector & 0x7F)
    let bytes = Array(input.rest())
    let parsed = HTTPRequestHead.parse(bytes, maxBytes: maxBytes)

    let kept = Array(bytes.prefix(maxBytes + 1))
    try check(HTTPRequestHead.parse(kept, maxBytes: maxBytes) == parsed, "bytes past maxBytes + 1 changed the outcome")

    let limit = min(bytes.count, maxBytes)
    let end = limit < 4 ? nil : (0...(limit - 4)).first {
        bytes[$0] == 13 && bytes[$0 + 1] == 10 && bytes[$0 + 2] == 13 && bytes[$0 + 3] == 10
    }
    switch parsed {
    case .incomplete:
        try check(end == nil && bytes.count <= maxBytes, "incomplete, yet the head ended or the bound was passed")
    case .tooLarge:
        try check(end == nil && bytes.count > maxBytes, "too large, yet the head ended within the bound")
    case .malformed:
        guard let end else { throw FuzzFailure("malformed without an end of head") }
        try check(requestLine(Array(bytes[..<end])) == nil, "a well-formed request line was called malformed")
    case .complete(let head):
        guard let end else { throw FuzzFailure("complete without an end of head") }
        try check(head.length == end + 4 && head.length <= maxBytes, "head length \(head.length) for an end at \(end)")
        guard let fields = requestLine(Array(bytes[..<end])) else {
            throw FuzzFailure("a malformed request line was accepted: \(head)")
        }
        try check(Array(head.method.utf8) == fields[0] && Array(head.target.utf8) == fields[1]
                      && Array(head.version.utf8) == fields[2], "the fields are not the request line's")
        let path = Array(head.path.utf8)
        try check(!path.contains(UInt8(ascii: "?")) && fields[1].starts(with: path)
                      && (path.count == fields[1].count || fields[1][path.count] == UInt8(ascii: "?")),
                  "the path \(head.path) is not the target \(head.target) before its first '?'")
        try check(HTTPRequestHead.parse(Array(bytes[..<head.length]), maxBytes: maxBytes) == parsed,
                  "the head reads differently from exactly its own bytes")
        try check(HTTPRequestHead.parse(Array(bytes[..<(head.length - 1)]), maxBytes: maxBytes) == .incomplete,
                  "one byte short of its end, the head is not incomplete")
    }
}

/// The request line's fields when it is `<method> <target> HTTP/1.<rest>` as the endpoint reads
/// it (everything before the head's first `\r`, three fields of valid UTF-8), else `nil`.
private func requestLine(_ head: [UInt8]) -> [[UInt8]]? {
    let line = head.prefix { $0 != 13 }
    var fields: [[UInt8]] = [[]]
    for byte in line {
        if byte == 0x20 { fields.append([]) } else { fields[fields.count - 1].append(byte) }
    }
    guard fields.count == 3,
        fields.allSatisfy({ String(validating: $0, as: UTF8.self) != nil }),
        fields[1].first == UInt8(ascii: "/"),
        fields[2].starts(with: Array("HTTP/1.".utf8))
    else { return nil }
    return fields
}
