import RelayServer

/// Checks `HTTPResponse.parse(_:isComplete:limit:)`, the reader of the Agones SDK gateway's
/// answers, for any bytes, split and bound.
///
/// Input: one selector byte (its low bit: the peer has closed; its upper bits pick a limit of
/// 64 KiB or a small one, so the bound is reached often), a second byte that, when the input is
/// long enough, splits the bytes into what arrived first and what came after, then the bytes.
/// Inputs starting `0xFF 0xFF` instead build a chunked response from the rest (chunk sizes, then
/// data) and check it reads back.
///
/// Invariants: the outcome is deterministic; a parsed response has a status of 100…999 and a
/// body within the limit; a response complete from its first bytes stays the same response
/// with more bytes (its framing ended it), and an invalid one stays invalid; a complete
/// response needs no close unless its body runs to the close; and chunked framing of any body
/// reads back as that body.
///
/// - Throws: ``FuzzFailure`` when an invariant does not hold.
public func fuzzHTTPResponse(_ data: [UInt8]) throws(FuzzFailure) {
    if data.count >= 2, data[0] == 0xFF, data[1] == 0xFF { return try checkChunked(Array(data.dropFirst(2))) }
    var input = FuzzInput(data)
    let selector = input.byte() ?? 0
    let split = Int(input.byte() ?? 0)
    let isComplete = selector & 1 == 1
    let limit = selector & 0x80 == 0 ? 64 << 10 : Int(selector >> 1 & 0x3F) * 16
    let bytes = Array(input.rest())
    let parsed = HTTPResponse.parse(bytes, isComplete: isComplete, limit: limit)
    try check(HTTPResponse.parse(bytes, isComplete: isComplete, limit: limit) == parsed, "not deterministic")
    if case .done(let response) = parsed {
        try check((100...999).contains(response.status), "status \(response.status)")
        try check(response.body.count <= limit, "a \(response.body.count)-byte body over the \(limit)-byte limit")
    }
    // What arrived first, before the rest: once framed, more bytes change nothing.
    let first = Array(bytes.prefix(split))
    switch HTTPResponse.parse(first, isComplete: false, limit: limit) {
    case .done(let early):
        try check(parsed == .done(early) || bytes.count > limit, "a complete response changed with more bytes: \(early) then \(parsed)")
    case .invalid(let reason):
        if case .done = HTTPResponse.parse(bytes, isComplete: false, limit: limit) {
            throw FuzzFailure("invalid from its first \(first.count) bytes (\(reason)), then complete")
        }
    case .needMore:
        break
    }
    // A response complete without the close is complete with it too, and the same.
    if !isComplete, case .done(let open) = parsed {
        try check(HTTPResponse.parse(bytes, isComplete: true, limit: limit) == .done(open), "the close changed a complete response")
    }
}

/// A chunked response built from `data` (each chunk: a size byte, then that many data bytes)
/// reads back as the concatenated data, however the chunk-size lines are cased.
private func checkChunked(_ data: [UInt8]) throws(FuzzFailure) {
    var input = FuzzInput(data)
    var body: [UInt8] = []
    var wire = Array("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".utf8)
    while let size = input.byte(), size > 0 {
        let chunk = Array(input.take(Int(size)))
        guard !chunk.isEmpty else { break }
        body += chunk
        wire += Array(String(chunk.count, radix: 16, uppercase: size & 1 == 1).utf8) + [13, 10] + chunk + [13, 10]
    }
    wire += Array("0\r\n\r\n".utf8)
    let parsed = HTTPResponse.parse(wire, isComplete: false)
    try check(parsed == .done(HTTPResponse(status: 200, body: body)), "chunked \(body.count) bytes read back as \(parsed)")
}
