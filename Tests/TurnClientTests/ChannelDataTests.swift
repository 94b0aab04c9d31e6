import Testing
import TurnClient

@Suite("ChannelData framing")
struct ChannelDataTests {
    @Test(arguments: [0, 1, 3, 4, 5, 100, 1400])
    func roundTrip(length: Int) throws {
        let payload = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        for padded in [false, true] {
            let frame = ChannelData.encode(channel: 0x4ABC, payload: payload, padded: padded)
            #expect(frame.count == 4 + length + (padded ? (4 - length % 4) % 4 : 0))
            #expect(Array(frame[..<4]) == [0x4A, 0xBC, UInt8(length >> 8), UInt8(length & 0xFF)])
            let parsed = try #require(frame.withUnsafeBytes { bytes in ChannelData.parse(bytes).map { ($0.channel, Array($0.payload)) } })
            #expect(parsed.0 == 0x4ABC)
            #expect(parsed.1 == payload)
        }
    }

    @Test func rejectsFramesTheRFCForbids() {
        let short: [UInt8] = [0x40, 0x00, 0x00]
        let truncated: [UInt8] = [0x40, 0x00, 0x00, 0x08, 1, 2, 3]
        let lowChannel: [UInt8] = [0x3F, 0xFF, 0x00, 0x00]
        let highChannel: [UInt8] = [0x80, 0x00, 0x00, 0x00]
        for frame in [short, truncated, lowChannel, highChannel] {
            #expect(frame.withUnsafeBytes { ChannelData.parse($0) == nil })
        }
        #expect([UInt8]([0x7F, 0xFF, 0, 0]).withUnsafeBytes { ChannelData.parse($0)?.channel } == 0x7FFF)
    }

    @Test func bindableRangeIsRFC8656s() {
        #expect(ChannelData.bindableChannels == 0x4000...0x4FFF)
    }
}
