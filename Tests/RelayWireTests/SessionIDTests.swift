import Testing
import TestSupport

@testable import RelayWire

@Suite struct SessionIDTests {
    @Test func hexIsSixteenLowercaseDigits() {
        #expect(SessionID(rawValue: 0x9F2C_0000_DEAD_BEEF).hex == "9f2c0000deadbeef")
        #expect(SessionID(rawValue: 1).hex == "0000000000000001")
        #expect(SessionID(rawValue: .max).description == "ffffffffffffffff")
    }

    @Test func low32IsTheLastEightHexDigits() {
        let id = SessionID(rawValue: 0x0123_4567_89AB_CDEF)
        #expect(id.low32 == 0x89AB_CDEF)
        #expect(id.hex.suffix(8) == "89abcdef")
    }

    @Test(arguments: ["9f2c0000deadbeef", "9F2C0000DEADBEEF", "9f2C0000DeadBeef"])
    func parsesAnyCase(text: String) {
        #expect(SessionID(hex: text) == SessionID(rawValue: 0x9F2C_0000_DEAD_BEEF))
    }

    @Test(arguments: ["", "9f2c0000deadbee", "9f2c0000deadbeef0", "9f2c0000deadbeeg", " 9f2c0000deadbee", "9f2c0000deadbee ",
        "+f2c0000deadbeef", "0x2c0000deadbeef", "９f2c0000deadbee", "9f2c0000-deadbe"])
    func rejectsMalformed(text: String) {
        #expect(SessionID(hex: text) == nil)
    }

    @Test func roundTripsRandomIds() {
        var generator = SeededGenerator(seed: 1)
        for _ in 0..<1000 {
            let id = SessionID.random(using: &generator)
            #expect(SessionID(hex: id.hex) == id)
            #expect(id.hex.utf8.allSatisfy { Hex.digits.contains($0) })
        }
    }

    @Test func randomUsesTheGenerator() {
        var generator = ScriptedGenerator(values: [0xABCD])
        #expect(SessionID.random(using: &generator).rawValue == 0xABCD)
    }
}
