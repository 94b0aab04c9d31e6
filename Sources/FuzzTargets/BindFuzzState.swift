@_spi(Benchmarks) import RelayServer
import RelayWire
import UVNet

/// What ``fuzzBind(_:)`` knows across one input's datagrams, and the checks it runs on each:
/// first the safety rules stated on their own, then a model of PROTOCOL.md §2.2–§2.3 that
/// predicts each datagram's fate.
struct BindFuzzState {
    /// What the protocol says must become of a datagram; a token bucket may turn the ones marked
    /// so into `rate_limited` instead, since its timing is not modelled.
    private enum Fate: Equatable {
        case drop(DropReason)
        case pong
        case acknowledge
        case cookie
        case bind
        case forward([SocketAddress: Int])
    }

    private let harness: DataPlaneHarness
    private let maxDatagram: Int
    private let started = ContinuousClock.now
    /// The payload of the last cookie-carrying BIND_ACK sent to each source.
    private(set) var lastCookie = [[UInt8]?](repeating: nil, count: bindFuzzSources.count)
    /// The cookies the relay issued, per membership (session × 3 + member) and address.
    private var issued = [[SocketAddress: Set<[UInt8]>]](repeating: [:], count: 6)
    /// Cookie answers per membership: at most 10 in any second.
    private var cookieAnswers = [Int](repeating: 0, count: 6)
    /// Each membership's replay window and LATEST filter.
    private var replay = [ReplayModel](repeating: ReplayModel(), count: 6)
    /// What happened so far.
    private(set) var summary = BindFuzzSummary()

    init(harness: DataPlaneHarness, maxDatagram: Int) {
        self.harness = harness
        self.maxDatagram = maxDatagram
    }

    /// The membership (0-based session and member) a datagram's header names, if it is a real one.
    func membership(named datagram: [UInt8]) -> (session: Int, member: Int)? {
        guard let header = PacketHeader(parsing: datagram),
              let session = (0..<2).first(where: { harness.sessionLow32($0) == header.session }),
              (1...3).contains(header.member)
        else { return nil }
        return (session, Int(header.member) - 1)
    }

    private func bindings() -> [SocketAddress?] {
        (0..<6).map { harness.binding(session: $0 / 3, member: $0 % 3) }
    }

