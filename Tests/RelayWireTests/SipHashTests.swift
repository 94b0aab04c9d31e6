import Testing

import RelayWire

@Suite struct SipHashTests {
    // The reference key 00 01 … 0f.
    static let reference = SipHash(k0: 0x0706_0504_0302_0100, k1: 0x0f0e_0d0c_0b0a_0908)

    static func tag(ofFirst count: Int) -> UInt64 {
        let message = (0..<count).map { UInt8($0) }
        return message.withUnsafeBytes { reference.hash($0) }
    }

    @Test func matchesTheReferenceVectors() {
        // From the reference implementation's vectors (message 00 01 … of each length).
        #expect(Self.tag(ofFirst: 0) == 0x726f_db47_dd0e_0e31)
        #expect(Self.tag(ofFirst: 1) == 0x74f8_39c5_93dc_67fd)
        #expect(Self.tag(ofFirst: 8) == 0x93f5_f579_9a93_2462)
        // The worked example of the SipHash paper, appendix A.
        #expect(Self.tag(ofFirst: 15) == 0xa129_ca61_49be_45e5)
    }

    @Test func everyInputByteAndTheKeyMatter() {
        let message: [UInt8] = Array(0..<42)
        let base = message.withUnsafeBytes { Self.reference.hash($0) }
        for index in message.indices {
            var changed = message
            changed[index] ^= 1
            #expect(changed.withUnsafeBytes { Self.reference.hash($0) } != base)
        }
        let otherKey = SipHash(k0: 0x0706_0504_0302_0100, k1: 0x0f0e_0d0c_0b0a_0909)
        #expect(message.withUnsafeBytes { otherKey.hash($0) } != base)
        // A trailing zero byte changes the length block.
        #expect((message + [0]).withUnsafeBytes { Self.reference.hash($0) } != base)
    }
}
