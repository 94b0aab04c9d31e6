/// The per-stream state of one receiver: for each sender it expects, a ``SequenceTracker`` and
/// an ``InterarrivalJitter``, allocated once when the senders are known.
///
/// A stream is one sender → receiver pair. The table is laid out for the receive path: senders
/// map to slots through a dictionary that is only read after ``init(senders:)``, and the
/// slots live in two arrays mutated in place, so ``record(sender:sequence:sentAt:receivedAt:)``
/// never allocates as long as the value is not copied between calls (keep it as a stored
/// property and mutate it there).
public struct ReceiveStreams: Sendable {
    private let slots: [UInt16: Int]
    private var sequences: [SequenceTracker]
    private var jitters: [InterarrivalJitter]

    /// Arrivals from a sender not given to ``init(senders:)``; they are not recorded.
    public private(set) var unknownSenderArrivals: UInt64 = 0

    /// Creates one stream per sender.
    ///
    /// - Parameter senders: The ids the receiver will see as senders; a repeated id gets one stream.
    public init(senders: some Sequence<UInt16>) {
        var slots: [UInt16: Int] = [:]
        for sender in senders where slots[sender] == nil {
            slots[sender] = slots.count
        }
        self.slots = slots
        sequences = (0 ..< slots.count).map { _ in SequenceTracker() }
        jitters = [InterarrivalJitter](repeating: InterarrivalJitter(), count: slots.count)
    }

    /// The number of streams.
    public var count: Int {
        slots.count
    }

    /// Classifies one arrival and, unless it is a duplicate, folds it into its stream's jitter.
    ///
    /// - Parameters:
    ///   - sender: The sender's id.
    ///   - sequence: The sender's sequence number.
    ///   - sentAt: The send time the datagram carries, in nanoseconds.
    ///   - receivedAt: The receive time, in nanoseconds.
    /// - Returns: The sequence verdict, or nil for a sender without a stream (counted in
    ///   ``unknownSenderArrivals``).
    public mutating func record(sender: UInt16, sequence: UInt32, sentAt: UInt64, receivedAt: UInt64) -> SequenceVerdict? {
        guard let slot = slots[sender] else {
            unknownSenderArrivals += 1
            return nil
        }
        let verdict = sequences[slot].record(sequence)
        if verdict != .duplicate {
            jitters[slot].record(sentAt: sentAt, receivedAt: receivedAt)
        }
        return verdict
    }

    /// The final jitter estimate `J` of every stream that received at least two datagrams, in
    /// nanoseconds, in no particular order.
    public var jitterNanos: [Double] {
        jitters.filter { $0.differences > 0 }.map(\.jitterNanos)
    }
}
