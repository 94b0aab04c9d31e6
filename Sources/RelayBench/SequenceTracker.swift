/// Classifies the sequence numbers of one (receiver, sender) stream as in order, reordered
/// or duplicated.
///
/// The tracker remembers the highest sequence seen and, in a bitmap, which of the last
/// ``windowSize`` sequences at or below it have arrived. Comparisons use serial-number
/// arithmetic (RFC 1982) on `UInt32`, so a stream that wraps from `UInt32.max` to `0`
/// keeps counting in order. A sequence half the number space (2³¹) or more behind the
/// highest one is, as RFC 1982 leaves it undefined, treated as behind.
///
/// The bitmap is allocated once in ``init()``; ``record(_:)`` never allocates as long as
/// the value is not copied between calls (keep one tracker per stream and mutate it in
/// place, e.g. through `dictionary[key, default: SequenceTracker()]`).
///
/// - Note: A sequence more than ``windowSize`` − 1 behind the highest is counted as
///   ``SequenceVerdict/reordered`` every time it arrives, even when it is in fact a
///   duplicate: the window no longer knows. With 1024 slots that needs a duplicate delayed
///   by more than 1024 later datagrams of the same stream.
public struct SequenceTracker: Sendable {
    /// The number of sequences, counting back from the highest, whose arrival is remembered.
    public static let windowSize = 1024

    private static let wordCount = windowSize / UInt64.bitWidth

    /// One bit per sequence `s`, at position `s % windowSize`, for the sequences in
    /// `highest − (windowSize − 1) ... highest`.
    private var window: [UInt64]

    /// The highest sequence seen so far in serial order, or `nil` before the first one.
    public private(set) var highestSequence: UInt32?

    /// Creates a tracker that has seen nothing.
    public init() {
        window = [UInt64](repeating: 0, count: Self.wordCount)
        highestSequence = nil
    }

    /// Classifies `sequence` and remembers it.
    ///
    /// - Parameter sequence: The sender's sequence number carried by the datagram.
    /// - Returns: ``SequenceVerdict/inOrder`` for a first sighting above the highest seen
    ///   (gaps are loss, not reorder), ``SequenceVerdict/reordered`` for a first sighting
    ///   below it or one older than the window, ``SequenceVerdict/duplicate`` for a sequence
    ///   seen before within the window.
    public mutating func record(_ sequence: UInt32) -> SequenceVerdict {
        guard let highest = highestSequence else {
            highestSequence = sequence
            setBit(sequence)
            return .inOrder
        }
        let ahead = sequence &- highest
        if ahead == 0 {
            return .duplicate
        }
        if ahead < 1 << 31 {
            advance(from: highest, by: ahead)
            highestSequence = sequence
            setBit(sequence)
            return .inOrder
        }
        let behind = highest &- sequence
        guard behind < UInt32(Self.windowSize) else {
            return .reordered
        }
        if testBit(sequence) {
            return .duplicate
        }
        setBit(sequence)
        return .reordered
    }

    /// Forgets the slots that `highest + 1 ... highest + distance` will reuse.
    private mutating func advance(from highest: UInt32, by distance: UInt32) {
        if distance >= UInt32(Self.windowSize) {
            for index in window.indices {
                window[index] = 0
            }
            return
        }
        var sequence = highest
        for _ in 0 ..< distance {
            sequence &+= 1
            clearBit(sequence)
        }
    }

    private static func slot(_ sequence: UInt32) -> (word: Int, mask: UInt64) {
        let position = Int(sequence % UInt32(windowSize))
        return (position / UInt64.bitWidth, 1 << UInt64(position % UInt64.bitWidth))
    }

    private mutating func setBit(_ sequence: UInt32) {
        let slot = Self.slot(sequence)
        window[slot.word] |= slot.mask
    }

    private mutating func clearBit(_ sequence: UInt32) {
        let slot = Self.slot(sequence)
        window[slot.word] &= ~slot.mask
    }

    private func testBit(_ sequence: UInt32) -> Bool {
        let slot = Self.slot(sequence)
        return window[slot.word] & slot.mask != 0
    }
}
