import RelayBench
import Testing

@Suite("SequenceTracker")
struct SequenceTrackerTests {
    /// Feeds `sequences` to `tracker` in order and returns its verdicts.
    private func feed(_ sequences: [UInt32], to tracker: inout SequenceTracker) -> [SequenceVerdict] {
        sequences.map { tracker.record($0) }
    }

    @Test("the first sequence is in order, whatever its value", arguments: [UInt32(0), 1, 12_345, UInt32.max])
    func firstSequence(_ sequence: UInt32) {
        var tracker = SequenceTracker()
        #expect(tracker.highestSequence == nil)
        let verdict = tracker.record(sequence)
        #expect(verdict == .inOrder)
        #expect(tracker.highestSequence == sequence)
    }

    @Test("gaps are loss, not reorder")
    func inOrderWithGaps() {
        var tracker = SequenceTracker()
        let verdicts = feed([1, 2, 5, 100, 5_000, 5_001], to: &tracker)
        #expect(verdicts == Array(repeating: .inOrder, count: 6))
        #expect(tracker.highestSequence == 5_001)
    }

    @Test("a late first sighting is reordered, a second sighting is a duplicate")
    func reorderAndDuplicate() {
        var tracker = SequenceTracker()
        let verdicts = feed([1, 3, 2, 2, 3, 1, 4], to: &tracker)
        #expect(verdicts == [.inOrder, .inOrder, .reordered, .duplicate, .duplicate, .duplicate, .inOrder])
    }

    @Test("the last sequence of the window is remembered, the one before it is not")
    func windowEdge() {
        #expect(SequenceTracker.windowSize == 1_024)
        var tracker = SequenceTracker()
        // 2000 − 1023 is the oldest slot of the window: tracked exactly.
        // 2000 − 1024 is outside: reordered every time, as documented.
        let verdicts = feed([0, 2_000, 977, 977, 976, 976], to: &tracker)
        #expect(verdicts == [.inOrder, .inOrder, .reordered, .duplicate, .reordered, .reordered])
    }

    @Test("advancing forgets the slots it reuses")
    func advancingClearsReusedSlots() {
        var tracker = SequenceTracker()
        let filling = feed(Array(0 ..< 1_024), to: &tracker)
        #expect(filling == Array(repeating: .inOrder, count: 1_024))
        // Jumping by 501 reuses the slots of 0 ... 500 for 1024 ... 1524.
        let verdicts = feed([1_524, 501, 1_025, 1_025, 500], to: &tracker)
        #expect(verdicts == [.inOrder, .duplicate, .reordered, .duplicate, .reordered])
    }

    @Test("a jump of a whole window or more clears everything")
    func jumpBeyondWindow() {
        var tracker = SequenceTracker()
        // 11 + 1024 shares 11's slot: a first sighting after the jump. 13 is outside the window.
        let verdicts = feed([10, 11, 12, 12 + 1_024, 11 + 1_024, 13 + 1_024, 13], to: &tracker)
        #expect(verdicts == [.inOrder, .inOrder, .inOrder, .inOrder, .reordered, .inOrder, .reordered])
    }

    @Test("wrap-around at UInt32.max keeps counting in order")
    func wrapAround() {
        var tracker = SequenceTracker()
        let max = UInt32.max
        let upward = feed([max - 2, max - 1, max, 0, 1], to: &tracker)
        #expect(upward == Array(repeating: .inOrder, count: 5))
        #expect(tracker.highestSequence == 1)
        let late = feed([max, 0, max - 3, max - 3], to: &tracker)
        #expect(late == [.duplicate, .duplicate, .reordered, .duplicate])
    }

    @Test("reordering across the wrap")
    func reorderAcrossWrap() {
        var tracker = SequenceTracker()
        let max = UInt32.max
        let verdicts = feed([max - 1, 1, 0, max, 2], to: &tracker)
        #expect(verdicts == [.inOrder, .inOrder, .reordered, .reordered, .inOrder])
    }

    @Test("half the number space ahead counts as behind (RFC 1982 undefined case)")
    func halfSpace() {
        var tracker = SequenceTracker()
        let first = feed([0, 1 << 31], to: &tracker)
        #expect(first == [.inOrder, .reordered])
        #expect(tracker.highestSequence == 0)
        let next = tracker.record((1 << 31) - 1)
        #expect(next == .inOrder)
    }
}
