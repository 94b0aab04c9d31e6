@_spi(Benchmarks) import RelayServer
import RelayWire
import UVNet

/// Sources a datagram can come from: the bound members' addresses (one also in its IPv4-mapped
/// IPv6 form, which is the same address), the unbound members' would-be addresses, and strangers.
let bindFuzzSources: [SocketAddress] = {
    let home = DataPlaneHarness.address(session: 0, member: 0)
    let mapped = try! SocketAddress(ipAddress: "::ffff:" + home.ipAddress, port: home.port)
    let otherPort = try! SocketAddress(ipAddress: home.ipAddress, port: home.port + 1)
    precondition(mapped == home && otherPort != home)
    return [
        home, mapped,
        DataPlaneHarness.address(session: 0, member: 1),
        DataPlaneHarness.address(session: 0, member: 2),
        DataPlaneHarness.address(session: 1, member: 0),
        try! SocketAddress(ipAddress: "203.0.113.7", port: 4000),
        try! SocketAddress(ipAddress: "2001:db8::7", port: 4000),
        otherPort,
    ]
}()

/// Feeds datagrams from a few sources into a real data plane without sockets (two sessions of
/// three members; members 1 and 2 bound, member 3 not) and checks the address-validation rules
/// of PROTOCOL.md §2.2–§2.3 on everything it sends.
///
/// Input: records of `control, selector, length, bytes…`. Control bits 0–2 pick the source
/// (``bindFuzzSources``); bit 3 rewrites the header as valid (magic, version; type from bits 6–7:
/// BIND, DATA, PING or as sent; session from selector bits 0–1: either session, an unknown one or
/// as sent; member from bits 2–3: a member or as sent; target from bits 4–5: as sent, broadcast,
/// member id 1–4 from bits 6–7 (4 is no member), or 0); bit 4 splices the named member's real token into the
/// payload, bit 5 the last cookie the relay sent to this source. So the fuzzer reaches cookies,
/// binds and forwards without guessing a 128-bit token.
///
/// Invariants, first on their own: the relay answers only a datagram's own source, and only a
/// BIND carrying the named member's token or a PING from that member's bound address; BIND_ACK
/// copies the BIND's header and is never larger than the BIND; PONG echoes the PING; a cookie
/// goes only to an address that is not yet the binding; a binding changes only to the source of
/// a BIND with the token and a cookie, and is acknowledged; DATA is forwarded unchanged, only
/// from the sender's bound address, only to other members' bound addresses; every datagram is
/// answered or forwarded, or dropped and counted once. Then against a model of §2.2–§2.3 (the
/// rows in order, the cookies the relay issued, the replay window and LATEST filter by RFC 1982):
/// each datagram meets exactly the fate the protocol gives it, except that a token bucket may
/// refuse what would be forwarded or answered, and cookie answers keep to 10 a second per member.
///
/// - Returns: What the data plane did, for tests.
/// - Throws: ``FuzzFailure`` when an invariant does not hold.
public func fuzzBind(_ data: [UInt8]) throws(FuzzFailure) -> BindFuzzSummary {
    var config = RelayConfig()
    // Small, so records (at most 255 bytes) can be oversize.
    config.maxDatagram = 200
    let harness = DataPlaneHarness(sessions: 2, members: 3, config: config, liftsRateLimits: false, recordsOutput: true)
    for session in 0..<2 { harness.unbind(session: session, member: 2) }
    let lows = [harness.sessionLow32(0), harness.sessionLow32(1)]
    var unknownLow = lows[0] &+ 1
    while lows.contains(unknownLow) { unknownLow &+= 1 }

    var input = FuzzInput(data)
    var state = BindFuzzState(harness: harness, maxDatagram: config.maxDatagram)
    while let control = input.byte() {
        let selector = input.byte() ?? 0
        var datagram = Array(input.take(Int(input.byte() ?? 0)))
        let sourceIndex = Int(control & 7)
        if control & 0x08 != 0 {
            pad(&datagram, to: PacketHeader.size)
            datagram[0] = PacketHeader.magic
            datagram[1] = PacketHeader.version
            switch control >> 6 {
            case 0: datagram[2] = PacketType.bind
            case 1: datagram[2] = PacketType.data
            case 2: datagram[2] = PacketType.ping
            default: break
            }
            switch selector & 3 {
            case 0, 1: store(UInt64(lows[Int(selector & 3)]), bytes: 4, at: 4, in: &datagram)
            case 2: store(UInt64(unknownLow), bytes: 4, at: 4, in: &datagram)
            default: break
            }
            if selector >> 2 & 3 < 3 {
                store(UInt64(DataPlaneHarness.memberID(Int(selector >> 2 & 3))), bytes: 2, at: 8, in: &datagram)
            }
            switch selector >> 4 & 3 {
            case 1: store(UInt64(PacketHeader.broadcastTarget), bytes: 2, at: 10, in: &datagram)
            case 2: store(UInt64(selector >> 6) + 1, bytes: 2, at: 10, in: &datagram)
            case 3: store(0, bytes: 2, at: 10, in: &datagram)
            default: break
            }
        }
        if control & 0x10 != 0, let named = state.membership(named: datagram),
           let token = harness.token(session: named.session, member: named.member) {
            pad(&datagram, to: PacketHeader.size + PacketHeader.tokenSize)
            datagram.replaceSubrange(PacketHeader.size..<(PacketHeader.size + PacketHeader.tokenSize), with: token)
        }
        if control & 0x20 != 0, let cookie = state.lastCookie[sourceIndex] {
            let start = PacketHeader.size + PacketHeader.tokenSize
            pad(&datagram, to: start + PacketHeader.cookieSize)
            datagram.replaceSubrange(start..<(start + PacketHeader.cookieSize), with: cookie)
        }
        try state.deliver(datagram, from: sourceIndex)
    }
    return state.summary
}

/// Lengthens `bytes` with zeros to at least `count`.
private func pad(_ bytes: inout [UInt8], to count: Int) {
    if bytes.count < count { bytes += [UInt8](repeating: 0, count: count - bytes.count) }
}

/// Writes the low `bytes` bytes of `value` big-endian at `offset`.
private func store(_ value: UInt64, bytes: Int, at offset: Int, in datagram: inout [UInt8]) {
    for index in 0..<bytes {
        datagram[offset + index] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(bytes - 1 - index)))
    }
}
