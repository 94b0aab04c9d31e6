import Testing
import TestSupport

@testable import RelayWire

@Suite struct JoinCodeTests {
    @Test func alphabetIsAZAnd29WithoutOAndI() {
        #expect(JoinCode.alphabet.count == 32)
        #expect(Set(JoinCode.alphabet).count == 32)
        #expect(!JoinCode.alphabet.contains(UInt8(ascii: "O")) && !JoinCode.alphabet.contains(UInt8(ascii: "I")))
        #expect(!JoinCode.alphabet.contains(UInt8(ascii: "0")) && !JoinCode.alphabet.contains(UInt8(ascii: "1")))
    }

    @Test func randomCodesUseTheAlphabet() {
        var generator = SeededGenerator(seed: 2)
        for _ in 0..<1000 {
            let code = JoinCode.random(using: &generator)
            #expect(code.text.utf8.count == 6)
            #expect(code.text.utf8.allSatisfy { JoinCode.alphabet.contains($0) })
            #expect(JoinCode(normalizing: code.text) == code)
        }
    }

    @Test func randomTakesFiveBitsPerCharacter() {
        var generator = ScriptedGenerator(values: [0])
        #expect(JoinCode.random(using: &generator).text == "AAAAAA")
        generator = ScriptedGenerator(values: [UInt64.max])
        #expect(JoinCode.random(using: &generator).text == "999999")
        // Characters 0, 1, 2, … from the low bits upwards.
        let indices: [UInt64] = [0, 1, 2, 30, 31, 8]
        generator = ScriptedGenerator(values: [indices.enumerated().reduce(0) { $0 | $1.element << (5 * UInt64($1.offset)) }])
        #expect(JoinCode.random(using: &generator).text == "ABC89J")
    }

    @Test func distributionIsUniformAcrossTheAlphabet() {
        var generator = SeededGenerator(seed: 3)
        var counts = [Int](repeating: 0, count: 32)
        for _ in 0..<32_000 {
            for byte in JoinCode.random(using: &generator).text.utf8 {
                counts[JoinCode.alphabet.firstIndex(of: byte)!] += 1
            }
        }
        // 6000 expected per character with σ ≈ 77, so this band fails only on real skew.
        #expect(counts.allSatisfy { (5500...6500).contains($0) }, "\(counts)")
    }

    @Test(arguments: [("k7qx2m", "K7QX2M"), ("K7QX2M", "K7QX2M"), ("abcdef", "ABCDEF"), ("zZ9922", "ZZ9922")])
    func normalizesCase(input: String, expected: String) {
        #expect(JoinCode(normalizing: input)?.text == expected)
        #expect(JoinCode(normalizing: input)?.description == expected)
    }

    @Test(arguments: ["", "ABCDE", "ABCDEFG", "ABCDE0", "ABCDE1", "ABCDEO", "ABCDEI", "abcdeo", "abcdei", "ABC DE",
        " ABCDE", "ABCDÉ", "ABCD-E", "ＡBCDEF", "ABCDE\u{0}"])
    func rejectsMalformed(input: String) {
        #expect(JoinCode(normalizing: input) == nil)
    }
}
