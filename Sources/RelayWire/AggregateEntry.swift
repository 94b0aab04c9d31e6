/// One member's state inside an AGGREGATE datagram (PROTOCOL.md §8): the member and sequence of
/// the DATA datagram it came from, and that datagram's payload.
///
/// On the wire: `member` (u16), `sequence` (u32), `length` (u16), then `length` payload bytes,
/// big-endian. The payload is borrowed from the datagram it was read from.
public struct AggregateEntry {
    /// The bytes before an entry's payload: member, sequence and length.
    public static let headerSize = 8

    /// The member whose state this is.
    public let member: UInt16
    /// The sequence of the DATA datagram the state came from.
    public let sequence: UInt32
    /// The state's bytes, valid only as long as the memory it was read from.
    public let payload: UnsafeRawBufferPointer

    /// Creates an entry borrowing `payload`.
    public init(member: UInt16, sequence: UInt32, payload: UnsafeRawBufferPointer) {
        self.member = member
        self.sequence = sequence
        self.payload = payload
    }

    /// The bytes an entry with a payload of `payloadSize` bytes takes in an AGGREGATE.
    @inline(__always)
    public static func size(payload payloadSize: Int) -> Int {
        headerSize + payloadSize
    }
}
