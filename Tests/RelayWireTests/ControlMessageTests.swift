import Testing

@testable import RelayWire

@Suite struct ControlMessageTests {
    static func parse(_ text: String) -> Result<ControlMessage, ControlError> {
        ControlMessage.parse(text.bytes)
    }

    static func operation(_ text: String, maxCapacity: Int = 64) -> Result<ControlOperation, ControlError> {
        switch parse(text) {
        case .success(let message): message.operation(maxSessionCapacity: maxCapacity)
        case .failure(let error): .failure(error)
        }
    }

    static func code(_ result: Result<ControlOperation, ControlError>) -> ControlErrorCode? {
        if case .failure(let error) = result { return error.code }
        return nil
    }

    static func message(_ result: Result<ControlOperation, ControlError>) -> String? {
        if case .failure(let error) = result { return error.message }
        return nil
    }

    // MARK: Check 1

    @Test(arguments: [
        "{bad", #"{"op":"ping",}"#, #"{"op":"ping""#, "{'op':'ping'}", #"{"op":"ping"} x"#, "nul", #"{"a":01}"#,
        "[1,2]", #""ping""#, "42", "null", "true", #"[{"op":"ping","id":1}]"#, "", "   ",
        #"{"op":"fly","id":1,"op":"ping","id":"two"}"#, #"{"op":"ping","id":1,"id":1}"#, #"{"op":"ping","op":"ping"}"#,
        #"{"op":"ping","id":1,"\u006fp":"ping"}"#, #"{"op":"ping","id":1,"x":{"a":1,"b":2,"a":1}}"#,
        #"{"op":"ping","id":1,"x":[{"a":1},{"b":[{"c":1,"c":2}]}]}"#,
        #"{"op":"ping","id":null}"#, #"{"op":"ping","id":true}"#, #"{"op":"ping","id":false}"#,
        #"{"op":"ping","id":[1]}"#, #"{"op":"ping","id":{"n":1}}"#, #"{"op":"ping","x":"\ud800"}"#,
        "<policy-file-request/>",
    ])
    func check1FailuresAreBadRequest(text: String) {
        guard case .failure(let error) = Self.parse(text) else {
            Issue.record("accepted \(text)")
            return
        }
        #expect(error.code == .badRequest)
        #expect(!error.message.isEmpty)
    }

    @Test(arguments: [
        [0x7B, 0x22, 0x6F, 0x70, 0x22, 0x3A, 0x22, 0x70, 0x80, 0x6E, 0x67, 0x22, 0x7D],
        #"{"op":"ping","x":""#.bytes + [0xFF] + #""}"#.bytes,
        #"{"op":"ping","x":""#.bytes + [0xC0, 0xAF] + #""}"#.bytes,
        #"{"op":"ping","x":""#.bytes + [0xED, 0xA0, 0x80] + #""}"#.bytes,
        #"{"op":"ping","x":""#.bytes + [0xE2, 0x82] + #""}"#.bytes,
        #"{"op":"ping","x":""#.bytes + [0xF4, 0x90, 0x80, 0x80] + #""}"#.bytes,
    ] as [[UInt8]])
    func invalidUTF8IsBadRequest(frame: [UInt8]) {
        guard case .failure(let error) = ControlMessage.parse(frame) else {
            Issue.record("accepted invalid UTF-8")
            return
        }
        #expect(error.code == .badRequest)
        #expect(error.message.contains("UTF-8"))
    }

    @Test func idTypeMessageNamesTheField() {
        guard case .failure(let error) = Self.parse(#"{"op":"ping","id":null}"#) else {
            Issue.record("accepted a null id")
            return
        }
        #expect(error.message == "'id' must be a string or a number, not null")
    }

