#if canImport(Glibc)
import Glibc
#endif
@testable import RelayServer
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
        let client = try relay.connect()
        let reply = try client.request(#"{"op":"create","tick":\#(tick)}"#)
        guard reply["ok"] as? Bool == true, reply["tick"] as? Int == tick else { throw TestFailure("create with tick: \(reply)") }
        let session = reply["session"] as! String
        var members: [TestMember] = []
        for index in 0..<count {
            let member = try relay.join(session, name: "t\(index)", bind: false)
            for earlier in members { _ = try earlier.client.expectEvent("joined") }
            members.append(member)
        }
        for member in members { try member.bind() }
        return members
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
        // The owner publishes its gauge before the control loop hears the session is gone.
        try await ControlPlaneTests.waitUntil("the session gone from the directory") { try await relay.read { $0.sessionCount } == 0 }
    }

    @Test func theTickTimerClosesWhenAnUnjoinedSessionExpires() async throws {
        let clock = ManualClock()
        let relay = try await TestRelay.start(clock: clock) { $0.emptySessionTimeout = .milliseconds(200) }
        defer { Task { await relay.stop() } }
        let client = try relay.connect()
        _ = try client.request(#"{"op":"create","tick":10}"#)
        try await Self.waitForTickSessions(relay, 1, "a tick session")
        clock.advance(by: .milliseconds(201))
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
        // Two 10 Hz sessions created in one turn of the relay (both requests in one write): the
        // first and second tick sessions of its data loop. The second's schedule starts 61.8 ms
        // (0.618… of the period) after the first's; without spreading, both would tick together.
        let creator = try relay.connect()
        try creator.sendRaw(Array(#"{"op":"create","tick":10,"id":1}"#.utf8) + [0] + Array(#"{"op":"create","tick":10,"id":2}"#.utf8) + [0])
        let sessions = try [creator.readObject(), creator.readObject()].map { reply in
            guard reply["ok"] as? Bool == true, let session = reply["session"] as? String else { throw TestFailure("create: \(reply)") }
            return session
        }
        let period: UInt64 = 100_000_000
        // Each session's schedule, read on its owner loop (tick k falls at epoch + k · period, on
        // the relay's monotonic clock, which the arrivals below are timed with too).
        let dataLoop = try await relay.read { $0.dataLoops[0] }
        let epochs = try await dataLoop.loop.submit {
            sessions.map { dataLoop.plane.value.table.session(SessionID(hex: $0)!)!.tickEpoch }
        }
        let spread = Double((epochs[1] &- epochs[0]) % period) / 1e6
        #expect(abs(spread - 61.8) < 5, "the second session's schedule is \(spread) ms after the first's")

        // On the wire: each session's AGGREGATEs leave on its own schedule, not on the other's.
        var groups: [[TestMember]] = []
        for session in sessions {
            let members = [try relay.join(session, name: "a", bind: false), try relay.join(session, name: "b", bind: false)]
            _ = try members[0].client.expectEvent("joined")
            for member in members { try member.bind() }
            groups.append(members)
        }
        // How far from its session's nearest scheduled tick each AGGREGATE arrived, in ms (a tick
        // may run up to a millisecond early: its timer is armed early, see DataPlane.armTick).
        var lateness: [[Double]] = [[], []]
        for round in 1...3 {
            for members in groups {
                members[0].udp.send(members[0].header(PacketType.data, target: PacketHeader.broadcastTarget, sequence: UInt32(round), flags: PacketFlags.latest), payload: [1])
            }
            // Watch both receivers at once, so each AGGREGATE's arrival is timed as it comes.
            var arrived: [UInt64?] = [nil, nil]
            let deadline = ContinuousClock.now + .seconds(5)
            while arrived.contains(where: { $0 == nil }) {
                if ContinuousClock.now >= deadline { throw TestFailure("round \(round): the AGGREGATEs did not arrive") }
                for (index, members) in groups.enumerated() where arrived[index] == nil {
                    if let bytes = members[1].udp.receive(timeout: .zero) {
                        _ = try Self.decodedTick(bytes)
                        arrived[index] = MonotonicClock.nanoseconds
                    }
                }
                usleep(200)
            }
            for index in 0..<2 {
                let sincePeriodStart = Double((arrived[index]! &- epochs[index]) % period) / 1e6
                lateness[index].append(sincePeriodStart > 50 ? sincePeriodStart - 100 : sincePeriodStart)
            }
        }
        // The best of three rounds, so one preempted read can't fail it: within 20 ms of its own
        // schedule, where the other session's ticks are 38.2 or 61.8 ms away.
        for index in 0..<2 {
            #expect(lateness[index].contains { abs($0) < 20 }, "session \(index + 1)'s AGGREGATEs arrived \(lateness[index]) ms after its ticks")
        }
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
