import RelayWire

/// Checks the AGGREGATE decoder (`AggregateDatagram.decode`) against PROTOCOL.md §8 read
/// independently, and the encoder's splitting against the decoder, for any bytes.
///
/// Input: two bytes of `maxDatagram` (big-endian, taken into 40…1472), then a datagram.
///
/// Invariants: the datagram is accepted exactly when the layout of §8 reads it (header of type 6,
/// entries that fill the payload exactly), and then the entries are the layout's, in order;
/// encoding them again gives the same bytes apart from the flags and member fields, which the
/// decoder ignores. Entries cut from the input (lengths from its bytes) and encoded the way the
/// relay does a tick, into datagrams of at most `maxDatagram` bytes, decode back to the same
/// entries in the same order, every datagram holding at least one entry and a new one starting
/// only when the next entry did not fit.
///
/// - Throws: ``FuzzFailure`` when an invariant does not hold.
public func fuzzAggregate(_ data: [UInt8]) throws(FuzzFailure) {
    var input = FuzzInput(data)
    let maxDatagram = 40 + Int(input.uint16() ?? 1160) % (1472 - 40 + 1)
    let datagram = Array(input.rest())

    let decoded = decodeEntries(datagram)
    let expected = referenceEntries(datagram)
    switch (decoded, expected) {
    case (nil, nil):
        break
    case (let got?, let want?):
        try check(got.entries == want, "decoded \(got.entries.count) entries, the layout gives \(want.count)")
        var normalised = datagram
        normalised[3] = 0
        normalised[8] = 0
        normalised[9] = 0
        // No entries: the relay never sends that, and the encoder starts none; the header alone is the datagram.
        let again = want.isEmpty ? [got.header.bytes].map { bytes in bytes.enumerated().map { [3, 8, 9].contains($0.offset) ? 0 : $0.element } }
                                 : encode(want, size: datagram.count, header: got.header)
        try check(again.count == 1 && again[0] == normalised, "re-encoding the entries does not give the datagram back")
    case (nil, _?):
        throw FuzzFailure("a well-formed AGGREGATE was refused")
    case (_?, nil):
        throw FuzzFailure("a malformed AGGREGATE was accepted")
    }

    // Entries cut from the input, each at most maxDatagram − 24 bytes, as the relay aggregates them.
    var source = FuzzInput(datagram)
    var entries: [Entry] = []
    while let size = source.byte() {
        // Every third entry small, the others up to four times the byte, so some fill a datagram.
        let limit = maxDatagram - AggregateEncoder.overhead
        let payload = Array(source.take(entries.count % 3 == 0 ? Int(size) % (limit + 1) : min(limit, Int(size) * 4)))
        entries.append(Entry(member: UInt16(entries.count + 1), sequence: UInt32(truncatingIfNeeded: size) &* 0x0101_0101, payload: payload))
    }
    let header = PacketHeader(type: PacketType.aggregate, session: 0x0102_0304, member: 0, target: 0xFFFE, sequence: 77)
    let split = encode(entries, size: maxDatagram, header: header)
    var roundTrip: [Entry] = []
    for (index, bytes) in split.enumerated() {
        try check(bytes.count <= maxDatagram, "an AGGREGATE of \(bytes.count) bytes over maxDatagram \(maxDatagram)")
        guard let part = decodeEntries(bytes) else { throw FuzzFailure("the encoder wrote a malformed AGGREGATE") }
        try check(part.header == header, "the split AGGREGATEs do not share the header")
        try check(!part.entries.isEmpty, "an AGGREGATE without entries")
        if index > 0 {
            try check(split[index - 1].count + AggregateEntry.headerSize + part.entries[0].payload.count > maxDatagram,
                      "an entry went into a further AGGREGATE although it fitted the previous one")
        }
        roundTrip += part.entries
    }
    try check(roundTrip == entries, "the split AGGREGATEs do not hold the entries in order")
}

private struct Entry: Equatable {
    let member: UInt16
    let sequence: UInt32
    let payload: [UInt8]
}

/// The decoder under test, copied out of the borrowed memory.
private func decodeEntries(_ bytes: [UInt8]) -> (header: PacketHeader, entries: [Entry])? {
    AggregateDatagram.decode(bytes) { result in
        guard case .success(let aggregate) = result else { return nil }
        return (aggregate.header, aggregate.entries.map { Entry(member: $0.member, sequence: $0.sequence, payload: Array($0.payload)) })
    }
}

/// PROTOCOL.md §8's layout, written from the text alone: nil when the bytes do not follow it.
private func referenceEntries(_ bytes: [UInt8]) -> [Entry]? {
    guard bytes.count >= 16, bytes[0] == 0x47, bytes[1] == 1, bytes[2] == 6 else { return nil }
    var entries: [Entry] = []
    var offset = 16
    while offset < bytes.count {
        guard bytes.count - offset >= 8 else { return nil }
        let member = UInt16(bytes[offset]) << 8 | UInt16(bytes[offset + 1])
        let sequence = bytes[(offset + 2)..<(offset + 6)].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        let length = Int(bytes[offset + 6]) << 8 | Int(bytes[offset + 7])
        guard bytes.count - offset - 8 >= length else { return nil }
        entries.append(Entry(member: member, sequence: sequence, payload: Array(bytes[(offset + 8)..<(offset + 8 + length)])))
        offset += 8 + length
    }
    return entries
}

/// Encodes `entries` the way the relay does a tick: into datagrams of `size` bytes, a new one
/// whenever the next entry does not fit.
private func encode(_ entries: [Entry], size: Int, header: PacketHeader) -> [[UInt8]] {
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(size, PacketHeader.size), alignment: 8)
    defer { buffer.deallocate() }
    var datagrams: [[UInt8]] = []
    var encoder: AggregateEncoder?
    for entry in entries {
        let appended = entry.payload.withUnsafeBytes { payload in
            encoder?.append(member: entry.member, sequence: entry.sequence, payload: payload) == true
        }
        if appended { continue }
        if let full = encoder { datagrams.append(Array(full.bytes)) }
        var next = AggregateEncoder(into: buffer, session: header.session, target: header.target, tick: header.sequence)
        entry.payload.withUnsafeBytes { _ = next.append(member: entry.member, sequence: entry.sequence, payload: $0) }
        encoder = next
    }
    if let last = encoder { datagrams.append(Array(last.bytes)) }
    return datagrams
}
