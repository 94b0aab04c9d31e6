/// A 64-packet anti-replay window over a sender's DATA sequences, as in DTLS
/// (RFC 6347 §4.1.2.6) with RFC 1982 serial arithmetic.
///
/// It covers the highest sequence recorded and the 63 below it; anything older is
/// a duplicate. Checking and recording are separate because a sequence counts only
/// once its packet is actually forwarded (PROTOCOL.md §2.3).
public struct ReplayWindow: Hashable, Sendable {
    /// The number of sequences the window covers, the highest included.
    public static let width: UInt32 = 64

    /// The highest sequence recorded, or `nil` before the first.
    public private(set) var highest: UInt32?
    // Bit i set: sequence `highest - i` was recorded.
    private var seen: UInt64 = 0

    /// Creates an empty window, which accepts any sequence.
    public init() {}

    /// Whether `sequence` may be forwarded: it is newer than the highest recorded, or
    /// within the window and not yet recorded.
    ///
    /// - Returns: `false` for a duplicate or a sequence older than the window,
    ///   including one exactly 2^31 from the highest (see ``SerialNumber``).
    public func isFresh(_ sequence: UInt32) -> Bool {
        guard let highest else { return true }
        if SerialNumber.isNewer(sequence, than: highest) { return true }
        let behind = highest &- sequence
        guard behind < Self.width else { return false }
        return seen & (1 << UInt64(behind)) == 0
    }

    /// Records a forwarded sequence, sliding the window forward if it is newer.
    ///
    /// Recording a sequence older than the window has no effect.
    public mutating func record(_ sequence: UInt32) {
        guard let current = highest else {
            highest = sequence
            seen = 1
            return
        }
        if SerialNumber.isNewer(sequence, than: current) {
            let ahead = sequence &- current
            seen = ahead >= Self.width ? 1 : (seen << UInt64(ahead)) | 1
            highest = sequence
        } else {
            let behind = current &- sequence
            if behind < Self.width {
                seen |= 1 << UInt64(behind)
            }
        }
    }
}
