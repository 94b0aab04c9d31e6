import RelayWire

/// Checks `WebSocketHandshake`, the relay's answer to a WebSocket upgrade request (PROTOCOL.md
/// §7), for any head bytes.
///
/// Input: a flags byte (bit 0: an `--ws-origin` allow-list of `https://game.example` and
/// `http://localhost:8080` is configured; bit 1: a head bound of 0…127 bytes taken from the
/// next byte instead of 8192), then the bytes received.
///
/// Invariants: sniffing the first bytes decides once and for good — an HTTP method and a space
/// make `.http`, anything that can't become one `.notHTTP`, and at most 8 bytes stay undecided;
/// the answer never changes for the same bytes, nor for bytes past the head; its
/// status is the first failing check of §7's order, as a separate, line-by-line reading of the
/// head decides it; 101 comes only when every condition holds, with an accept value a client
/// verifies; every refusal has `Connection: close`, `Content-Type: text/plain` and a
/// `Content-Length` matching its body, 426 names version 13.
///
/// - Throws: ``FuzzFailure`` when an invariant does not hold.
public func fuzzWebSocketHandshake(_ data: [UInt8]) throws(FuzzFailure) {
    var input = FuzzInput(data)
    let flags = input.byte() ?? 0
    let origins = flags & 1 == 0 ? [] : ["https://game.example", "http://localhost:8080"]
    let maxHead = flags & 2 == 0 ? 8192 : Int((input.byte() ?? 0) & 0x7F)
    let bytes = Array(input.rest())
    try checkSniff(bytes)

    let progress = WebSocketHandshake.read(bytes, allowedOrigins: origins, maxHeadBytes: maxHead)
    try check(WebSocketHandshake.read(bytes, allowedOrigins: origins, maxHeadBytes: maxHead) == progress, "not deterministic")
    try check(WebSocketHandshake.read(Array(bytes.prefix(maxHead + 1)), allowedOrigins: origins, maxHeadBytes: maxHead) == progress,
              "bytes past maxHeadBytes + 1 changed the answer")
    let end = headEnd(bytes, limit: maxHead)
    guard case .answer(let answer, let length) = progress else {
        try check(end == nil && bytes.count <= maxHead, "incomplete, yet the head ended or outgrew the bound")
        return
    }
    guard let end else {
        try check(answer.status == .requestHeaderFieldsTooLarge && length == 0 && bytes.count > maxHead, "no head, yet \(answer.status)")
        try checkResponse(answer)
        return
    }
    try check(length == end + 4, "head length \(length) for an end at \(end)")
    let head = Array(bytes[..<length])
    try check(WebSocketHandshake.answer(head: head, allowedOrigins: origins) == answer, "the head alone answers differently")
    let expected = referenceStatus(head, origins: origins)
    try check(answer.status.rawValue == expected.status, "answered \(answer.status.rawValue), the reference says \(expected.status)")
    try checkResponse(answer)
    if answer.isUpgrade {
        guard let key = expected.key else { throw FuzzFailure("101 without a key") }
        let response = answer.response
        try check(WebSocketClientHandshake.verify(head: response, key: key) == .accepted, "a client refuses the 101")
    }
}

/// Sniffs every prefix of the first 10 bytes, as a connection delivering them one at a time would.
private func checkSniff(_ bytes: [UInt8]) throws(FuzzFailure) {
    var decided: WebSocketHandshake.Sniff?
    for count in 0...min(bytes.count, 10) {
        let prefix = Array(bytes.prefix(count))
        let verdict = WebSocketHandshake.sniff(prefix)
        if let decided {
            try check(verdict == decided, "sniffing changed its mind at \(count) bytes: \(decided) then \(verdict)")
            continue
        }
        let isMethod = WebSocketHandshake.sniffedMethods.contains { prefix == Array($0.utf8) + [0x20] }
        let couldBe = WebSocketHandshake.sniffedMethods.contains { (Array($0.utf8) + [0x20]).starts(with: prefix) }
        let expected: WebSocketHandshake.Sniff = isMethod ? .http : couldBe ? .undecided : .notHTTP
        try check(verdict == expected, "sniffed \(prefix) as \(verdict), expected \(expected)")
        try check(verdict != .undecided || count <= 8, "still undecided after \(count) bytes")
        if verdict != .undecided { decided = verdict }
    }
}

/// The offset of the first `\r\n\r\n` ending within `limit` bytes.
private func headEnd(_ bytes: [UInt8], limit: Int) -> Int? {
    let limit = min(bytes.count, limit)
    guard limit >= 4 else { return nil }
    return (0...(limit - 4)).first { bytes[$0] == 13 && bytes[$0 + 1] == 10 && bytes[$0 + 2] == 13 && bytes[$0 + 3] == 10 }
}

