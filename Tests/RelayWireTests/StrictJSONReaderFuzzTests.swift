import Testing
import TestSupport

@testable import RelayWire

/// Random mutations of protocol-shaped messages: the reader must never crash, and
/// whatever it accepts must be a valid, self-consistent JSON text.
@Suite struct StrictJSONReaderFuzzTests {
    static let seeds: [[UInt8]] = [
        #"{"op":"join","id":7.0,"session":"9f2c0000deadbeef","name":"al\u00e9\ud834\udd1e"}"#.bytes,
        #"{"op":"hello","protocol":1,"client":"x","x":[1,-2.5e3,true,false,null,{"a":[]}]}"#.bytes,
        #"[[[[{"k":"v\n\t\"\\\/"}]]]]"#.bytes,
        "{\"é\":\"€𝄞\",\"n\":-0.0e-0}".bytes,
    ]
    static let interesting: [UInt8] = Array(#"{}[]:,"\/-+.eE0123456789 ntfu"#.utf8) + [0x00, 0x0A, 0x7F, 0x80, 0xBF, 0xC0, 0xC2, 0xE0, 0xED, 0xF0, 0xF4, 0xFF]

    static func mutate(_ input: [UInt8], using generator: inout SeededGenerator) -> [UInt8] {
        var bytes = input
        for _ in 0..<Int.random(in: 1...4, using: &generator) {
            let choice = Int.random(in: 0..<5, using: &generator)
            let position = bytes.isEmpty ? 0 : Int.random(in: 0..<bytes.count, using: &generator)
            let byte = Bool.random(using: &generator)
                ? interesting.randomElement(using: &generator)!
                : UInt8.random(in: 0...255, using: &generator)
            switch choice {
            case 0 where !bytes.isEmpty: bytes[position] = byte
            case 1: bytes.insert(byte, at: position)
            case 2 where !bytes.isEmpty: bytes.remove(at: position)
            case 3: bytes = Array(bytes.prefix(position))
            default:
                let other = seeds.randomElement(using: &generator)!
                let cut = Int.random(in: 0...other.count, using: &generator)
                bytes.insert(contentsOf: other[cut...], at: position)
            }
        }
        return bytes
    }

    @Test func mutatedInputsNeverCrashAndAcceptedOnesAreConsistent() throws {
        var generator = SeededGenerator(seed: 0xF00D)
        var accepted = 0
        for _ in 0..<30_000 {
            let seed = Self.seeds.randomElement(using: &generator)!
            let input = Self.mutate(seed, using: &generator)
            let first = Result { () throws(JSONError) in try StrictJSONReader.parseDocument(input) }
            let second = Result { () throws(JSONError) in try StrictJSONReader.parseDocument(input) }
            #expect(first == second)
            guard case .success(let document) = first else { continue }
            accepted += 1
            #expect(String(validating: input, as: UTF8.self) != nil)
            // Every captured raw member text is itself a valid JSON text of the same value.
            if case .object(let object) = document.value {
                for (index, key) in object.keys.enumerated() {
                    let raw = try StrictJSONReader.parse(document.rawMemberTexts[index].bytes)
                    #expect(raw == object[key])
                }
            }
            _ = ControlMessage.parse(input).map { $0.operation(maxSessionCapacity: 64) }
        }
        #expect(accepted > 100)
    }

    @Test func randomBytesNeverCrash() {
        var generator = SeededGenerator(seed: 0xBEEF)
        for _ in 0..<20_000 {
            let length = Int.random(in: 0...40, using: &generator)
            let input = (0..<length).map { _ in Self.interesting.randomElement(using: &generator)! }
            _ = try? StrictJSONReader.parse(input)
        }
    }
}
