/// Drops LATEST packets that are older than the newest LATEST packet already
/// forwarded from the same sender, whatever its target (PROTOCOL.md §2.1).
///
/// An equal sequence is not stale: the ``ReplayWindow``, checked first, already
/// rejects it as a duplicate, so `stale` is counted only for genuinely older packets.
public struct LatestFilter: Hashable, Sendable {
    /// The newest LATEST sequence forwarded, or `nil` before the first.
    public private(set) var newest: UInt32?

    /// Creates a filter that has seen no LATEST packet.
    public init() {}

    /// Whether a LATEST packet with `sequence` must be dropped as `stale`.
    ///
    /// - Returns: `true` when a strictly newer LATEST sequence (RFC 1982) was
    ///   recorded; `false` when none was, or for an equal or incomparable one.
    public func isStale(_ sequence: UInt32) -> Bool {
        guard let newest else { return false }
        return SerialNumber.isNewer(newest, than: sequence)
    }

    /// Records the sequence of a forwarded LATEST packet unless a newer one is already recorded.
    ///
    /// An incomparable sequence (2^31 away) that ``isStale(_:)`` let through replaces
    /// the recorded one, so the filter follows what was actually forwarded.
    public mutating func record(_ sequence: UInt32) {
        guard !isStale(sequence) else { return }
        newest = sequence
    }
}
