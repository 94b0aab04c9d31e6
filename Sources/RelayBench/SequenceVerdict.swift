/// How a received sequence number relates to what a ``SequenceTracker`` has seen before.
public enum SequenceVerdict: Sendable, Hashable {
    /// First sighting, above the highest sequence seen so far.
    ///
    /// Sequences skipped on the way up are not reorders: they are counted as loss by the
    /// caller (expected minus delivered), or as ``reordered`` should they arrive later.
    case inOrder

    /// First sighting, below the highest sequence seen so far, or too old for the tracker's
    /// window to tell (see ``SequenceTracker/windowSize``).
    case reordered

    /// Seen before, within the tracker's window.
    case duplicate
}
