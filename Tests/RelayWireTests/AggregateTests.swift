import Testing

@testable import RelayWire

/// AGGREGATE (PROTOCOL.md §8): the encoder's bytes against the layout written out by hand, whole
/// entries only, and a decoder that hands out every entry of a well-formed datagram or none.
@Suite struct AggregateTests {
    /// The 16-byte header of an AGGREGATE, by hand: type 6, flags 0, member 0.
    static func header(session: UInt32, target: UInt16, tick: UInt32) -> [UInt8] {
        [0x47, 1, 6, 0] + be(session) + [0, 0] + be(target) + be(tick)
    }

    static func entry(_ member: UInt16, _ sequence: UInt32, _ payload: [UInt8]) -> [UInt8] {
        be(member) + be(sequence) + be(UInt16(payload.count)) + payload
    }

    static func be<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
        (0..<(T.bitWidth / 8)).reversed().map { UInt8(truncatingIfNeeded: value >> ($0 * 8)) }
    }

    /// Encodes `entries` into a buffer of `size` bytes; returns the bytes and which entries fit.
    static func encode(size: Int, session: UInt32 = 0x0A0B_0C0D, target: UInt16 = 3, tick: UInt32 = 7,
                       _ entries: [(UInt16, UInt32, [UInt8])]) -> (bytes: [UInt8], accepted: [Bool]) {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 8)
        defer { buffer.deallocate() }
        var encoder = AggregateEncoder(into: buffer, session: session, target: target, tick: tick)
        let accepted = entries.map { entry in entry.2.withUnsafeBytes { encoder.append(member: entry.0, sequence: entry.1, payload: $0) } }
        return (Array(encoder.bytes), accepted)
    }

    static func decoded(_ bytes: [UInt8]) -> (header: PacketHeader, entries: [(UInt16, UInt32, [UInt8])])? {
        AggregateDatagram.decode(bytes) { result in
            guard case .success(let aggregate) = result else { return nil }
            return (aggregate.header, aggregate.entries.map { ($0.member, $0.sequence, Array($0.payload)) })
        }
    }

    @Test func constants() {
        #expect(PacketType.aggregate == 6)
        #expect(AggregateEntry.headerSize == 8)
        #expect(AggregateEncoder.overhead == 24)
    }

    @Test func encodesTheHeaderThenEntriesBigEndianInOrder() {
        let (bytes, accepted) = Self.encode(size: 1200, [(2, 0x0102_0304, [0xAA, 0xBB]), (5, 9, []), (0xFFFE, 0xFFFF_FFFF, [1])])
        #expect(accepted == [true, true, true])
        #expect(bytes == Self.header(session: 0x0A0B_0C0D, target: 3, tick: 7)
            + [0, 2, 1, 2, 3, 4, 0, 2, 0xAA, 0xBB]
            + [0, 5, 0, 0, 0, 9, 0, 0]
            + [0xFF, 0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0, 1, 1])
    }

    @Test func anEmptyEncoderIsJustTheHeader() {
        let (bytes, _) = Self.encode(size: 16, [])
        #expect(bytes == Self.header(session: 0x0A0B_0C0D, target: 3, tick: 7))
    }

    @Test func anEntryThatDoesNotFitIsRefusedWholeAndLaterSmallerOnesStillGoIn() {
        // 16 + (8 + 10) = 34; a second entry of 8 + 10 needs 52 > 48; one of 8 + 6 fits exactly.
        let (bytes, accepted) = Self.encode(size: 48, [(1, 1, [UInt8](repeating: 1, count: 10)),
                                                       (2, 2, [UInt8](repeating: 2, count: 10)),
                                                       (3, 3, [UInt8](repeating: 3, count: 6))])
        #expect(accepted == [true, false, true])
        #expect(bytes.count == 48)
        #expect(Self.decoded(bytes)?.entries.map(\.0) == [1, 3])
    }

    @Test func aStateOfMaxDatagramMinus24FillsAnAggregateExactly() {
        let state = [UInt8](repeating: 0x5A, count: 1200 - AggregateEncoder.overhead)
        let (bytes, accepted) = Self.encode(size: 1200, [(4, 44, state), (5, 45, [])])
        #expect(accepted == [true, false])
        #expect(bytes.count == 1200)
    }

    @Test func decodesWhatItEncodes() throws {
        let entries: [(UInt16, UInt32, [UInt8])] = [(1, 10, [1, 2, 3]), (2, 20, []), (9, 0xDEAD_BEEF, [UInt8](repeating: 7, count: 300))]
        let (bytes, _) = Self.encode(size: 1472, session: 0x1234_5678, target: 2, tick: 0xFFFF_FFFF, entries)
        let decoded = try #require(Self.decoded(bytes))
        #expect(decoded.header == PacketHeader(type: PacketType.aggregate, session: 0x1234_5678, member: 0, target: 2, sequence: 0xFFFF_FFFF))
        #expect(decoded.entries.map(\.0) == [1, 2, 9])
        #expect(decoded.entries.map(\.1) == [10, 20, 0xDEAD_BEEF])
        #expect(decoded.entries.map(\.2) == entries.map(\.2))
    }

    @Test func anAggregateWithoutEntriesIsWellFormedAndEmpty() throws {
        let decoded = try #require(Self.decoded(Self.header(session: 1, target: 1, tick: 1)))
        #expect(decoded.entries.isEmpty)
    }

    @Test(arguments: [
        ("short header", Array(header(session: 1, target: 1, tick: 1).prefix(15))),
        ("wrong magic", [0x48] + header(session: 1, target: 1, tick: 1).dropFirst()),
        ("wrong version", [0x47, 2] + header(session: 1, target: 1, tick: 1).dropFirst(2)),
        ("DATA, not AGGREGATE", [0x47, 1, 3] + header(session: 1, target: 1, tick: 1).dropFirst(3)),
        ("entry header cut short", header(session: 1, target: 1, tick: 1) + entry(1, 1, [1]) + [0, 2, 0, 0, 0]),
        ("length past the end", header(session: 1, target: 1, tick: 1) + entry(1, 1, [1, 2, 3]).dropLast()),
        ("one trailing byte", header(session: 1, target: 1, tick: 1) + entry(1, 1, []) + [0]),
    ])
    func malformedAggregatesAreRefusedWhole(name: String, bytes: [UInt8]) {
        let verdict = AggregateDatagram.decode(bytes) { result -> DropReason? in
            if case .failure(let reason) = result { return reason }
            return nil
        }
        #expect(verdict == .malformed, "\(name)")
    }

    @Test func reservedFlagsAndAMemberFieldAreIgnoredOnReceipt() throws {
        var bytes = Self.header(session: 1, target: 1, tick: 1) + Self.entry(4, 5, [6])
        bytes[3] = 0xFF
        bytes[9] = 7
        #expect(try #require(Self.decoded(bytes)).entries.map(\.0) == [4])
    }

    @Test func entriesCountsWithoutWalking() throws {
        let bytes = Self.header(session: 1, target: 1, tick: 1) + Self.entry(1, 1, [1]) + Self.entry(2, 2, [])
        let count = AggregateDatagram.decode(bytes) { result in (try? result.get())?.entries.count }
        #expect(count == 2)
    }
}
