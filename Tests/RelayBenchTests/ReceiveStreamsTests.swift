import RelayBench
import Testing

@Suite("ReceiveStreams")
struct ReceiveStreamsTests {
    @Test("one stream per distinct sender; an unknown sender is counted, not recorded")
    func senders() {
        var streams = ReceiveStreams(senders: [3, 5, 3])
        #expect(streams.count == 2)
        #expect(streams.record(sender: 9, sequence: 1, sentAt: 0, receivedAt: 10) == nil)
        #expect(streams.unknownSenderArrivals == 1)
        #expect(streams.record(sender: 3, sequence: 1, sentAt: 0, receivedAt: 10) == .inOrder)
        #expect(streams.jitterNanos.isEmpty, "one arrival per stream gives no jitter yet")
    }

    @Test("each stream has its own sequence and jitter state")
    func separateStreams() {
        var streams = ReceiveStreams(senders: [1, 2])
        // Sender 1: transits 100, 116 ns → J = 1. Sender 2: transits 50, 50, 50 → J = 0.
        #expect(streams.record(sender: 1, sequence: 7, sentAt: 0, receivedAt: 100) == .inOrder)
        #expect(streams.record(sender: 2, sequence: 7, sentAt: 0, receivedAt: 50) == .inOrder)
        #expect(streams.record(sender: 1, sequence: 8, sentAt: 20, receivedAt: 136) == .inOrder)
        #expect(streams.record(sender: 2, sequence: 8, sentAt: 20, receivedAt: 70) == .inOrder)
        #expect(streams.record(sender: 2, sequence: 9, sentAt: 40, receivedAt: 90) == .inOrder)
        #expect(streams.jitterNanos.sorted() == [0, 1])
    }

    @Test("a reordered datagram counts for jitter, a duplicate does not")
    func reorderAndDuplicate() {
        var streams = ReceiveStreams(senders: [1])
        #expect(streams.record(sender: 1, sequence: 1, sentAt: 0, receivedAt: 100) == .inOrder)
        #expect(streams.record(sender: 1, sequence: 3, sentAt: 40, receivedAt: 140) == .inOrder)
        // A duplicate arriving very late would add |D| = 1000 if it counted.
        #expect(streams.record(sender: 1, sequence: 3, sentAt: 40, receivedAt: 1_140) == .duplicate)
        #expect(streams.jitterNanos == [0])
        // The late sequence 2: transit 132 after 100, |D| = 32, J = 2.
        #expect(streams.record(sender: 1, sequence: 2, sentAt: 20, receivedAt: 152) == .reordered)
        #expect(streams.jitterNanos == [2])
    }

    /// In a tick session a receiver sees each sender's LATEST states with gaps where the relay
    /// superseded one: every arrival is in order, none reordered, and the gaps are left to the
    /// superseded count (the summary's accounting), not called lost here.
    @Test("superseded states leave gaps that are in order, never reordered")
    func supersededGapsAreInOrder() {
        var streams = ReceiveStreams(senders: [4])
        // One tick per 33 ms; the sender sent 1 ... 12, the relay kept 1, 3, 4, 7, 8, 12.
        let kept: [UInt32] = [1, 3, 4, 7, 8, 12]
        for (tick, sequence) in kept.enumerated() {
            let sentAt = UInt64(sequence) * 16_000_000
            #expect(streams.record(sender: 4, sequence: sequence, sentAt: sentAt, receivedAt: UInt64(tick + 1) * 33_000_000) == .inOrder)
        }
        #expect(streams.jitterNanos.count == 1)
    }
}