private func checkResponse(_ answer: WebSocketHandshake.Answer) throws(FuzzFailure) {
    let response = answer.response
    let text = String(decoding: response, as: UTF8.self)
    try check(text.hasPrefix("HTTP/1.1 \(answer.status.rawValue) \(answer.status.reasonPhrase)\r\n"), "bad status line")
    guard let split = headEnd(response, limit: response.count) else { throw FuzzFailure("no end of response head") }
    let head = String(decoding: response[..<split], as: UTF8.self)
    let body = String(decoding: response[(split + 4)...], as: UTF8.self)
    if answer.isUpgrade {
        try check(body.isEmpty && answer.accept != nil && head.contains("\r\nSec-WebSocket-Protocol: gamerelay.v1"), "bad 101")
        try check(!head.contains("Extensions"), "an extension in the 101")
        return
    }
    try check(!body.isEmpty && head.contains("\r\nConnection: close") && head.contains("\r\nContent-Type: text/plain")
                  && head.contains("\r\nContent-Length: \(body.utf8.count)"), "a refusal without its fields or body")
    try check((answer.status == .upgradeRequired) == head.contains("\r\nSec-WebSocket-Version: 13"), "426 and its version field")
}

/// §7's checks read independently: the head split into lines at `\r\n`, each line checked whole.
private func referenceStatus(_ head: [UInt8], origins: [String]) -> (status: Int, key: String?) {
    var lines: [[UInt8]] = [[]]
    var index = 0
    let body = head.dropLast(4)
    let bodyBytes = Array(body)
    while index < bodyBytes.count {
        if index + 1 < bodyBytes.count, bodyBytes[index] == 13, bodyBytes[index + 1] == 10 {
            lines.append([])
            index += 2
        } else {
            lines[lines.count - 1].append(bodyBytes[index])
            index += 1
        }
    }
    let tchar = Set(Array("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ".utf8))
    let requestLine = lines[0]
    let parts = requestLine.split(separator: 0x20, omittingEmptySubsequences: false)
    guard !requestLine.contains(13), parts.count == 3, !parts[0].isEmpty, parts[0].allSatisfy(tchar.contains),
        !parts[1].isEmpty, parts[1].allSatisfy({ (0x21...0x7E).contains($0) }), Array(parts[2]) == Array("HTTP/1.1".utf8)
    else { return (400, nil) }
    guard Array(parts[0]) == Array("GET".utf8) else { return (405, nil) }
    guard Array(parts[1].prefix { $0 != UInt8(ascii: "?") }) == Array("/v1/ws".utf8) else { return (404, nil) }

    // A malformed field line is judged after Origin and the version, from the well-formed ones.
    var fields: [(name: String, value: String)] = []
    var isMalformed = false
    for line in lines.dropFirst() {
        guard let colon = line.firstIndex(of: UInt8(ascii: ":")), colon > 0, line[..<colon].allSatisfy(tchar.contains),
            line[(colon + 1)...].allSatisfy({ $0 == 9 || ($0 >= 0x20 && $0 != 0x7F) })
        else {
            isMalformed = true
            continue
        }
        let name = String(decoding: line[..<colon], as: UTF8.self).lowercased()
        let value = String(line[(colon + 1)...].map { Character(Unicode.Scalar($0)) })
        fields.append((name, value.trimmingCharacters(" \t")))
    }
    func all(_ name: String) -> [String] { fields.filter { $0.name == name }.map(\.value) }
    func list(_ name: String) -> [String] {
        all(name).flatMap { $0.split(separator: ",").map { String($0).trimmingCharacters(" \t") } }
    }
    if !origins.isEmpty, all("origin").count != 1 || !origins.contains(all("origin")[0]) { return (403, nil) }
    let versions = all("sec-websocket-version")
    if versions == versions.filter({ $0 != "13" }), versions.count == 1 { return (426, nil) }
    if isMalformed { return (400, nil) }
    let keys = all("sec-websocket-key")
    let alphabet = Set(Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8))
    guard all("host").count == 1, all("upgrade").count == 1, list("upgrade").contains(where: { $0.lowercased() == "websocket" }),
        list("connection").contains(where: { $0.lowercased() == "upgrade" }), versions == ["13"], keys.count == 1,
        keys[0].utf8.count == 24, keys[0].hasSuffix("=="), keys[0].utf8.prefix(22).allSatisfy(alphabet.contains),
        list("sec-websocket-protocol").contains("gamerelay.v1")
    else { return (400, nil) }
    return (101, keys[0])
}

extension String {
    /// The string without the given characters at either end.
    fileprivate func trimmingCharacters(_ set: String) -> String {
        var result = Substring(self)
        while let first = result.first, set.contains(first) { result.removeFirst() }
        while let last = result.last, set.contains(last) { result.removeLast() }
        return String(result)
    }
}
