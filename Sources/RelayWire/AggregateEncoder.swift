/// Writes one AGGREGATE datagram (PROTOCOL.md §8) into memory the caller owns: the header, then
/// whole entries for as long as they fit.
///
/// The buffer's size is the datagram's limit, so a caller that hands it `maxDatagram` bytes can
/// never produce a larger datagram, and an entry that does not fit is refused whole (it goes into
/// the next datagram of the same tick). Nothing is allocated: the relay writes its AGGREGATEs into
/// per-loop scratch memory with it, once per receiver and tick.
public struct AggregateEncoder {
    /// The fixed cost of one state in an AGGREGATE: the packet header and one entry header. A
    /// state of at most `maxDatagram − overhead` bytes always fits into a datagram of its own.
    public static let overhead = PacketHeader.size + AggregateEntry.headerSize

    private let buffer: UnsafeMutableRawBufferPointer
    /// The bytes written so far, header included.
    public private(set) var count: Int
    /// The entries written so far.
    public private(set) var entryCount = 0

    /// Starts an AGGREGATE in `buffer` by writing its header: type 6, flags 0, member 0, `session`
    /// (the session id's low 32 bits), `target` (the receiving member) and `tick` as the sequence.
    ///
    /// - Precondition: `buffer.count >= PacketHeader.size`; `buffer` stays valid while the encoder is used.
    public init(into buffer: UnsafeMutableRawBufferPointer, session: UInt32, target: UInt16, tick: UInt32) {
        precondition(buffer.count >= PacketHeader.size, "an AGGREGATE needs room for its 16-byte header")
        self.buffer = buffer
        PacketHeader(type: PacketType.aggregate, flags: 0, session: session, member: 0, target: target, sequence: tick)
            .write(to: buffer)
        count = PacketHeader.size
    }

    /// Whether an entry with `payloadSize` payload bytes still fits.
    @inline(__always)
    public func fits(payload payloadSize: Int) -> Bool {
        payloadSize <= Int(UInt16.max) && buffer.count - count >= AggregateEntry.size(payload: payloadSize)
    }

    /// Appends one entry, whole, if it fits.
    ///
    /// - Returns: `false`, writing nothing, when the entry does not fit in what is left of the
    ///   buffer (or its payload is over 65535 bytes, which no length field can carry).
    @discardableResult
    public mutating func append(member: UInt16, sequence: UInt32, payload: UnsafeRawBufferPointer) -> Bool {
        guard fits(payload: payload.count) else { return false }
        buffer.storeBytes(of: member.bigEndian, toByteOffset: count, as: UInt16.self)
        buffer.storeBytes(of: sequence.bigEndian, toByteOffset: count + 2, as: UInt32.self)
        buffer.storeBytes(of: UInt16(payload.count).bigEndian, toByteOffset: count + 6, as: UInt16.self)
        count += AggregateEntry.headerSize
        if payload.count > 0 {
            UnsafeMutableRawBufferPointer(rebasing: buffer[count..<(count + payload.count)]).copyMemory(from: payload)
            count += payload.count
        }
        entryCount += 1
        return true
    }

    /// Appends `entry` if it fits; see ``append(member:sequence:payload:)``.
    @discardableResult
    public mutating func append(_ entry: AggregateEntry) -> Bool {
        append(member: entry.member, sequence: entry.sequence, payload: entry.payload)
    }

    /// The datagram written so far, borrowed from the caller's buffer.
    public var bytes: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: buffer[..<count])
    }
}
