/// RFC 3550's interarrival jitter (section 6.4.1) of one stream: a running estimate of how much
/// the transit time varies from one arrival to the next.
///
/// For two datagrams `i` and `j` received one after the other, `D(i, j) = (Rj − Ri) − (Sj − Si)`
/// with `R` the receive time and `S` the send time, and `J += (|D| − J) / 16`. The datagrams
/// count in the order they arrive, not in sequence order (as the RFC says), so a reordered one
/// is compared with the one received just before it; a lost one leaves no gap in the formula,
/// since the send times carry the spacing. The caller decides what a datagram of the stream
/// is (the bench leaves duplicates out: they are not new arrivals of the stream).
///
/// Only the difference of two transit times `R − S` enters, so a constant offset between the
/// sender's and the receiver's clocks cancels out. The estimate is kept in nanoseconds as a
/// `Double` (RFC 3550 appendix A.8 keeps it in scaled integers only to avoid floating point).
/// The value holds no heap storage: recording never allocates.
public struct InterarrivalJitter: Sendable, Equatable {
    /// The current estimate `J`, in nanoseconds; `0` until two datagrams have arrived.
    public private(set) var jitterNanos: Double = 0

    /// How many differences `D` have been folded into ``jitterNanos``: arrivals minus one.
    public private(set) var differences: UInt64 = 0

    /// The transit time `R − S` of the last arrival, or nil before the first.
    private var previousTransit: Int64?

    /// Creates an estimator that has seen nothing.
    public init() {}

    /// Folds in one arrival.
    ///
    /// - Parameters:
    ///   - sentAt: The send time `S` the datagram carries, in nanoseconds.
    ///   - receivedAt: The receive time `R`, in nanoseconds on the receiver's clock.
    public mutating func record(sentAt: UInt64, receivedAt: UInt64) {
        // Wrapping arithmetic: with clocks that differ the transit may read as negative.
        let transit = Int64(bitPattern: receivedAt &- sentAt)
        defer { previousTransit = transit }
        guard let previous = previousTransit else { return }
        let difference = Double(transit &- previous)
        jitterNanos += (difference.magnitude - jitterNanos) / 16
        differences += 1
    }
}
