import Testing

@testable import RelayWire

@Suite struct StrictJSONReaderTests {
    static func parse(_ text: String) throws(JSONError) -> JSONValue {
        try StrictJSONReader.parse(text.bytes)
    }

    static func kind(_ bytes: [UInt8]) -> JSONError.Kind? {
        do {
            _ = try StrictJSONReader.parse(bytes)
            return nil
        } catch {
            return error.kind
        }
    }

    static func number(_ text: String) -> JSONValue {
        .number(JSONNumber(text: text)!)
    }

    // MARK: Accepted

    @Test func scalars() throws {
        #expect(try Self.parse("null") == .null)
        #expect(try Self.parse("true") == .bool(true))
        #expect(try Self.parse("false") == .bool(false))
        #expect(try Self.parse("\"hi\"") == .string("hi"))
        #expect(try Self.parse("-12.5e3") == Self.number("-12.5e3"))
    }

    @Test func containersKeepOrder() throws {
        let value = try Self.parse(#" { "b" : [1, "x", null, [], {}], "a" : {"c": true} } "#)
        guard case .object(let object) = value else {
            Issue.record("not an object")
            return
        }
        #expect(object.keys == ["b", "a"])
        #expect(object["b"] == .array([Self.number("1"), .string("x"), .null, .array([]), .object(JSONObject())]))
        var inner = JSONObject()
        inner.append(.bool(true), forKey: "c")
        #expect(object["a"] == .object(inner))
        #expect(object["zz"] == nil)
        #expect(object.members.map(\.key) == ["b", "a"])
    }

    @Test(arguments: [" \t\r\n1", "1 \t\r\n", "\n{}\n", "[ ]", "{ }", "[1 , 2]", "{\"a\" :1 ,\"b\": 2}"])
    func whitespaceEverywhereAllowed(text: String) {
        #expect(Self.kind(text.bytes) == nil)
    }

    @Test(arguments: [
        ("\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", "\"\\/\u{8}\u{C}\n\r\t"),
        ("\"\\u0041\\u00e9\\u00E9\\u20ac\"", "Aéé€"),
        ("\"\\ud834\\udd1e\"", "𝄞"),
        ("\"\\uD834\\uDD1E\"", "𝄞"),
        ("\"\\u0000\"", "\u{0}"),
        ("\"é€𝄞\"", "é€𝄞"),
        ("\"a\\u0022b\"", "a\"b"),
        ("\"\u{7F}\"", "\u{7F}"),
    ])
    func stringEscapes(source: String, expected: String) throws {
        #expect(try Self.parse(source) == .string(expected))
    }

    @Test func decodedStringKeepsExactScalars() throws {
        // NFD input must come back NFD, not normalised.
        let value = try Self.parse("\"e\u{301}\"")
        #expect(value.stringValue.map { Array($0.unicodeScalars) } == ["e", "\u{301}"])
    }

    @Test(arguments: ["0", "-0", "1", "-1", "10", "0.5", "-0.0", "1e2", "1E+2", "1e-2", "0e0", "123456789012345678901234567890.25", "18446744073709551616", "1e400", "-1e400", "1e-400"])
    func numberGrammarAccepted(text: String) throws {
        let value = try Self.parse(text)
        #expect(value.numberValue?.text == text)
    }

    @Test func hugeNumbersBecomeInfinity() throws {
        #expect(try Self.parse("1e400").numberValue?.value == .infinity)
        #expect(try Self.parse("-1e400").numberValue?.value == -.infinity)
    }

    // MARK: Rejected

    @Test(arguments: [
        ("", JSONError.Kind.unexpectedEnd), ("   ", .unexpectedEnd),
        ("{", .unexpectedEnd), ("[", .unexpectedEnd), ("[1", .unexpectedEnd), ("{\"a\"", .unexpectedEnd),
        ("{\"a\":", .unexpectedEnd), ("{\"a\":1", .unexpectedEnd), ("\"abc", .unexpectedEnd), ("\"\\", .unexpectedEnd),
        ("\"\\u12", .unexpectedEnd), ("tru", .unexpectedEnd), ("-", .invalidNumber),
        ("{bad", .unexpectedByte), ("{'a':1}", .unexpectedByte), ("'a'", .unexpectedByte),
        ("[1,]", .unexpectedByte), ("{\"a\":1,}", .unexpectedByte), ("[,1]", .unexpectedByte), ("{,}", .unexpectedByte),
        ("[1 2]", .unexpectedByte), ("{\"a\" 1}", .unexpectedByte), ("{\"a\":1 \"b\":2}", .unexpectedByte),
        ("{1:2}", .unexpectedByte), ("{\"a\"::1}", .unexpectedByte), ("[1}", .unexpectedByte), ("{\"a\":1]", .unexpectedByte),
        ("NaN", .unexpectedByte), ("Infinity", .unexpectedByte), ("-Infinity", .invalidNumber), ("nul", .unexpectedEnd),
        ("nulL", .unexpectedByte), ("True", .unexpectedByte), ("undefined", .unexpectedByte), ("\u{FEFF}{}", .unexpectedByte),
        ("\u{0C}1", .unexpectedByte), ("\u{A0}1", .unexpectedByte), ("\u{0}", .unexpectedByte),
        ("01", .invalidNumber), ("-01", .invalidNumber), ("00", .invalidNumber), ("+1", .unexpectedByte),
        ("1.", .invalidNumber), (".5", .unexpectedByte), ("1.e2", .invalidNumber), ("1e", .invalidNumber),
        ("1e+", .invalidNumber), ("1E-", .invalidNumber), ("0x10", .trailingData), ("1_000", .trailingData),
        ("-.5", .invalidNumber), ("- 1", .invalidNumber),
        ("{} x", .trailingData), ("{}{}", .trailingData), ("1 2", .trailingData), ("\"a\"\"b\"", .trailingData),
        ("{}\u{0}", .trailingData),
        ("\"\\x\"", .invalidEscape), ("\"\\'\"", .invalidEscape), ("\"\\U0041\"", .invalidEscape), ("\"\\u12G4\"", .invalidEscape),
        ("\"\\u-123\"", .invalidEscape), ("\"\\ \"", .invalidEscape), ("\"\\0\"", .invalidEscape),
        ("\"\\ud800\"", .loneSurrogate), ("\"\\udfff\"", .loneSurrogate), ("\"\\udc00\\ud800\"", .loneSurrogate),
        ("\"\\ud800\\u0041\"", .loneSurrogate), ("\"\\ud800\\ud800\"", .loneSurrogate), ("\"\\ud800x\"", .loneSurrogate),
        ("\"\\ud800\\n\"", .loneSurrogate), ("\"\\uD83D\"", .loneSurrogate),
        ("{\"a\":1,\"a\":2}", .duplicateKey), ("{\"a\":1,\"\\u0061\":2}", .duplicateKey), ("{\"a\":1,\"a\":1}", .duplicateKey),
        ("{\"x\":{\"a\":1,\"b\":2,\"a\":1}}", .duplicateKey), ("[{\"a\":1},{\"b\":[{\"c\":1,\"c\":2}]}]", .duplicateKey),
        ("{\"\\u00e9\":1,\"e\\u0301\":2}", .duplicateKey),
    ])
    func rejected(text: String, kind: JSONError.Kind) {
        #expect(Self.kind(text.bytes) == kind, "\(text.debugDescription)")
    }

    @Test(arguments: Array(0..<0x20) as [UInt8])
    func rawControlCharacterInStringRejected(byte: UInt8) {
        #expect(Self.kind([0x22, 0x61, byte, 0x22]) == .controlCharacter)
        #expect(Self.kind("\"\\n".bytes + [byte] + [0x22]) == .controlCharacter)
    }

    @Test func sameKeyInDifferentObjectsIsFine() {
        #expect(Self.kind(#"{"a":1,"x":{"a":2,"x":3},"y":[{"a":1},{"a":1}]}"#.bytes) == nil)
    }

    @Test func duplicateErrorPointsAtTheSecondKey() {
        do {
            _ = try Self.parse(#"{"a":1,"a":2}"#)
            Issue.record("accepted a duplicate key")
        } catch {
            #expect(error == JSONError(.duplicateKey, at: 7))
            #expect(error.description == "duplicate key at byte 7")
        }
    }

    // MARK: UTF-8

    @Test(arguments: [
        [0x80], [0xBF], [0xC0, 0xAF], [0xC1, 0xBF], [0xC2], [0xC2, 0x41], [0xE0, 0x80, 0x80], [0xE0, 0x9F, 0xBF],
        [0xE2, 0x82], [0xED, 0xA0, 0x80], [0xED, 0xBF, 0xBF], [0xF0, 0x80, 0x80, 0x80], [0xF0, 0x8F, 0xBF, 0xBF],
        [0xF4, 0x90, 0x80, 0x80], [0xF5, 0x80, 0x80, 0x80], [0xF8, 0x88, 0x80, 0x80, 0x80], [0xFE], [0xFF],
        [0xF0, 0x9F, 0x98], [0xE2, 0x28, 0xA1], [0xF0, 0x9F, 0x28, 0x80], [0xF0, 0x9F, 0x98, 0x28],
    ] as [[UInt8]])
    func invalidUTF8RejectedInsideStrings(sequence: [UInt8]) {
        #expect(Self.kind([0x22] + sequence + [0x22]) == .invalidUTF8)
        #expect(Self.kind(#"{"k":"#.bytes + [0x22] + sequence + [0x22, 0x7D]) == .invalidUTF8)
    }

    @Test func invalidUTF8RejectedOutsideStrings() {
        #expect(Self.kind([0x7B, 0x80, 0x7D]) == .invalidUTF8)
        #expect(Self.kind([0x7B, 0x7D, 0x20, 0xFF]) == .invalidUTF8)
        #expect(Self.kind([0xFF, 0x7B, 0x7D]) == .invalidUTF8)
    }

    @Test(arguments: [
        [0x7F], [0xC2, 0x80], [0xDF, 0xBF], [0xE0, 0xA0, 0x80], [0xEC, 0xBF, 0xBF], [0xED, 0x9F, 0xBF],
        [0xEE, 0x80, 0x80], [0xEF, 0xBF, 0xBF], [0xF0, 0x90, 0x80, 0x80], [0xF3, 0xBF, 0xBF, 0xBF], [0xF4, 0x8F, 0xBF, 0xBF],
    ] as [[UInt8]])
    func boundaryUTF8Accepted(sequence: [UInt8]) throws {
        let value = try StrictJSONReader.parse([0x22] + sequence + [0x22])
        #expect(value.stringValue.map { Array($0.utf8) } == sequence)
    }

    @Test func utf8ErrorReportsItsOffset() {
        do {
            _ = try StrictJSONReader.parse([0x22, 0x61, 0xC0, 0xAF, 0x22])
            Issue.record("accepted an overlong")
        } catch {
            #expect(error == JSONError(.invalidUTF8, at: 2))
        }
    }

    // MARK: Depth

    static func nested(_ depth: Int, object: Bool) -> [UInt8] {
        if object {
            return Array(repeating: #"{"a":"#.bytes, count: depth - 1).flatMap { $0 } + "{}".bytes + Array(repeating: UInt8(ascii: "}"), count: depth - 1)
        }
        return Array(repeating: UInt8(ascii: "["), count: depth) + Array(repeating: UInt8(ascii: "]"), count: depth)
    }

    @Test(arguments: [false, true])
    func depth64AcceptedAnd65Rejected(object: Bool) {
        #expect(Self.kind(Self.nested(1, object: object)) == nil)
        #expect(Self.kind(Self.nested(64, object: object)) == nil)
        #expect(Self.kind(Self.nested(65, object: object)) == .tooDeep)
    }

    @Test func protocolShapedDepthLimit() {
        // The conformance shape: a top-level object holding arrays, deepest value at level 64.
        func request(_ depth: Int) -> [UInt8] {
            #"{"op":"ping","id":1,"x":"#.bytes + Array(repeating: UInt8(ascii: "["), count: depth - 1)
                + Array(repeating: UInt8(ascii: "]"), count: depth - 1) + "}".bytes
        }
        #expect(Self.kind(request(64)) == nil)
        #expect(Self.kind(request(65)) == .tooDeep)
    }

    @Test func absurdDepthIsRejectedWithoutStackOverflow() {
        #expect(Self.kind(Array(repeating: UInt8(ascii: "["), count: 1_000_000)) == .tooDeep)
        #expect(Self.kind(Array(repeating: #"{"a":"#.bytes, count: 100_000).flatMap { $0 }) == .tooDeep)
    }

    @Test func scalarsAtTheDeepestLevelAreFine() {
        let bytes = Array(repeating: UInt8(ascii: "["), count: 64) + "1,\"s\",true".bytes + Array(repeating: UInt8(ascii: "]"), count: 64)
        #expect(Self.kind(bytes) == nil)
    }

    // MARK: Raw member text

    @Test(arguments: ["7", "\"a\"", "7.0", "1e2", "1E+2", "-0", "-1.50e-3", "0.0", "18446744073709551616",
        "123456789012345678901234567890.25", #""a\/b""#, #""\u00e9\n""#, "\"é\"", "[1, 2 ]", "{ \"k\" : null }", "true"])
    func rawTextOfTopLevelMembersIsVerbatim(raw: String) throws {
        let document = try StrictJSONReader.parseDocument((#"{"op":"ping","id" : "# + "\t" + raw + " }").bytes)
        #expect(document.rawText(forKey: "id") == raw)
        #expect(document.rawText(forKey: "op") == "\"ping\"")
        #expect(document.rawText(forKey: "nope") == nil)
        #expect(document.rawMemberTexts.count == 2)
    }

    @Test func rawTextOnlyForTopLevelObjects() throws {
        #expect(try StrictJSONReader.parseDocument("[1]".bytes).rawMemberTexts.isEmpty)
        #expect(try StrictJSONReader.parseDocument("[1]".bytes).rawText(forKey: "a") == nil)
        #expect(try StrictJSONReader.parseDocument(" {} ".bytes).rawMemberTexts.isEmpty)
    }

    @Test func parseViaJSONValueAndSlices() throws {
        let bytes = "xx{\"a\":1}yy".bytes
        #expect(try JSONValue.parse(bytes[2..<9]).objectValue?["a"] == Self.number("1"))
    }
}
