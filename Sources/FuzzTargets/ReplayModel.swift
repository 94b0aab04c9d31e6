/// PROTOCOL.md §2.1 and §2.3's per-sender DATA state written from the text alone, to check the
/// data plane against: the replay window (the highest sequence forwarded and the 63 below it,
/// RFC 1982 serial arithmetic) and the newest LATEST sequence forwarded.
///
/// Sequences exactly 2^31 apart compare as neither newer nor older (RFC 1982 leaves them
/// undefined), so such a sequence is neither fresh nor stale.
struct ReplayModel {
    private var highest: UInt32?
    private var forwarded: Set<UInt32> = []
    private var newestLatest: UInt32?

    /// Whether `a` lies 1 … 2^31 − 1 steps after `b`.
    static func isNewer(_ a: UInt32, than b: UInt32) -> Bool {
        (1..<0x8000_0000).contains(a &- b)
    }

    /// Whether DATA with `sequence` passes the `duplicate` row.
    func isFresh(_ sequence: UInt32) -> Bool {
        guard let highest else { return true }
        if Self.isNewer(sequence, than: highest) { return true }
        return highest &- sequence < 64 && !forwarded.contains(sequence)
    }

    /// Whether LATEST DATA with `sequence` is dropped by the `stale` row.
    func isStale(_ sequence: UInt32) -> Bool {
        newestLatest.map { Self.isNewer($0, than: sequence) } ?? false
    }

    /// Records a forwarded DATA datagram.
    mutating func record(_ sequence: UInt32, isLatest: Bool) {
        if highest.map({ Self.isNewer(sequence, than: $0) }) ?? true { highest = sequence }
        forwarded.insert(sequence)
        let top = highest ?? sequence
        forwarded = forwarded.filter { top &- $0 < 64 }
        if isLatest && !isStale(sequence) { newestLatest = sequence }
    }
}