    @Test(arguments: ["7", "\"a\"", "7.0", "1e2", "1E+2", "-0", "-1.50e-3", "0.0", "18446744073709551616",
        "123456789012345678901234567890.25", #""a\/b""#, #""\u00e9\n""#, "\"é\"", "\"\""])
    func idTextIsKeptVerbatim(raw: String) throws {
        let message = try Self.parse(#"{"op":"ping","id" :  "# + raw + "\r\n }").get()
        #expect(message.idText == raw)
    }

    @Test func noIdMeansNoIdText() throws {
        #expect(try Self.parse(#"{"op":"ping"}"#).get().idText == nil)
        #expect(try Self.parse(#"{"op":"ping","x":{"id":1}}"#).get().idText == nil)
    }

    @Test func idIsKeptEvenWhenLaterChecksFail() throws {
        let message = try Self.parse(#"{"id":5,"op":7}"#).get()
        #expect(message.idText == "5")
        #expect(Self.code(message.operation(maxSessionCapacity: 64)) == .badRequest)
    }

    // MARK: Check 3

    @Test(arguments: [#"{"id":5}"#, #"{"id":5,"op":7}"#, #"{"id":5,"op":null}"#, #"{"id":5,"op":["ping"]}"#, #"{"op":true}"#])
    func missingOrMistypedOpIsBadRequest(text: String) {
        #expect(Self.code(Self.operation(text)) == .badRequest)
    }

    @Test(arguments: ["fly", "", "PING", "Ping", " ping", "ping ", "pin", "pingx", "hello\u{0}"])
    func unknownOp(op: String) {
        var writer = JSONWriter()
        writer.beginObject()
        writer.field("op", string: op)
        writer.endObject()
        let result = ControlMessage.parse(writer.bytes).flatMap { $0.operation(maxSessionCapacity: 64) }
        #expect(Self.code(result) == .unknownOp)
    }

    @Test func opErrorMessages() {
        #expect(Self.message(Self.operation(#"{"id":5}"#)) == "missing 'op'")
        #expect(Self.message(Self.operation(#"{"op":7}"#)) == "'op' must be a string, not number")
    }

    // MARK: hello

    @Test(arguments: [#"{"op":"hello","protocol":1}"#, #"{"op":"hello","protocol":1.0}"#, #"{"op":"hello","protocol":1e0}"#,
        #"{"op":"hello","protocol":10e-1}"#, #"{"op":"hello","protocol":1,"extra":"x","future":{"a":[1]}}"#])
    func helloAccepted(text: String) {
        #expect(Self.operation(text) == .success(.hello(client: nil)))
    }

    @Test func helloWithClient() {
        #expect(Self.operation(#"{"op":"hello","protocol":1,"client":"my-game/1.0"}"#) == .success(.hello(client: "my-game/1.0")))
    }

    @Test(arguments: [
        #"{"op":"hello"}"#, #"{"op":"hello","protocol":"1"}"#, #"{"op":"hello","protocol":null}"#,
        #"{"op":"hello","protocol":true}"#, #"{"op":"hello","protocol":[1]}"#, #"{"op":"hello","protocol":{"v":1}}"#,
        #"{"op":"hello","protocol":1.5}"#, #"{"op":"hello","protocol":9007199254740993}"#, #"{"op":"hello","protocol":1e300}"#,
        #"{"op":"hello","protocol":1,"client":5}"#, #"{"op":"hello","protocol":1,"client":null}"#,
        #"{"op":"hello","protocol":2,"client":5}"#,
    ])
    func helloBadRequest(text: String) {
        #expect(Self.code(Self.operation(text)) == .badRequest)
    }

    @Test(arguments: ["2", "0", "-1", "9007199254740992", "-9007199254740992", "2.0"])
    func helloUnsupportedVersion(version: String) {
        let result = Self.operation(#"{"op":"hello","protocol":"# + version + "}")
        #expect(Self.code(result) == .unsupportedVersion)
        #expect(Self.message(result) == "supported protocol versions: 1")
    }

    @Test func helloMessagesNameTheField() {
        #expect(Self.message(Self.operation(#"{"op":"hello"}"#)) == "missing 'protocol'")
        #expect(Self.message(Self.operation(#"{"op":"hello","protocol":1.5}"#)) == "'protocol' must be an integer")
        #expect(Self.message(Self.operation(#"{"op":"hello","protocol":1,"client":5}"#)) == "'client' must be a string, not number")
    }

    // MARK: create

    @Test(arguments: [
        (#"{"op":"create"}"#, 64, 16), (#"{"op":"create"}"#, 8, 8), (#"{"op":"create"}"#, 16, 16),
        (#"{"op":"create","capacity":2}"#, 64, 2), (#"{"op":"create","capacity":64}"#, 64, 64),
        (#"{"op":"create","capacity":8.0}"#, 64, 8), (#"{"op":"create","capacity":8e0}"#, 64, 8),
        (#"{"op":"create","capacity":3}"#, 3, 3),
    ])
    func createAccepted(text: String, maxCapacity: Int, capacity: Int) {
        #expect(Self.operation(text, maxCapacity: maxCapacity) == .success(.create(capacity: capacity, tick: nil)))
    }

    @Test(arguments: ["1", "0", "-2", "65", "2.5", "\"8\"", "null", "true", "[8]", "{}", "1e20", "1e400"])
    func createBadCapacity(capacity: String) {
        let result = Self.operation(#"{"op":"create","capacity":"# + capacity + "}")
        #expect(Self.code(result) == .badRequest)
        #expect(Self.message(result)?.contains("'capacity'") == true)
    }

    @Test(arguments: [
        (#"{"op":"create","tick":1}"#, 1), (#"{"op":"create","tick":120}"#, 120), (#"{"op":"create","tick":30.0}"#, 30),
        (#"{"op":"create","tick":3e1,"capacity":4}"#, 30),
    ])
    func createWithTick(text: String, tick: Int) {
        guard case .success(.create(_, let parsed)) = Self.operation(text) else {
            Issue.record("\(text) was refused")
            return
        }
        #expect(parsed == tick)
    }

    @Test(arguments: ["0", "121", "-1", "1.5", "\"10\"", "null", "true", "[10]", "1e400"])
    func createBadTick(tick: String) {
        let result = Self.operation(#"{"op":"create","tick":"# + tick + "}")
        #expect(Self.code(result) == .badRequest)
        #expect(Self.message(result)?.contains("'tick'") == true)
    }

    @Test func aBadCapacityIsNamedBeforeABadTick() {
        #expect(Self.message(Self.operation(#"{"op":"create","capacity":1,"tick":0}"#))?.contains("'capacity'") == true)
    }

    @Test func createCapacityAboveConfiguredMax() {
        #expect(Self.code(Self.operation(#"{"op":"create","capacity":9}"#, maxCapacity: 8)) == .badRequest)
        #expect(Self.message(Self.operation(#"{"op":"create","capacity":9}"#, maxCapacity: 8)) == "'capacity' must be an integer from 2 to 8")
    }

    // MARK: join

    @Test(arguments: [
        (#"{"op":"join","session":"9f2c000000000001"}"#, ControlOperation.join(.session("9f2c000000000001"), name: "")),
        (#"{"op":"join","code":"k7qx2m","name":"alice"}"#, .join(.code("k7qx2m"), name: "alice")),
        (#"{"op":"join","session":"","name":""}"#, .join(.session(""), name: "")),
        (#"{"op":"join","code":"","name":"é\"\\\n\t💥<b>"}"#, .join(.code(""), name: "é\"\\\n\t💥<b>")),
    ])
    func joinAccepted(text: String, expected: ControlOperation) {
        #expect(Self.operation(text) == .success(expected))
    }

    @Test(arguments: [
        #"{"op":"join"}"#, #"{"op":"join","session":"a","code":"b"}"#, #"{"op":"join","name":"x"}"#,
        #"{"op":"join","session":5}"#, #"{"op":"join","code":5}"#, #"{"op":"join","session":null}"#,
        #"{"op":"join","code":["ABCDEF"]}"#, #"{"op":"join","session":"a","code":null}"#,
        #"{"op":"join","session":"a","name":5}"#, #"{"op":"join","session":"a","name":null}"#,
    ])
    func joinBadRequest(text: String) {
        #expect(Self.code(Self.operation(text)) == .badRequest)
    }

    @Test func joinNameLengthCountsUTF8BytesAfterUnescaping() {
        func join(_ name: String) -> Result<ControlOperation, ControlError> {
            Self.operation(#"{"op":"join","code":"ABCDEF","name":"# + name + "}")
        }
        #expect(join("\"" + String(repeating: "x", count: 64) + "\"") == .success(.join(.code("ABCDEF"), name: String(repeating: "x", count: 64))))
        #expect(Self.code(join("\"" + String(repeating: "x", count: 65) + "\"")) == .badRequest)
        #expect(join("\"" + String(repeating: "é", count: 32) + "\"") == .success(.join(.code("ABCDEF"), name: String(repeating: "é", count: 32))))
        #expect(Self.code(join("\"" + String(repeating: "é", count: 33) + "\"")) == .badRequest)
        // 64 bytes after unescaping although the source is 6 times longer.
        #expect(Self.code(join("\"" + String(repeating: "\\u0041", count: 64) + "\"")) == nil)
        #expect(Self.code(join("\"" + String(repeating: "\\u0041", count: 65) + "\"")) == .badRequest)
        #expect(Self.message(join("\"" + String(repeating: "x", count: 65) + "\"")) == "'name' must be at most 64 bytes of UTF-8")
    }

    // MARK: leave, kick, ping

    @Test func leaveAndPingIgnoreExtraFields() {
        #expect(Self.operation(#"{"op":"leave","member":"x"}"#) == .success(.leave))
        #expect(Self.operation(#"{"op":"ping","id":3,"n":1e300}"#) == .success(.ping))
    }

    @Test(arguments: [("0", 0), ("3", 3), ("3.0", 3), ("65535", 65535), ("6.5535e4", 65535), ("-0", 0)] as [(String, UInt16)])
    func kickAccepted(member: String, expected: UInt16) {
        #expect(Self.operation(#"{"op":"kick","member":"# + member + "}") == .success(.kick(member: expected)))
    }

    @Test(arguments: ["-1", "65536", "1.5", "\"3\"", "null", "true", "[3]", "1e300"])
    func kickBadMember(member: String) {
        let result = Self.operation(#"{"op":"kick","member":"# + member + "}")
        #expect(Self.code(result) == .badRequest)
        #expect(Self.message(result) == "'member' must be an integer from 0 to 65535")
    }

    @Test func kickWithoutMember() {
        #expect(Self.message(Self.operation(#"{"op":"kick"}"#)) == "missing 'member'")
    }

    // MARK: Codes

    @Test func errorCodeNamesMatchTheProtocol() {
        #expect(ControlErrorCode.all.map(\.name) == [
            "bad_request", "unknown_op", "unsupported_version", "message_too_large", "not_found", "full",
            "already_joined", "not_joined", "forbidden", "rate_limited", "shutting_down", "tls_required",
        ])
        #expect(ControlError(.notFound, "no such session").description == "not_found: no such session")
        #expect(ControlError.messageTooLarge(maxMessageSize: 1024).code == .messageTooLarge)
    }
}
