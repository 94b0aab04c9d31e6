#if canImport(Glibc)
import Glibc
#endif
import RelayServer
import RelayWire
import Testing
import TestSupport
import UVNet

/// Tick sessions (PROTOCOL.md §8) through a real relay on loopback: `create` with `tick`, the
/// session's timer on its owner loop sending AGGREGATEs over UDP, and the timer closing with the
/// session, with one data-plane loop and with two.
@Suite("Tick sessions over sockets")
struct TickSocketTests {
    /// Creates a tick session of `tick` Hz and joins `count` bound members.
    static func tickMembers(_ relay: TestRelay, _ count: Int, tick: Int) throws -> [TestMember] {
        try tickMembersCreated(relay, count, tick: tick).members
    }

    /// ``tickMembers(_:_:tick:)``, and when the `create` reply arrived: just after the session's
    /// schedule started.
    static func tickMembersCreated(_ relay: TestRelay, _ count: Int, tick: Int) throws -> (members: [TestMember], created: ContinuousClock.Instant) {
        let client = try relay.connect()
        let reply = try client.request(#"{"op":"create","tick":\#(tick)}"#)
        let created = ContinuousClock.now
        guard reply["ok"] as? Bool == true, reply["tick"] as? Int == tick else { throw TestFailure("create with tick: \(reply)") }
        let session = reply["session"] as! String
        var members: [TestMember] = []
        for index in 0..<count {
            let member = try relay.join(session, name: "t\(index)", bind: false)
            for earlier in members { _ = try earlier.client.expectEvent("joined") }
            members.append(member)
        }
        for member in members { try member.bind() }
        return (members, created)
    }

    /// The next AGGREGATE for `member`, skipping nothing: anything else arriving first fails.
    static func expectAggregate(_ member: TestMember, _ what: String) throws -> (header: PacketHeader, entries: [(UInt16, UInt32, [UInt8])]) {
        let bytes = try member.udp.expectDatagram(what)
        let decoded = AggregateDatagram.decode(bytes) { result in
            (try? result.get()).map { ($0.header, $0.entries.map { ($0.member, $0.sequence, Array($0.payload)) }) }
        }
        guard let decoded else { throw TestFailure("\(what): not an AGGREGATE: \(bytes)") }
        return decoded
    }

    @Test func helloOffersTickAndCreateEchoesIt() async throws {
        let relay = try await TestRelay.start()
        defer { Task { await relay.stop() } }
        let client = try relay.connect()
        let hello = try client.request(#"{"op":"hello","protocol":1}"#)
        #expect((hello["features"] as? [String])?.contains("tick") == true, "\(hello)")
        let created = try client.request(#"{"op":"create","tick":30.0,"capacity":4}"#)
        #expect(created["tick"] as? Int == 30 && created["capacity"] as? Int == 4, "\(created)")
        let plain = try client.request(#"{"op":"create"}"#)
        #expect(plain["ok"] as? Bool == true && plain["tick"] == nil, "\(plain)")
        for bad in ["0", "121", "1.5", "\"10\"", "null", "true"] {
            let reply = try client.request(#"{"op":"create","tick":\#(bad)}"#)
            #expect((reply["error"] as? [String: Any])?["code"] as? String == "bad_request", "tick \(bad): \(reply)")
        }
        // The owner loop adds the session after the control loop has replied: wait for its gauge.
        try await Self.waitForTickSessions(relay, 1, "the one tick session on its owner loop")
    }

    @Test func aLatestBroadcastArrivesAsAnAggregateAtTheNextTick() async throws {
        let relay = try await TestRelay.start()
        defer { Task { await relay.stop() } }
        let members = try Self.tickMembers(relay, 3, tick: 20)
        let sender = members[0]
        sender.udp.send(sender.header(PacketType.data, target: PacketHeader.broadcastTarget, sequence: 41, flags: PacketFlags.latest),
                        payload: Array("pos".utf8))
        for receiver in members.dropFirst() {
            let (header, entries) = try Self.expectAggregate(receiver, "the tick's AGGREGATE")
            #expect(header.type == PacketType.aggregate && header.flags == 0 && header.member == 0)
            #expect(header.session == receiver.sessionLow && header.target == receiver.member)
            #expect(entries.count == 1 && entries[0].0 == sender.member && entries[0].1 == 41 && entries[0].2 == Array("pos".utf8))
        }
        #expect(sender.udp.receive(timeout: .milliseconds(200)) == nil, "no AGGREGATE without entries")
        let counters = try await relay.waitForCounters("two AGGREGATEs counted") { $0.aggregatesSent == 2 }
        #expect(counters.datagramsForwarded == 0)
        // Ticks that send nothing still count: the next AGGREGATE's tick number is further on.
        let first = try Self.expectTickNumber(after: members, sequence: 42)
        try await Task.sleep(for: .milliseconds(300))
        let second = try Self.expectTickNumber(after: members, sequence: 43)
        #expect(SerialNumber.isNewer(second, than: first &+ 3), "tick \(first), then \(second) after at least 0.3 s at 20 Hz")
    }

    /// Sends a LATEST broadcast from the first member and returns the tick number of the
    /// AGGREGATE the second receives.
    static func expectTickNumber(after members: [TestMember], sequence: UInt32) throws -> UInt32 {
        let sender = members[0]
        sender.udp.send(sender.header(PacketType.data, target: PacketHeader.broadcastTarget, sequence: sequence, flags: PacketFlags.latest), payload: [1])
        let tick = try expectAggregate(members[1], "AGGREGATE of \(sequence)").header.sequence
        for other in members.dropFirst(2) { _ = try expectAggregate(other, "AGGREGATE of \(sequence)") }
        return tick
    }

    @Test func theTickTimerClosesWhenTheLastMemberLeaves() async throws {
        let relay = try await TestRelay.start()
        defer { Task { await relay.stop() } }
        let members = try Self.tickMembers(relay, 2, tick: 50)
        #expect(try await relay.read { $0.tickSessionCount } == 1)
        members[0].client.close()
        var events: [[String: Any]] = []
        let left = try members[1].client.request(#"{"op":"leave"}"#, events: &events)
        #expect(left["ok"] as? Bool == true)
        try await Self.waitForTickSessions(relay, 0, "the session's timer closed with it")
        #expect(try await relay.read { $0.sessionCount } == 0)
    }

    @Test func theTickTimerClosesWhenAnUnjoinedSessionExpires() async throws {
        let relay = try await TestRelay.start { $0.emptySessionTimeout = .milliseconds(200) }
        defer { Task { await relay.stop() } }
        let client = try relay.connect()
        _ = try client.request(#"{"op":"create","tick":10}"#)
        try await Self.waitForTickSessions(relay, 1, "a tick session")
        try await Self.waitForTickSessions(relay, 0, "the expired session's timer closed")
    }

    @Test func aTickSessionArmsItsTimerOnlyWhileAStateWaits() async throws {
        let relay = try await TestRelay.start()
        defer { Task { await relay.stop() } }
        // Sessions nobody sends in, as a client that creates many and never uses them leaves.
        let idle = try relay.connect()
        for _ in 0..<40 { _ = try idle.request(#"{"op":"create","tick":120}"#) }
        let members = try Self.tickMembers(relay, 2, tick: 120)
        try await Self.waitForTickSessions(relay, 41, "41 tick sessions")
        #expect(try await relay.read { $0.armedTickCount } == 0, "no state waits: no timer is armed")
        let first = try Self.expectTickNumber(after: members, sequence: 1)
        // The gauge is published at least once a second; after the tick nothing waits.
        let deadline = ContinuousClock.now + .seconds(15)
        while try await relay.read({ $0.armedTickCount }) != 0 {
            if ContinuousClock.now >= deadline { throw TestFailure("timed out: the timer disarmed after its tick") }
            try await Task.sleep(for: .milliseconds(20))
        }
        try await Task.sleep(for: .milliseconds(100))
        // Re-armed by the next state, on the same schedule: the idle ticks are counted.
        let second = try Self.expectTickNumber(after: members, sequence: 2)
        #expect(SerialNumber.isNewer(second, than: first &+ 10), "tick \(first), then \(second) after at least 0.1 s at 120 Hz")
    }

    @Test func tickNumbersNeverRepeatWhileStatesStreamIn() async throws {
        let relay = try await TestRelay.start()
        defer { Task { await relay.stop() } }
        let members = try Self.tickMembers(relay, 2, tick: 120)
        let sender = members[0]
        // A state every 1.5 ms for 0.3 s: some arrive just after a tick that ran a little
        // before its time, when the next arming must not name that tick again.
        var ticks: [UInt32] = []
        for sequence in 1...200 {
            sender.udp.send(sender.header(PacketType.data, target: PacketHeader.broadcastTarget, sequence: UInt32(sequence), flags: PacketFlags.latest),
                            payload: [UInt8(truncatingIfNeeded: sequence)])
            usleep(1500)
            while let bytes = members[1].udp.receive(timeout: .zero) {
                ticks.append(try Self.decodedTick(bytes))
            }
        }
        while let bytes = members[1].udp.receive(timeout: .milliseconds(100)) { ticks.append(try Self.decodedTick(bytes)) }
        #expect(ticks.count >= 10, "AGGREGATEs arrived: \(ticks.count)")
        for (earlier, later) in zip(ticks, ticks.dropFirst()) {
            #expect(SerialNumber.isNewer(later, than: earlier), "tick \(later) after tick \(earlier)")
        }
    }

    @Test func sessionsCreatedTogetherTickAtDifferentPhases() async throws {
        let relay = try await TestRelay.start()
        defer { Task { await relay.stop() } }
        // Two 10 Hz sessions, the first and second of the loop: each ticks a whole number of
        // periods after its creation plus its phase, 0 for the first and 61.8 ms (0.618… of
        // the period) for the second. Without spreading, both phases would be 0.
        let (first, firstCreated) = try Self.tickMembersCreated(relay, 2, tick: 10)
        let (second, secondCreated) = try Self.tickMembersCreated(relay, 2, tick: 10)
        var arrivals: [[ContinuousClock.Instant]] = [[], []]
        for round in 1...3 {
            for members in [first, second] {
                members[0].udp.send(members[0].header(PacketType.data, target: PacketHeader.broadcastTarget, sequence: UInt32(round), flags: PacketFlags.latest), payload: [1])
            }
            // Watch both receivers at once, so each AGGREGATE's arrival is timed as it comes.
            var arrived: [ContinuousClock.Instant?] = [nil, nil]
            let deadline = ContinuousClock.now + .seconds(5)
            while arrived.contains(where: { $0 == nil }) {
                if ContinuousClock.now >= deadline { throw TestFailure("round \(round): the AGGREGATEs did not arrive") }
                for (index, members) in [first, second].enumerated() where arrived[index] == nil {
                    if let bytes = members[1].udp.receive(timeout: .zero) {
                        _ = try Self.decodedTick(bytes)
                        arrived[index] = .now
                    }
                }
                usleep(200)
            }
            for index in 0..<2 { arrivals[index].append(arrived[index]!) }
        }
        // Each tick's place in its session's period, counted from the session's creation.
        func phase(_ arrival: ContinuousClock.Instant, since created: ContinuousClock.Instant) -> Double {
            let elapsed = arrival - created
            let millis = Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
            return millis.truncatingRemainder(dividingBy: 100)
        }
        // The second session's phase less the first's, around the period; the create replies
        // and the arrivals are each late by about as much, which cancels out.
        let offsets = zip(arrivals[0], arrivals[1]).map { a, b -> Double in
            let difference = (phase(b, since: secondCreated) - phase(a, since: firstCreated) + 200).truncatingRemainder(dividingBy: 100)
            return min(abs(difference - 61.8), 100 - abs(difference - 61.8))
        }
        #expect(offsets.contains { $0 < 15 }, "the second session's phase off 61.8 ms by \(offsets) ms")
    }

    static func decodedTick(_ bytes: [UInt8]) throws -> UInt32 {
        let tick = AggregateDatagram.decode(bytes) { result in (try? result.get())?.header.sequence }
        guard let tick else { throw TestFailure("not an AGGREGATE: \(bytes)") }
        return tick
    }

    static func waitForTickSessions(_ relay: TestRelay, _ count: Int, _ what: String) async throws {
        let deadline = ContinuousClock.now + .seconds(15)
        while try await relay.read({ $0.tickSessionCount }) != count {
            if ContinuousClock.now >= deadline { throw TestFailure("timed out: \(what)") }
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    @Test func withTwoDataLoopsTickSessionsOwnedByEitherLoopSendTheirAggregates() async throws {
        let relay = try await TestRelay.start { $0.threads = 2 }
        defer { Task { await relay.stop() } }
        #expect(try await relay.read { $0.isSteering })
        // Sessions go to the least loaded loop in turn: one each.
        let sessions = [try Self.tickMembers(relay, 3, tick: 30), try Self.tickMembers(relay, 3, tick: 30)]
        #expect(Set(sessions.map { Int($0[0].sessionLow % 2) }) == [0, 1])
        for members in sessions {
            for (index, member) in members.enumerated() {
                member.udp.send(member.header(PacketType.data, target: PacketHeader.broadcastTarget, sequence: 5, flags: PacketFlags.latest),
                                payload: [UInt8(index)])
            }
        }
        for members in sessions {
            for (index, receiver) in members.enumerated() {
                // A state can land just after one tick and its neighbour just before: gather two ticks at most.
                var seen: [UInt16: [UInt8]] = [:]
                while seen.count < 2 {
                    for entry in try Self.expectAggregate(receiver, "AGGREGATE on loop \(receiver.sessionLow % 2 + 1)").entries {
                        seen[entry.0] = entry.2
                    }
                }
                let others = members.enumerated().filter { $0.offset != index }
                #expect(seen == Dictionary(uniqueKeysWithValues: others.map { ($0.element.member, [UInt8($0.offset)]) }))
            }
        }
        // Each loop publishes its counts after a receive batch or within a second of the tick.
        var perLoop = try await relay.read { $0.loopCounters }
        let deadline = ContinuousClock.now + .seconds(15)
        while !perLoop.allSatisfy({ $0.aggregatesSent >= 3 }), ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
            perLoop = try await relay.read { $0.loopCounters }
        }
        #expect(perLoop.allSatisfy { $0.aggregatesSent >= 3 && $0.drops(.unbound) == 0 }, "\(perLoop.map(\.aggregatesSent))")
        #expect(try await relay.read { $0.tickSessionCount } == 2)
        for members in sessions { for member in members { member.client.close() } }
        try await Self.waitForTickSessions(relay, 0, "both timers closed")
    }
}
