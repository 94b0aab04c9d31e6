import Testing

@testable import RelayWire

@Suite struct ReplayWindowTests {
    static func window(recording sequences: [UInt32]) -> ReplayWindow {
        var window = ReplayWindow()
        for sequence in sequences { window.record(sequence) }
        return window
    }

    @Test(arguments: [0, 1, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF] as [UInt32])
    func emptyWindowAcceptsAnything(sequence: UInt32) {
        #expect(ReplayWindow().isFresh(sequence))
        #expect(ReplayWindow().highest == nil)
    }

    @Test func recordedSequenceIsDuplicate() {
        let window = Self.window(recording: [7])
        #expect(!window.isFresh(7))
        #expect(window.isFresh(8))
        #expect(window.isFresh(6))
    }

    @Test func checkingDoesNotRecord() {
        let window = Self.window(recording: [7])
        #expect(window.isFresh(8))
        #expect(window.isFresh(8))
    }

    @Test func coversHighestAnd63Below() {
        let window = Self.window(recording: [1000])
        #expect(window.isFresh(1000 - 63))
        #expect(!window.isFresh(1000 - 64))
        #expect(!window.isFresh(0))
    }

    @Test func everySlotInTheWindowIsTrackedSeparately() {
        var window = Self.window(recording: [100])
        for behind in stride(from: 1, through: 63, by: 2) as StrideThrough<UInt32> {
            window.record(100 - behind)
        }
        for behind in 0...63 as ClosedRange<UInt32> {
            let recorded = behind == 0 || behind % 2 == 1
            #expect(window.isFresh(100 - behind) == !recorded, "behind \(behind)")
        }
    }

    @Test func outOfOrderWithinWindowIsFreshOnce() {
        var window = Self.window(recording: [10, 12])
        #expect(window.isFresh(11))
        window.record(11)
        #expect(!window.isFresh(11))
        #expect(window.highest == 12)
    }

    @Test func slidingKeepsBitsThatStayInside() {
        var window = Self.window(recording: [100, 98])
        window.record(110)
        #expect(!window.isFresh(100))
        #expect(!window.isFresh(98))
        #expect(window.isFresh(99))
        window.record(161)  // 98 is now 63 behind, still inside
        #expect(!window.isFresh(98))
        #expect(window.isFresh(99))
        window.record(162)  // 98 is 64 behind: too old; 99 is 63 behind and unrecorded
        #expect(!window.isFresh(98))
        #expect(window.isFresh(99))
        #expect(window.isFresh(100 + 63))
    }

    @Test(arguments: [63, 64, 65, 1000, 0x7FFF_FFFF] as [UInt32])
    func bigJumpsForgetOldBits(jump: UInt32) {
        var window = Self.window(recording: [5])
        window.record(5 &+ jump)
        #expect(window.highest == 5 &+ jump)
        #expect(!window.isFresh(5 &+ jump))
        #expect(window.isFresh(5 &+ jump &- 1))
        #expect(window.isFresh(5) == false)
        #expect(window.isFresh(6) == (jump <= 64))
    }

    @Test func wrapsAroundZero() {
        var window = Self.window(recording: [0xFFFF_FFFE, 0xFFFF_FFFF])
        #expect(window.isFresh(0))
        window.record(0)
        window.record(2)
        #expect(window.highest == 2)
        #expect(!window.isFresh(0xFFFF_FFFF))
        #expect(!window.isFresh(0xFFFF_FFFE))
        #expect(window.isFresh(0xFFFF_FFFD))
        #expect(window.isFresh(1))
        #expect(!window.isFresh(2 &- 64))
        #expect(window.isFresh(2 &- 63))
    }

    @Test func halfwayAroundIsNeverFresh() {
        let window = Self.window(recording: [0x10])
        #expect(!window.isFresh(0x8000_0010))
        #expect(window.isFresh(0x8000_000F))
        #expect(!window.isFresh(0x8000_0011))
    }

    @Test func recordingTooOldChangesNothing() {
        var window = Self.window(recording: [1000])
        let before = window
        window.record(10)
        window.record(1000 &+ 0x8000_0000)
        #expect(window == before)
    }

    @Test func recordingDuplicateIsIdempotent() {
        var window = Self.window(recording: [5, 3])
        let before = window
        window.record(5)
        window.record(3)
        #expect(window == before)
    }
}
