import Testing
import TestSupport

@testable import RelayWire

@Suite struct MemberTokenTests {
    static let bytes: [UInt8] = Array(0x10...0x1F)

    @Test func hexIsThirtyTwoLowercaseDigitsInByteOrder() throws {
        let token = try #require(MemberToken(bytes: Self.bytes))
        #expect(token.hex == "101112131415161718191a1b1c1d1e1f")
        #expect(token.bytes == Self.bytes)
        #expect(MemberToken(hex: token.hex) == token)
        #expect(MemberToken(hex: token.hex.uppercased()) == token)
    }

    @Test func descriptionIsRedacted() throws {
        let token = try #require(MemberToken(bytes: Self.bytes))
        #expect(!token.description.contains("10111213"))
        #expect(!"\(token)".contains("1a1b"))
    }

    @Test(arguments: [0, 15, 17, 32])
    func bytesMustBeSixteen(count: Int) {
        #expect(MemberToken(bytes: [UInt8](repeating: 1, count: count)) == nil)
    }

    @Test(arguments: ["", "101112131415161718191a1b1c1d1e1", "101112131415161718191a1b1c1d1e1f0", "101112131415161718191a1b1c1d1e1g"])
    func hexMustBeThirtyTwoDigits(text: String) {
        #expect(MemberToken(hex: text) == nil)
    }

    @Test func matchesTheFirstSixteenBytes() throws {
        let token = try #require(MemberToken(bytes: Self.bytes))
        let withCookie = Self.bytes + [1, 2, 3, 4, 5, 6, 7, 8]
        #expect(withCookie.withUnsafeBytes { token.matches($0) })
        #expect(Self.bytes.withUnsafeBytes { token.matches($0) })
    }

    @Test(arguments: 0..<16)
    func anyFlippedByteFailsToMatch(index: Int) throws {
        let token = try #require(MemberToken(bytes: Self.bytes))
        for bit in 0..<8 {
            var forged = Self.bytes
            forged[index] ^= 1 << UInt8(bit)
            #expect(!forged.withUnsafeBytes { token.matches($0) })
            #expect(MemberToken(bytes: forged) != token)
        }
    }

    @Test func shortInputNeverMatches() throws {
        let token = try #require(MemberToken(bytes: Self.bytes))
        #expect(!Array(Self.bytes.prefix(15)).withUnsafeBytes { token.matches($0) })
        #expect(![UInt8]().withUnsafeBytes { token.matches($0) })
    }

    @Test func matchesFromUnalignedOffset() throws {
        let token = try #require(MemberToken(bytes: Self.bytes))
        let datagram = [UInt8](repeating: 0, count: 16) + Self.bytes
        #expect(datagram.withUnsafeBytes { token.matches(UnsafeRawBufferPointer(rebasing: $0[16...])) })
        let shifted = [0] + Self.bytes
        #expect(shifted.withUnsafeBytes { token.matches(UnsafeRawBufferPointer(rebasing: $0[1...])) })
    }

    @Test func randomTokensDifferAndRoundTrip() {
        var generator = SeededGenerator(seed: 4)
        var seen = Set<MemberToken>()
        for _ in 0..<1000 {
            let token = MemberToken.random(using: &generator)
            #expect(MemberToken(hex: token.hex) == token)
            #expect(MemberToken(bytes: token.bytes) == token)
            #expect(token.hex.utf8.allSatisfy { Hex.digits.contains($0) })
            seen.insert(token)
        }
        #expect(seen.count == 1000)
    }

    @Test func randomTakesTwoWordsBigEndian() {
        var generator = ScriptedGenerator(values: [0x0102_0304_0506_0708, 0x090A_0B0C_0D0E_0F10])
        #expect(MemberToken.random(using: &generator).bytes == Array(1...16))
    }
}
