/// A received AGGREGATE datagram (PROTOCOL.md §8) whose layout has been checked: its header and
/// its entries, in the order the relay wrote them (member-id order).
///
/// ``decode(_:)`` checks the whole datagram before anything is read from it, so a receiver hands
/// out either every entry or none: a datagram whose last entry is cut short is malformed as a
/// whole. The entries borrow the datagram's memory.
public struct AggregateDatagram {
    /// The header as received: `target` is the receiving member, `sequence` the session's tick
    /// number. Flags and member are not checked (reserved on receipt).
    public let header: PacketHeader
    /// The entries, borrowing the datagram's bytes.
    public let entries: AggregateEntries

    /// Checks and reads an AGGREGATE.
    ///
    /// - Parameter bytes: The whole UDP payload, header included.
    /// - Returns: The datagram, or ``DropReason/malformed`` when it is shorter than a header, has
    ///   the wrong magic, version or type, or its entries do not fill its payload exactly (an
    ///   entry header cut short, or a length running past the end). An AGGREGATE without entries
    ///   is well-formed; the relay never sends one.
    public static func decode(_ bytes: UnsafeRawBufferPointer) -> Result<AggregateDatagram, DropReason> {
        guard let header = PacketHeader(parsing: bytes), header.magic == PacketHeader.magic,
              header.version == PacketHeader.version, header.type == PacketType.aggregate else {
            return .failure(.malformed)
        }
        let body = UnsafeRawBufferPointer(rebasing: bytes[PacketHeader.size...])
        var offset = 0
        var count = 0
        while offset < body.count {
            guard body.count - offset >= AggregateEntry.headerSize else { return .failure(.malformed) }
            let length = Int(UInt16(bigEndian: body.loadUnaligned(fromByteOffset: offset + 6, as: UInt16.self)))
            guard body.count - offset - AggregateEntry.headerSize >= length else { return .failure(.malformed) }
            offset += AggregateEntry.headerSize + length
            count += 1
        }
        return .success(AggregateDatagram(header: header, entries: AggregateEntries(body: body, count: count)))
    }

    /// Checks and reads an AGGREGATE held in an array, as the raw-buffer overload does; the
    /// entries borrow the array's storage only inside `body`.
    public static func decode<R>(_ bytes: [UInt8], _ body: (Result<AggregateDatagram, DropReason>) throws -> R) rethrows -> R {
        try bytes.withUnsafeBytes { try body(decode($0)) }
    }
}

/// The entries of a checked ``AggregateDatagram``, in wire order; iterating allocates nothing.
public struct AggregateEntries: Sequence {
    private let body: UnsafeRawBufferPointer
    /// The number of entries.
    public let count: Int

    /// Entries over `body`, which ``AggregateDatagram/decode(_:)`` checked holds exactly `count`.
    fileprivate init(body: UnsafeRawBufferPointer, count: Int) {
        self.body = body
        self.count = count
    }

    /// Walks the entries front to back.
    public struct Iterator: IteratorProtocol {
        private let body: UnsafeRawBufferPointer
        private var offset = 0

        fileprivate init(body: UnsafeRawBufferPointer) {
            self.body = body
        }

        /// The next entry, or nil after the last.
        public mutating func next() -> AggregateEntry? {
            guard body.count - offset >= AggregateEntry.headerSize else { return nil }
            let member = UInt16(bigEndian: body.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
            let sequence = UInt32(bigEndian: body.loadUnaligned(fromByteOffset: offset + 2, as: UInt32.self))
            let length = Int(UInt16(bigEndian: body.loadUnaligned(fromByteOffset: offset + 6, as: UInt16.self)))
            let start = offset + AggregateEntry.headerSize
            // decode checked every length; this guard only keeps a hand-made value in bounds.
            guard body.count - start >= length else { return nil }
            offset = start + length
            return AggregateEntry(member: member, sequence: sequence,
                                  payload: UnsafeRawBufferPointer(rebasing: body[start..<(start + length)]))
        }
    }

    /// An iterator from the first entry.
    public func makeIterator() -> Iterator {
        Iterator(body: body)
    }

    /// The number of entries (known without walking them).
    public var underestimatedCount: Int { count }
}
