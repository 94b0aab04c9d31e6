import RelayWire

/// Checks the control channel's parsers (PROTOCOL.md §1.1–§1.2): ``ControlFrameDecoder`` fed in
/// pieces, each message through ``ControlMessage/parse(_:)`` and
/// ``ControlMessage/operation(maxSessionCapacity:)``, the replies built from them, and
/// ``StrictJSONReader`` on the whole input.
///
/// Input: a selector byte (bits 0–2 pick `maxControlMessage` from 16384, 0, 1, 2, 22, 23, 64 and
/// 4096; bits 3–4 `maxSessionCapacity` from 64, 2, 16 and 65534), a seed byte for the read
/// sizes, then the stream.
///
/// Invariants: the decoder yields the same events however the stream is split, and the ones
/// §1.1 gives for the whole stream; it never holds more than the larger of `maxControlMessage`
/// and the policy request's 22-byte wait, plus the read it was just given, and nothing once
/// finished; a message is non-empty, not only whitespace, at most `maxControlMessage` bytes,
/// without `\0` or `\n`, and sets the reply terminator; every reply is one frame (no `\0` or `\n`)
/// that echoes the request's `id` text exactly; a parsed operation keeps to its field rules;
/// the reader accepts exactly the JSON the relay's writer can write back unchanged, and calls
/// invalid UTF-8 what Swift's own validation calls invalid.
///
/// - Throws: ``FuzzFailure`` when an invariant does not hold.
public func fuzzControl(_ data: [UInt8]) throws(FuzzFailure) {
    var input = FuzzInput(data)
    let selector = input.byte() ?? 0
    let maxMessageSize = [16384, 0, 1, 2, 22, 23, 64, 4096][Int(selector & 7)]
    let maxSessionCapacity = [64, 2, 16, 65534][Int(selector >> 3 & 3)]
    var sizes = ChunkSizes(seed: input.byte() ?? 0)
    let stream = Array(input.rest())

    let expected = ControlFrameReference.events(stream, maxMessageSize: maxMessageSize)
    let whole = try decode(stream, maxMessageSize: maxMessageSize) { stream.count }
    try check(whole == expected, "the decoder gave \(whole.count) events for the whole stream, §1.1 gives \(expected.count)")
    let pieces = try decode(stream, maxMessageSize: maxMessageSize) { sizes.next() }
    try check(pieces == expected, "split into reads, the stream gave other events than whole")

    for case .message(let frame, _) in expected {
        try checkRequest(frame, maxSessionCapacity: maxSessionCapacity)
    }
    try checkJSON(stream)
}

/// Feeds `stream` to a fresh decoder in reads of the sizes `nextSize` gives, draining events
/// after each, and checks the decoder's own bounds as it goes.
private func decode(_ stream: [UInt8], maxMessageSize: Int, nextSize: () -> Int) throws(FuzzFailure) -> [ControlFrameEvent] {
    var decoder = ControlFrameDecoder(maxMessageSize: maxMessageSize)
    // While the stream is a prefix of the 23-byte policy request, up to 22 bytes wait.
    let held = max(maxMessageSize, ControlFrameDecoder.policyFileRequest.count - 1)
    var events: [ControlFrameEvent] = []
    var finished = false
    var offset = 0
    var reads = 0
    while offset < stream.count || reads == 0 {
        let size = min(nextSize(), stream.count - offset)
        let read = Array(stream[offset..<(offset + size)])
        offset += size
        reads += 1
        decoder.append(read)
        try check(decoder.bufferedByteCount <= held + read.count,
                  "\(decoder.bufferedByteCount) bytes buffered after a read of \(read.count), with a bound of \(held)")
        while let event = decoder.next() {
            try check(!finished, "an event after the decoder finished")
            switch event {
            case .message(let message, let terminator):
                try check(!message.isEmpty && message.count <= maxMessageSize, "a message of \(message.count) bytes")
                try check(!message.contains(0) && !message.contains(10), "a message holds a terminator")
                try check(!message.allSatisfy { $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }, "a whitespace-only message")
                try check(terminator == 0 || terminator == 10, "terminator \(terminator)")
                try check(decoder.replyTerminator == terminator, "the reply terminator is not the last message's")
            case .tooLarge(let lastTerminator):
                try check(lastTerminator == decoder.replyTerminator, "message_too_large would end with another terminator")
                try check(decoder.isFinished, "not finished after message_too_large")
            case .policyFileRequest:
                try check(events.isEmpty && decoder.isFinished, "a policy answer after messages, or without finishing")
            }
            if case .message = event {} else { finished = true }
            events.append(event)
        }
        try check(decoder.bufferedByteCount <= held, "\(decoder.bufferedByteCount) bytes held between reads, bound \(held)")
        if decoder.isFinished { try check(decoder.bufferedByteCount == 0, "a finished decoder holds bytes") }
    }
    return events
}

