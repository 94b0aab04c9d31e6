import Testing

@testable import RelayWire

@Suite struct SerialNumberTests {
    @Test(arguments: [
        (1, 0, true), (0, 1, false), (5, 5, false),
        (0, 0xFFFF_FFFF, true), (0xFFFF_FFFF, 0, false),
        (0x7FFF_FFFF, 0, true), (0, 0x7FFF_FFFF, false),
        (0x8000_0001, 0, false), (0, 0x8000_0001, true),
        (10, 0xFFFF_FFF0, true),
    ] as [(UInt32, UInt32, Bool)])
    func isNewer(a: UInt32, b: UInt32, expected: Bool) {
        #expect(SerialNumber.isNewer(a, than: b) == expected)
    }

    @Test(arguments: [0, 1, 0x1234_5678, 0x8000_0000, 0xFFFF_FFFF] as [UInt32])
    func halfwayIsIncomparableBothWays(base: UInt32) {
        let other = base &+ 0x8000_0000
        #expect(!SerialNumber.isNewer(other, than: base))
        #expect(!SerialNumber.isNewer(base, than: other))
    }
}
