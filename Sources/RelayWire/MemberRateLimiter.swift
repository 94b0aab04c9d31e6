/// The per-member data-plane limits of PROTOCOL.md §2.3: a packet bucket and a byte
/// bucket, each holding one second of its rate and full at join.
public struct MemberRateLimiter: Hashable, Sendable {
    /// Counts datagrams.
    public private(set) var packets: TokenBucket
    /// Counts datagram bytes, header included.
    public private(set) var bytes: TokenBucket

    /// Creates a limiter with both buckets full.
    ///
    /// - Parameters:
    ///   - packetsPerSecond: `memberPacketRate`; also the packet burst.
    ///   - bytesPerSecond: `memberByteRate`; also the byte burst.
    ///   - nowNanos: The current reading of the monotonic clock, in nanoseconds.
    public init(packetsPerSecond: Double, bytesPerSecond: Double, nowNanos: UInt64) {
        packets = TokenBucket(ratePerSecond: packetsPerSecond, burst: packetsPerSecond, nowNanos: nowNanos)
        bytes = TokenBucket(ratePerSecond: bytesPerSecond, burst: bytesPerSecond, nowNanos: nowNanos)
    }

    /// Charges one datagram of `bytes` bytes if both buckets have room.
    ///
    /// Neither bucket is charged unless both can be, because a dropped datagram is
    /// not charged to the limits at all.
    ///
    /// - Returns: Whether the datagram may go; `false` means drop it as `rate_limited`.
    public mutating func admit(bytes count: Int, nowNanos: UInt64) -> Bool {
        let size = Double(count)
        guard packets.hasRoom(for: 1, nowNanos: nowNanos),
            bytes.hasRoom(for: size, nowNanos: nowNanos)
        else { return false }
        packets.take(1, nowNanos: nowNanos)
        bytes.take(size, nowNanos: nowNanos)
        return true
    }
}