/// Runs one frame through check 1 and the stateless checks 3–4 of §1.2, checking the replies.
private func checkRequest(_ frame: [UInt8], maxSessionCapacity: Int) throws(FuzzFailure) {
    let message: ControlMessage
    switch ControlMessage.parse(frame) {
    case .failure(let error):
        try check(error.code == .badRequest, "check 1 failed with \(error.code.name), not bad_request")
        try checkReply(ControlReply.failure(id: nil, error: error), id: nil, ok: false)
        return
    case .success(let parsed):
        message = parsed
    }
    if let idText = message.idText {
        let idBytes = Array(idText.utf8)
        let whitespace: [UInt8] = [0x20, 0x09, 0x0A, 0x0D]
        try check(!idBytes.isEmpty && !whitespace.contains(idBytes[0]) && !whitespace.contains(idBytes[idBytes.count - 1]),
                  "the id text \(idText) keeps surrounding whitespace")
        let reparsed = try? StrictJSONReader.parse(idBytes)
        try check(reparsed != nil && reparsed == message.object["id"], "the id text \(idText) does not read as the id")
    } else {
        try check(message.object["id"] == nil, "an id without its text")
    }
    try checkReply(ControlReply.success(id: message.idText), id: message.idText, ok: true)

    switch message.operation(maxSessionCapacity: maxSessionCapacity) {
    case .failure(let error):
        try check([.badRequest, .unknownOp, .unsupportedVersion].contains(error.code), "a stateless check answered \(error.code.name)")
        try checkReply(ControlReply.failure(id: message.idText, error: error), id: message.idText, ok: false)
    case .success(let operation):
        try checkOperation(operation, of: message, maxSessionCapacity: maxSessionCapacity)
    }
}

/// Checks that an operation keeps the field rules of §1.3 for the request it came from.
private func checkOperation(_ operation: ControlOperation, of message: ControlMessage, maxSessionCapacity: Int) throws(FuzzFailure) {
    let object = message.object
    func whole(_ key: String) -> Int64? { object[key]?.numberValue?.wholeValue }
    switch operation {
    case .hello(let client):
        try check(message.op == "hello" && whole("protocol") == 1, "hello accepted without protocol 1")
        try check(client == object["client"]?.stringValue, "hello's client is not the field")
    case .create(let capacity, let tick):
        try check(message.op == "create", "create from op \(message.op ?? "nil")")
        if object["tick"] == nil {
            try check(tick == nil, "a tick of \(tick.map(String.init) ?? "nil") without the field")
        } else {
            try check(tick != nil && whole("tick") == Int64(tick!) && (1...120).contains(tick!), "tick \(tick.map(String.init) ?? "nil")")
        }
        if object["capacity"] == nil {
            try check(capacity == min(16, maxSessionCapacity), "default capacity \(capacity)")
        } else {
            try check(whole("capacity") == Int64(capacity) && (2...maxSessionCapacity).contains(capacity),
                      "capacity \(capacity) with maxSessionCapacity \(maxSessionCapacity)")
        }
    case .join(let target, let name):
        try check(message.op == "join", "join from op \(message.op ?? "nil")")
        try check(name.utf8.count <= ControlMessage.maxNameBytes, "a name of \(name.utf8.count) bytes")
        try check(name == (object["name"]?.stringValue ?? ""), "join's name is not the field")
        switch target {
        case .session(let id): try check(object["code"] == nil && object["session"]?.stringValue == id, "join by session")
        case .code(let code): try check(object["session"] == nil && object["code"]?.stringValue == code, "join by code")
        }
    case .leave:
        try check(message.op == "leave", "leave from op \(message.op ?? "nil")")
    case .kick(let member):
        try check(message.op == "kick" && whole("member") == Int64(member), "kick of \(member)")
    case .ping:
        try check(message.op == "ping", "ping from op \(message.op ?? "nil")")
    }
}

