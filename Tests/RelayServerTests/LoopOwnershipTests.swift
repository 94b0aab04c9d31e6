import RelayServer
import RelayWire
import Testing
import TestSupport
import UVNet

/// Each session belongs to one data-plane loop: its datagrams reach that loop and no other, and
/// the idle checks compare times that loop itself stamped.
@Suite("Loop ownership")
struct LoopOwnershipTests {
    @Test func everyDatagramOfASessionArrivesAtItsOwnerLoop() async throws {
        let relay = try await TestRelay.start { $0.threads = 2 }
        defer { Task { await relay.stop() } }
        #expect(try await relay.read { $0.isSteering })
        // Sessions go to the least loaded loop in turn, so six sessions are three per loop.
        var sessions: [[TestMember]] = []
        for _ in 0..<6 { sessions.append(try relay.makeMembers(2)) }
        let owners = sessions.map { Int($0[0].sessionLow % 2) }
        #expect(owners.filter { $0 == 0 }.count == 3)
        let before = try await relay.read { $0.loopCounters }
        #expect(before.count == 2)

        // Each member of session s sends 5 + s broadcasts from its own UDP socket (its own source
        // port, which the kernel's default hash would spread over both loops).
        var expected = [0, 0]
        for (index, members) in sessions.enumerated() {
            for member in members {
                for sequence in 1...UInt32(5 + index) {
                    member.udp.send(member.header(PacketType.data, target: PacketHeader.broadcastTarget, sequence: sequence), payload: [7])
                    expected[owners[index]] += 1
                }
            }
        }
        let total = expected[0] + expected[1]
        try await relay.waitForCounters("every broadcast forwarded") { $0.datagramsForwarded >= UInt64(total) }
        let after = try await relay.read { $0.loopCounters }
        for loop in 0..<2 {
            #expect(after[loop].datagramsReceived - before[loop].datagramsReceived == UInt64(expected[loop]), "loop \(loop + 1)")
            #expect(after[loop].datagramsForwarded - before[loop].datagramsForwarded == UInt64(expected[loop]), "loop \(loop + 1)")
            #expect(after[loop].drops(.unbound) == 0, "a datagram reached a loop that does not own its session")
        }
    }

    @Test func whereTheKernelRefusesSteeringOneDataLoopServesEverySession() async throws {
        // A group size of 0 is a program the kernel (here, the socket layer) refuses.
        let relay = try await TestRelay.start(steeringGroupSize: 0) { $0.threads = 2 }
        defer { Task { await relay.stop() } }
        #expect(try await relay.read { $0.isSteering } == false)
        #expect(try await relay.read { $0.loopCounters.count } == 1)
        // Every session lands on the one loop left, whatever its id, and its traffic flows.
        for _ in 0..<4 {
            let members = try relay.makeMembers(2)
            members[0].udp.send(members[0].header(PacketType.data, target: PacketHeader.broadcastTarget, sequence: 1), payload: [9])
            #expect(try members[1].udp.expectDatagram("the broadcast on the one loop").last == 9)
        }
        #expect(try await relay.counters().drops(.unbound) == 0)
    }

    @Test func membersThatKeepSendingStayBoundWhileBothLoopsSweep() async throws {
        let clock = ManualClock(nanoseconds: 1_000_000_000)
        let relay = try await TestRelay.start(clock: clock) { config in
            config.threads = 2
            config.idleTimeout = .seconds(1)
        }
        defer { Task { await relay.stop() } }
        let sessions = [try relay.makeMembers(2), try relay.makeMembers(2)]
        #expect(Set(sessions.map { $0[0].sessionLow % 2 }) == [0, 1])
        // Time moves 0.4 s per round, faster than the sweeps run: every member sends once per
        // round, so none is ever idle for the 1 s timeout, whichever loop sweeps when.
        var sequence: UInt32 = 0
        for _ in 0..<20 {
            clock.advance(by: .milliseconds(400))
            sequence += 1
            for members in sessions {
                for member in members {
                    member.udp.send(member.header(PacketType.data, target: PacketHeader.broadcastTarget, sequence: sequence), payload: [1])
                }
                for member in members { _ = try member.udp.expectDatagram("the other member's broadcast") }
            }
        }
        #expect(try await relay.counters().idleUnbinds == 0)
        // Silent for longer than the timeout on the injected clock: every member is unbound, on
        // both loops, without the test waiting out a real second.
        clock.advance(by: .milliseconds(1_100))
        for members in sessions {
            for member in members { _ = try member.client.expectEvent("unbound") }
        }
        #expect(try await relay.counters().idleUnbinds == 4)
    }
}
