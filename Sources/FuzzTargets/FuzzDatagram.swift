import RelayWire

/// Checks `PacketHeader.classify(_:maxDatagram:)` against PROTOCOL.md §2.1–§2.3 read
/// independently, for any bytes and any `maxDatagram`.
///
/// Input: two bytes of `maxDatagram` (big-endian, 0…65535), then the datagram.
///
/// Invariants: the verdict is the one the protocol's rows give in their order (oversize first,
/// then the stateless `malformed` checks); both overloads agree; an accepted header reads the
/// wire fields big-endian and writes back the same 16 bytes; a reply header differs from the
/// datagram's only in its type byte.
///
/// - Throws: ``FuzzFailure`` when an invariant does not hold.
public func fuzzDatagram(_ data: [UInt8]) throws(FuzzFailure) {
    var input = FuzzInput(data)
    let maxDatagram = Int(input.uint16() ?? 1200)
    let datagram = Array(input.rest())

    let verdict = PacketHeader.classify(datagram, maxDatagram: maxDatagram)
    let viaBuffer = datagram.withUnsafeBytes { PacketHeader.classify($0, maxDatagram: maxDatagram) }
    try check(verdict == viaBuffer, "the array and buffer overloads disagree: \(verdict) vs \(viaBuffer)")
    let expected = expectedVerdict(datagram, maxDatagram: maxDatagram)
    try check(verdict == expected, "classify gave \(verdict), PROTOCOL.md gives \(expected)")

    guard case .success(let header) = verdict else { return }
    try check(header.bytes == Array(datagram.prefix(PacketHeader.size)), "the header does not write back its own bytes")
    try check(header.isLatest == (datagram[3] & PacketFlags.latest != 0), "isLatest does not follow flag bit 0")
    for type in [PacketType.bindAck, PacketType.pong] {
        var reply = header.replying(as: type).bytes
        try check(reply[2] == type, "a reply header has type \(reply[2]), not \(type)")
        reply[2] = datagram[2]
        try check(reply == Array(datagram.prefix(PacketHeader.size)), "a reply header changed more than the type")
    }
}

/// The verdict of PROTOCOL.md §2.3 rows 1–2 and §2.2 step 2, written from the text alone.
private func expectedVerdict(_ bytes: [UInt8], maxDatagram: Int) -> Result<PacketHeader, DropReason> {
    if bytes.count > maxDatagram { return .failure(.oversize) }
    guard bytes.count >= 16, bytes[0] == 0x47, bytes[1] == 1 else { return .failure(.malformed) }
    let payload = bytes.count - 16
    switch bytes[2] {
    case 3: break
    case 4: guard payload <= 64 else { return .failure(.malformed) }
    case 1: guard payload == 16 || payload == 24 else { return .failure(.malformed) }
    default: return .failure(.malformed)
    }
    func bigEndian(_ range: Range<Int>) -> UInt64 {
        bytes[range].reduce(0) { $0 << 8 | UInt64($1) }
    }
    return .success(PacketHeader(
        type: bytes[2], flags: bytes[3],
        session: UInt32(bigEndian(4..<8)), member: UInt16(bigEndian(8..<10)),
        target: UInt16(bigEndian(10..<12)), sequence: UInt32(bigEndian(12..<16))))
}
