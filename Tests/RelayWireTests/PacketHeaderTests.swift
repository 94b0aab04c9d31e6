import Testing

@testable import RelayWire

@Suite struct PacketHeaderTests {
    let sample = PacketHeader(
        type: PacketType.data, flags: 0x81, session: 0x0102_0304,
        member: 0x0506, target: 0x0708, sequence: 0x090A_0B0C)

    @Test func constants() {
        #expect(PacketHeader.size == 16)
        #expect(PacketHeader.magic == 0x47)
        #expect(PacketHeader.version == 1)
        #expect(PacketHeader.broadcastTarget == 0xFFFF)
        #expect([PacketType.bind, PacketType.bindAck, PacketType.data, PacketType.ping, PacketType.pong] == [1, 2, 3, 4, 5])
        #expect(PacketFlags.latest == 0x01)
    }

    @Test func encodesBigEndianInLayoutOrder() {
        #expect(sample.bytes == [0x47, 0x01, 0x03, 0x81, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12])
    }

    @Test func initDefaultsMagicVersionAndZeroes() {
        let header = PacketHeader(type: PacketType.ping, session: 9, member: 2)
        #expect(header.magic == 0x47 && header.version == 1)
        #expect(header.flags == 0 && header.target == 0 && header.sequence == 0)
    }

    @Test func parsesWhatItWrites() {
        #expect(PacketHeader(parsing: sample.bytes) == sample)
        #expect(PacketHeader(parsing: sample.bytes + [0xAA, 0xBB]) == sample)
    }

    @Test func parsesFromUnalignedOffset() {
        let bytes: [UInt8] = [0xFF] + sample.bytes
        let parsed = bytes.withUnsafeBytes { PacketHeader(parsing: UnsafeRawBufferPointer(rebasing: $0[1...])) }
        #expect(parsed == sample)
    }

    @Test(arguments: 0..<16)
    func shorterThanHeaderIsNil(length: Int) {
        #expect(PacketHeader(parsing: Array(sample.bytes.prefix(length))) == nil)
    }

    @Test func parsingDoesNotValidate() {
        let bytes: [UInt8] = [0x00, 0x09, 0xEE, 0xFF] + [UInt8](repeating: 0xFF, count: 12)
        let header = PacketHeader(parsing: bytes)
        #expect(header?.magic == 0 && header?.version == 9 && header?.type == 0xEE && header?.flags == 0xFF)
        #expect(header?.session == .max && header?.member == .max && header?.target == .max && header?.sequence == .max)
        #expect(header?.bytes == bytes)
    }

    @Test func writesAtStartOfLargerBuffer() {
        var buffer = [UInt8](repeating: 0xEE, count: 20)
        buffer.withUnsafeMutableBytes { sample.write(to: $0) }
        #expect(Array(buffer.prefix(16)) == sample.bytes)
        #expect(buffer.suffix(4).allSatisfy { $0 == 0xEE })
    }

    @Test func writesToUnalignedBuffer() {
        var buffer = [UInt8](repeating: 0, count: 17)
        buffer.withUnsafeMutableBytes { sample.write(to: UnsafeMutableRawBufferPointer(rebasing: $0[1...])) }
        #expect(Array(buffer.dropFirst()) == sample.bytes)
    }

    @Test func latestFlagIgnoresReservedBits() {
        var header = sample
        header.flags = 0xFE
        #expect(!header.isLatest)
        header.flags = 0x01
        #expect(header.isLatest)
        header.flags = 0xFF
        #expect(header.isLatest)
    }

    @Test func replyingChangesOnlyType() {
        let reply = sample.replying(as: PacketType.pong)
        var expected = sample.bytes
        expected[2] = PacketType.pong
        #expect(reply.bytes == expected)
    }
}
