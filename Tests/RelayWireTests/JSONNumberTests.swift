import Testing

@testable import RelayWire

@Suite struct JSONNumberTests {
    @Test(arguments: [
        ("8", 8), ("8.0", 8), ("1e2", 100), ("1E+2", 100), ("-0", 0), ("-0.0", 0), ("0e5", 0), ("0.5e1", 5),
        ("-7", -7), ("250e-2", nil), ("2500e-2", 25), ("1.000", 1), ("000", nil),
        ("9007199254740992", 9_007_199_254_740_992), ("-9007199254740992", -9_007_199_254_740_992),
        ("9007199254740993", nil), ("9007199254740992.0", 9_007_199_254_740_992), ("9.007199254740992e15", 9_007_199_254_740_992),
        ("9007199254740994", nil), ("1e16", nil), ("1e999999999999", nil), ("1e-999999999999", nil),
        ("1.5", nil), ("1.0000000000000000001", nil), ("0.1", nil), ("1e-1", nil), ("-1.5", nil),
        ("100e-2", 1), ("0.00000000000000000000e99999", 0), ("65535", 65535), ("65535.0", 65535),
        ("18446744073709551616", nil), ("1e400", nil),
    ] as [(String, Int64?)])
    func wholeValue(text: String, expected: Int64?) {
        #expect(JSONNumber(text: text)?.wholeValue == expected, "\(text)")
        if text == "000" { #expect(JSONNumber(text: text) == nil) }
    }

    @Test(arguments: ["", "-", "01", "1.", ".1", "+1", "1e", "1 ", " 1", "0x1", "NaN", "1e+", "--1", "1.2.3"])
    func invalidTextIsRejected(text: String) {
        #expect(JSONNumber(text: text) == nil)
    }

    @Test func keepsTextAndValue() {
        let number = JSONNumber(text: "-1.50e-3")
        #expect(number?.text == "-1.50e-3")
        #expect(number?.description == "-1.50e-3")
        #expect(number?.value == -0.0015)
    }

    @Test func differentSpellingsAreDifferentNumbers() {
        #expect(JSONNumber(text: "7") != JSONNumber(text: "7.0"))
    }
}
