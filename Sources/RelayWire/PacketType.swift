/// The packet types of the data channel (PROTOCOL.md §2.1).
///
/// Plain `UInt8` constants rather than an enum: the type byte arrives from the
/// network and must be carried and compared as-is, including unknown values.
public enum PacketType {
    /// Client → relay: a member proves its token (and later its address).
    public static let bind: UInt8 = 1
    /// Relay → client: answer to ``bind``, empty or carrying an address cookie.
    public static let bindAck: UInt8 = 2
    /// Client → relay → members: opaque application bytes.
    public static let data: UInt8 = 3
    /// Client → relay: RTT probe and keepalive, at most 64 payload bytes.
    public static let ping: UInt8 = 4
    /// Relay → client: the ``ping`` payload, unchanged.
    public static let pong: UInt8 = 5
    /// Relay → client: the latest states of the other members of a tick session, once per tick
    /// (PROTOCOL.md §8); ``AggregateEncoder`` writes it, ``AggregateDatagram`` reads it.
    public static let aggregate: UInt8 = 6
}