/// Checks a reply is one frame of strict JSON whose first member is the `id`, echoed exactly.
private func checkReply(_ reply: [UInt8], id: String?, ok: Bool) throws(FuzzFailure) {
    try check(!reply.contains(0) && !reply.contains(10), "a reply holds a raw \\0 or \\n")
    guard let document = try? StrictJSONReader.parseDocument(reply), let object = document.value.objectValue else {
        throw FuzzFailure("a reply is not a strict JSON object: \(String(decoding: reply, as: UTF8.self))")
    }
    try check(document.rawText(forKey: "id") == id, "the reply's id is \(document.rawText(forKey: "id") ?? "absent"), not \(id ?? "absent")")
    try check(object.keys.first == (id == nil ? "ok" : "id"), "the reply does not start with its id")
    try check(object["ok"] == .bool(ok), "the reply's ok is not \(ok)")
}

/// Checks the strict reader on arbitrary bytes: its UTF-8 verdict against Swift's, its depth
/// bound, the raw member texts, and a round trip through the relay's writer.
private func checkJSON(_ bytes: [UInt8]) throws(FuzzFailure) {
    let isUTF8 = String(validating: bytes, as: UTF8.self) != nil
    let document: JSONDocument
    do {
        document = try StrictJSONReader.parseDocument(bytes)
    } catch {
        try check((error.kind == .invalidUTF8) == !isUTF8, "the reader's UTF-8 verdict (\(error)) is not Swift's")
        try check(error.offset >= 0 && error.offset <= bytes.count, "error offset \(error.offset) of \(bytes.count)")
        return
    }
    try check(isUTF8, "the reader accepted what Swift calls invalid UTF-8")
    try check(depth(document.value) <= StrictJSONReader.maxDepth, "nesting deeper than \(StrictJSONReader.maxDepth) accepted")
    if case .object(let object) = document.value {
        try check(document.rawMemberTexts.count == object.count, "raw texts do not match the members")
        for (key, value) in zip(object.keys, object.values) {
            let raw = document.rawText(forKey: key) ?? ""
            try check((try? StrictJSONReader.parse(Array(raw.utf8))) == value, "the raw text of \(key) does not read as its value")
        }
    } else {
        try check(document.rawMemberTexts.isEmpty, "raw texts for a non-object")
    }
    var writer = JSONWriter()
    writer.value(document.value)
    let written = writer.bytes
    try check(!written.contains(0) && !written.contains(10), "the writer wrote a raw \\0 or \\n")
    try check((try? StrictJSONReader.parse(written)) == document.value,
              "the writer's text does not read back as the value: \(String(decoding: written, as: UTF8.self))")
}

/// The nesting depth of a value, a top-level container being level 1.
private func depth(_ value: JSONValue) -> Int {
    switch value {
    case .array(let elements): 1 + (elements.map(depth).max() ?? 0)
    case .object(let object): 1 + (object.values.map(depth).max() ?? 0)
    default: 0
    }
}