    /// Hands `datagram` to the data plane from source `sourceIndex` and checks what it did.
    mutating func deliver(_ datagram: [UInt8], from sourceIndex: Int) throws(FuzzFailure) {
        let source = bindFuzzSources[sourceIndex]
        let slot = membership(named: datagram).map { $0.session * 3 + $0.member }
        let header = try? PacketHeader.classify(datagram, maxDatagram: maxDatagram).get()
        let before = bindings()
        let received = harness.counters.datagramsReceived
        let drops = DropReason.all.map { harness.counters.drops($0) }
        let token = slot.flatMap { harness.token(session: $0 / 3, member: $0 % 3) }
        let provesToken = header?.type == PacketType.bind && token != nil
            && Array(datagram[PacketHeader.size..<(PacketHeader.size + PacketHeader.tokenSize)]) == token
        let fromBinding = slot.map { before[$0] == source } ?? false
        let fate = expectedFate(datagram, header: header, slot: slot, source: source, provesToken: provesToken, before: before)

        harness.removeOutput()
        harness.deliver(datagram, from: source)
        let output = harness.output
        let after = bindings()
        summary.datagrams += 1

        try check(harness.counters.datagramsReceived == received + 1, "the datagram was not counted as received")
        let increments = DropReason.all.map { harness.counters.drops($0) &- drops[$0.index] }
        let dropped = DropReason.all.filter { increments[$0.index] != 0 }
        try check(increments.allSatisfy { $0 <= 1 } && dropped.count <= 1, "one datagram counted as dropped \(increments)")
        try check(dropped.isEmpty != output.isEmpty, "a datagram that sent \(output.count) was counted as dropped \(dropped.count) times")
        let replies = output.filter { $0.kind == .reply }
        let forwards = output.filter { $0.kind == .forward }

        // The safety rules, each on its own.
        try check(replies.count <= 1, "\(replies.count) replies to one datagram")
        if let reply = replies.first {
            guard let header, let slot else { throw FuzzFailure("a reply to a datagram naming no membership") }
            try check(reply.destination == source, "a reply went to \(reply.destination), not the source \(source)")
            try check(reply.bytes.count <= datagram.count, "a \(reply.bytes.count)-byte reply to a \(datagram.count)-byte datagram")
            switch header.type {
            case PacketType.bind:
                try check(provesToken, "a BIND without the member's token was answered")
                try check(Array(reply.bytes.prefix(PacketHeader.size)) == header.replying(as: PacketType.bindAck).bytes,
                          "BIND_ACK does not copy the BIND's header")
                if reply.bytes.count > PacketHeader.size {
                    try check(!fromBinding && after[slot] == before[slot], "a cookie for the bound address, or with a new binding")
                }
            case PacketType.ping:
                try check(fromBinding, "a PING from \(source), not the member's binding, was answered")
                try check(reply.bytes == header.replying(as: PacketType.pong).bytes + datagram.dropFirst(PacketHeader.size),
                          "PONG does not echo the PING")
            default:
                throw FuzzFailure("a reply to a datagram of type \(header.type)")
            }
        }
        for index in 0..<6 where index != slot {
            try check(after[index] == before[index], "a datagram for one member moved another's binding")
        }
        if let slot, after[slot] != before[slot] {
            try check(after[slot] == source && provesToken
                          && datagram.count == PacketHeader.size + PacketHeader.tokenSize + PacketHeader.cookieSize
                          && replies.first?.bytes.count == PacketHeader.size,
                      "binding moved to \(after[slot].map(String.init(describing:)) ?? "nil") by a datagram from \(source)")
        }
        if !forwards.isEmpty {
            guard let header, let slot, header.type == PacketType.data else {
                throw FuzzFailure("forwarded a datagram that is not DATA from a membership")
            }
            try check(fromBinding, "forwarded DATA from \(source), not the sender's binding")
            try check(forwards.allSatisfy { $0.bytes == datagram }, "a forward changed the datagram")
            let bound = (0..<3).map { slot / 3 * 3 + $0 }.filter { $0 != slot }.compactMap { after[$0] }
            try check(forwards.allSatisfy { bound.contains($0.destination) }, "forwarded to an address that is no other member's binding")
        }

        // The model: exactly the fate the protocol gives, or a token bucket's refusal.
        let rateLimited = dropped == [.rateLimited] && output.isEmpty
        switch fate {
        case .drop(let reason):
            try check(dropped == [reason], "expected a drop as \(reason), got \(dropped) and \(output.count) sent")
        case .pong:
            try check(rateLimited || replies.count == 1 && forwards.isEmpty, "expected a PONG")
            if !rateLimited { summary.pongs += 1 }
        case .acknowledge:
            guard let header else { throw FuzzFailure("a BIND_ACK expected for no datagram") }
            try check(output.map(\.bytes) == [header.replying(as: PacketType.bindAck).bytes] && after == before,
                      "expected an empty BIND_ACK and no change of binding")
            summary.acknowledgements += 1
        case .cookie:
            guard let slot, let header else { throw FuzzFailure("a cookie expected for no membership") }
            if dropped == [.rateLimited] {
                try check(cookieAnswers[slot] >= 10, "cookie answers refused after \(cookieAnswers[slot])")
                break
            }
            guard output.count == 1, let reply = replies.first, reply.bytes.count == PacketHeader.size + PacketHeader.cookieSize,
                  Array(reply.bytes.prefix(PacketHeader.size)) == header.replying(as: PacketType.bindAck).bytes, after == before
            else { throw FuzzFailure("expected a BIND_ACK with a cookie, got \(output.map(\.bytes.count)) bytes") }
            let cookie = Array(reply.bytes.dropFirst(PacketHeader.size))
            lastCookie[sourceIndex] = cookie
            issued[slot][source, default: []].insert(cookie)
            cookieAnswers[slot] += 1
            let seconds = Int((ContinuousClock.now - started).components.seconds) + 1
            try check(cookieAnswers[slot] <= 10 * seconds, "\(cookieAnswers[slot]) cookie answers in \(seconds) s")
            summary.cookies += 1
        case .bind:
            guard let slot, let header else { throw FuzzFailure("a bind expected for no membership") }
            try check(after[slot] == source && output.map(\.bytes) == [header.replying(as: PacketType.bindAck).bytes],
                      "expected the binding to move to \(source) with an empty BIND_ACK")
            summary.binds += 1
        case .forward(let destinations):
            guard let header, let slot else { throw FuzzFailure("a forward expected for no membership") }
            if rateLimited { break }
            var sent: [SocketAddress: Int] = [:]
            for forward in forwards { sent[forward.destination, default: 0] += 1 }
            try check(replies.isEmpty && sent == destinations, "forwarded to \(sent), expected \(destinations)")
            replay[slot].record(header.sequence, isLatest: header.isLatest)
            summary.forwards += forwards.count
        }
    }

    /// The fate PROTOCOL.md §2.2–§2.3 give a datagram, checking the rows in their order.
    private func expectedFate(_ datagram: [UInt8], header: PacketHeader?, slot: Int?, source: SocketAddress,
                              provesToken: Bool, before: [SocketAddress?]) -> Fate {
        if datagram.count > maxDatagram { return .drop(.oversize) }
        guard let header else { return .drop(.malformed) }
        if header.type == PacketType.bind {
            guard let slot, provesToken else { return .drop(.badToken) }
            if before[slot] == source { return .acknowledge }
            if datagram.count == PacketHeader.size + PacketHeader.tokenSize { return .cookie }
            let cookie = Array(datagram.suffix(PacketHeader.cookieSize))
            return issued[slot][source]?.contains(cookie) == true ? .bind : .drop(.badToken)
        }
        guard let slot, let binding = before[slot] else { return .drop(.unbound) }
        guard binding == source else { return .drop(.addressMismatch) }
        if header.type == PacketType.ping { return .pong }
        guard replay[slot].isFresh(header.sequence) else { return .drop(.duplicate) }
        if header.isLatest && replay[slot].isStale(header.sequence) { return .drop(.stale) }
        let session = slot / 3
        var targets: [Int] = []
        if header.target == PacketHeader.broadcastTarget {
            targets = (0..<3).filter { $0 != slot % 3 }
        } else if (1...3).contains(header.target), Int(header.target) - 1 != slot % 3 {
            targets = [Int(header.target) - 1]
        }
        var destinations: [SocketAddress: Int] = [:]
        for member in targets {
            if let address = before[session * 3 + member] { destinations[address, default: 0] += 1 }
        }
        return destinations.isEmpty ? .drop(.noTarget) : .forward(destinations)
    }
}
