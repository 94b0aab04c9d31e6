import Testing

@testable import RelayWire

@Suite struct JSONWriterTests {
    static func quoted(_ value: String) -> String {
        var writer = JSONWriter()
        writer.string(value)
        return writer.bytes.text
    }

    @Test func objectsAndArraysWithCommas() {
        var writer = JSONWriter()
        writer.beginObject()
        writer.field("a", integer: 1)
        writer.key("b")
        writer.beginArray()
        writer.integer(-2)
        writer.string("x")
        writer.bool(false)
        writer.null()
        writer.beginObject()
        writer.endObject()
        writer.beginArray()
        writer.endArray()
        writer.endArray()
        writer.field("c", bool: true)
        writer.key("d")
        writer.beginObject()
        writer.field("e", string: "f")
        writer.endObject()
        writer.endObject()
        #expect(writer.bytes.text == #"{"a":1,"b":[-2,"x",false,null,{},[]],"c":true,"d":{"e":"f"}}"#)
    }

    @Test(arguments: [
        (0, "0"), (7, "7"), (-3, "-3"), (65535, "65535"), (Int.max, "9223372036854775807"), (Int.min, "-9223372036854775808"),
    ] as [(Int, String)])
    func integers(value: Int, text: String) {
        var writer = JSONWriter()
        writer.integer(value)
        #expect(writer.bytes.text == text)
    }

    @Test func integerTypes() {
        var writer = JSONWriter()
        writer.beginArray()
        writer.integer(UInt16.max)
        writer.integer(UInt64.max)
        writer.integer(Int8.min)
        writer.endArray()
        #expect(writer.bytes.text == "[65535,18446744073709551615,-128]")
    }

    @Test(arguments: [
        ("plain", #""plain""#), ("q\"b\\s/", #""q\"b\\s/""#),
        ("\u{8}\u{C}\n\r\t", #""\b\f\n\r\t""#), ("\u{0}", #""\u0000""#), ("\u{1}\u{1F}", #""\u0001\u001f""#),
        ("\u{7F}", #""\u007f""#), ("\u{2028}\u{2029}", #""\u2028\u2029""#),
        ("\u{80}\u{85}\u{9F}", #""\u0080\u0085\u009f""#), ("\u{A0}", "\"\u{A0}\""),
        ("é€💥<b>", "\"é€💥<b>\""), ("e\u{301}", "\"e\u{301}\""),
    ])
    func stringEscaping(value: String, expected: String) {
        #expect(Self.quoted(value) == expected)
    }

    @Test func everyControlCharacterIsEscapedAndRoundTrips() throws {
        let all = String(String.UnicodeScalarView((0..<0x20).map { Unicode.Scalar(UInt8($0)) } + ["\u{7F}", "\u{2028}", "\u{2029}"]))
        var writer = JSONWriter()
        writer.string(all)
        #expect(!writer.bytes.contains { $0 < 0x20 || $0 == 0x7F })
        #expect(try StrictJSONReader.parse(writer.bytes) == .string(all))
    }

    @Test func keysAreEscapedToo() {
        var writer = JSONWriter()
        writer.beginObject()
        writer.field("a\nb\0", integer: 1)
        writer.endObject()
        #expect(writer.bytes.text == #"{"a\nb\u0000":1}"#)
    }

    @Test func rawInsertsVerbatim() {
        var writer = JSONWriter()
        writer.beginObject()
        writer.key("id")
        writer.raw(#""a\/b""#)
        writer.key("n")
        writer.raw("7.0")
        writer.endObject()
        #expect(writer.bytes.text == #"{"id":"a\/b","n":7.0}"#)
    }

    @Test func rawNeverEmitsFrameTerminators() {
        var writer = JSONWriter()
        writer.beginArray()
        writer.raw("[1,\n2]\0")
        writer.endArray()
        #expect(writer.bytes.text == "[[1, 2] ]")
    }

    @Test func rawInArrayGetsCommas() {
        var writer = JSONWriter()
        writer.beginArray()
        writer.raw("1")
        writer.raw("2")
        writer.endArray()
        #expect(writer.bytes.text == "[1,2]")
    }
}
