import Foundation
import RelayServer
import RelayWire
import Testing
import UVNet

@Suite("Data channel")
struct DataPlaneTests {
    static let broadcast: UInt16 = 0xFFFF

    /// Linux grants twice the request, capped at twice `net.core.rmem_max`.
    @Test func theUDPSocketGetsTheLargerReceiveBuffer() async throws {
        let relay = try await TestRelay.start()
        defer { Task { await relay.stop() } }
        let text = try String(contentsOfFile: "/proc/sys/net/core/rmem_max", encoding: .utf8)
        let cap = try #require(Int(text.trimmingCharacters(in: .whitespacesAndNewlines)))
        let granted = try await relay.read { $0.udpReceiveBuffer }
        #expect(granted == 2 * min(4 << 20, cap))
    }

    @Test func bindNeedsTheCookieRoundTripAndAnnouncesTheAddress() async throws {
        let relay = try await TestRelay.start()
        defer { Task { await relay.stop() } }
        let (_, created) = try relay.createSession()
        let member = try relay.join(created["session"] as! String, bind: false)
        let bind = member.header(PacketType.bind, sequence: 77, flags: 0x80)
        member.udp.send(bind, payload: member.token)
        let ack = try member.udp.expectDatagram()
        #expect(ack.count == 24)
        // BIND_ACK copies the header and changes only the type.
        #expect(Array(ack[..<16]) == bind.replying(as: PacketType.bindAck).bytes)
        member.udp.send(bind, payload: member.token + Array(ack[16...]))
        #expect(try member.udp.expectDatagram() == bind.replying(as: PacketType.bindAck).bytes)
        let bound = try member.client.expectEvent("bound")
        #expect(bound["address"] as? String == "127.0.0.1:\(member.udp.localPort)")
        // From the bound address, BIND is answered at once with an empty BIND_ACK.
        member.udp.send(bind, payload: member.token)
        #expect(try member.udp.expectDatagram().count == 16)
        // The data plane publishes its counters when the receive batch ends, just after it answers.
        try await relay.waitForCounters("one bind") { $0.binds == 1 && $0.bindAcksSent == 3 }
    }

    @Test func wrongTokensAndForgedCookiesGetNoAnswer() async throws {
        let relay = try await TestRelay.start()
        defer { Task { await relay.stop() } }
        let (_, created) = try relay.createSession()
        let member = try relay.join(created["session"] as! String, bind: false)
        var wrong = member.token
        wrong[0] ^= 1
        member.udp.send(member.header(PacketType.bind), payload: wrong)
        member.udp.send(member.header(PacketType.bind), payload: member.token + [1, 2, 3, 4, 5, 6, 7, 8])
        member.udp.send(member.header(PacketType.bind), payload: Array(member.token.prefix(15)))
        try await relay.waitForCounters("bad tokens and malformed counted") {
            $0.drops(.badToken) == 2 && $0.drops(.malformed) == 1
        }
        #expect(member.udp.receive(timeout: .milliseconds(100)) == nil)
        // A cookie proves one address only: another socket can't use it.
        member.udp.send(member.header(PacketType.bind), payload: member.token)
        let cookie = Array(try member.udp.expectDatagram()[16...])
        let thief = try UDPTestClient(relayPort: relay.udpPort)
        thief.send(member.header(PacketType.bind), payload: member.token + cookie)
        try await relay.waitForCounters("stolen cookie refused") { $0.drops(.badToken) == 3 }
        #expect(thief.receive(timeout: .milliseconds(100)) == nil)
    }

    @Test(arguments: [1, 2])
    func dataIsForwardedUnchangedToEveryOtherBoundMember(threads: Int) async throws {
        let relay = try await TestRelay.start { $0.threads = threads }
        defer { Task { await relay.stop() } }
        let members = try relay.makeMembers(3)
        let unbound = try relay.join(members[0].session, name: "late", bind: false)
        for member in members { _ = try member.client.expectEvent("joined") }
        let datagram = members[0].header(PacketType.data, target: Self.broadcast, sequence: 5, flags: 0x40).bytes + Array("hello".utf8)
        members[0].udp.send(datagram)
        #expect(try members[1].udp.expectDatagram() == datagram)
        #expect(try members[2].udp.expectDatagram() == datagram)
        // Unicast reaches only its target.
        let unicast = members[0].header(PacketType.data, target: 3, sequence: 6).bytes + [9]
        members[0].udp.send(unicast)
        #expect(try members[2].udp.expectDatagram() == unicast)
        try await relay.waitForCounters("three forwarded") { $0.datagramsForwarded == 3 }
        #expect(members[0].udp.receive(timeout: .milliseconds(50)) == nil)
        #expect(members[1].udp.receive(timeout: .milliseconds(50)) == nil)
        #expect(unbound.udp.receive(timeout: .milliseconds(50)) == nil)
    }

    /// The fan-out reads routes kept beside the members: each change of binding or membership
    /// must reach them, or a broadcast would go to an old address or a departed member.
    @Test(arguments: [1, 2])
    func broadcastsFollowRebindLeaveAndKick(threads: Int) async throws {
        let relay = try await TestRelay.start { $0.threads = threads }
        defer { Task { await relay.stop() } }
        let members = try relay.makeMembers(3)
        let (a, b, c) = (members[0], members[1], members[2])
        var sequence: UInt32 = 0
        func broadcast() -> [UInt8] {
            sequence += 1
            let datagram = a.header(PacketType.data, target: Self.broadcast, sequence: sequence).bytes + [UInt8(sequence)]
            a.udp.send(datagram)
            return datagram
        }

        // B moves to a new address: the cookie round trip from there rebinds it.
        let moved = try UDPTestClient(relayPort: relay.udpPort)
        moved.send(b.header(PacketType.bind), payload: b.token)
        let cookie = Array(try moved.expectDatagram("cookie BIND_ACK")[16...])
        moved.send(b.header(PacketType.bind), payload: b.token + cookie)
        #expect(try moved.expectDatagram("empty BIND_ACK").count == 16)
        var sent = broadcast()
        #expect(try moved.expectDatagram() == sent)
        #expect(try c.udp.expectDatagram() == sent)
        #expect(b.udp.receive(timeout: .milliseconds(100)) == nil)

        // C leaves: it gets nothing more; B, at its new address, still does.
        #expect(try c.client.request(#"{"op":"leave"}"#)["ok"] as? Bool == true)
        sent = broadcast()
        #expect(try moved.expectDatagram() == sent)
        #expect(c.udp.receive(timeout: .milliseconds(100)) == nil)

        // B is kicked: A is alone, and its broadcast has no target.
        _ = try a.client.expectEvent("left")
        #expect(try a.client.request("{\"op\":\"kick\",\"member\":\(b.member)}")["ok"] as? Bool == true)
        _ = broadcast()
        try await relay.waitForCounters("broadcast without a target") { $0.drops(.noTarget) == 1 }
        #expect(moved.receive(timeout: .milliseconds(100)) == nil)
        #expect(try await relay.counters().datagramsForwarded == 3)
    }

    @Test func pingIsAnsweredWithAnExactPong() async throws {
        let relay = try await TestRelay.start()
        defer { Task { await relay.stop() } }
        let member = try relay.makeMembers(1)[0]
        let ping = member.header(PacketType.ping, sequence: 42)
        member.udp.send(ping, payload: Array(repeating: 0xAB, count: 64))
        #expect(try member.udp.expectDatagram() == ping.replying(as: PacketType.pong).bytes + Array(repeating: 0xAB, count: 64))
        member.udp.send(ping, payload: Array(repeating: 0xAB, count: 65))
        try await relay.waitForCounters("long ping malformed") { $0.drops(.malformed) == 1 }
        #expect(member.udp.receive(timeout: .milliseconds(50)) == nil)
    }

    @Test(arguments: [1, 2])
    func everyDropReasonIsCountedInOrder(threads: Int) async throws {
        // A frozen data-plane clock: the 5-packet bucket never refills, however long the round
        // trips before the flood take.
        let relay = try await TestRelay.start(clock: ManualClock()) { $0.memberPacketRate = 5; $0.maxDatagram = 100; $0.threads = threads }
        defer { Task { await relay.stop() } }
        let members = try relay.makeMembers(2)
        let (a, b) = (members[0], members[1])
        let stranger = try UDPTestClient(relayPort: relay.udpPort)

        a.udp.send(a.header(PacketType.data, target: Self.broadcast, sequence: 1), payload: Array(repeating: 0, count: 85))
        a.udp.send([0x47, 1, 3])
        a.udp.send(PacketHeader(type: PacketType.data, flags: 0, session: a.sessionLow, member: 99, target: 0xFFFF, sequence: 1).bytes)
        stranger.send(a.header(PacketType.data, target: Self.broadcast, sequence: 1).bytes)
        a.udp.send(a.header(PacketType.data, target: Self.broadcast, sequence: 10).bytes)
        #expect(try b.udp.expectDatagram().count == 16)
        a.udp.send(a.header(PacketType.data, target: Self.broadcast, sequence: 10).bytes)
        a.udp.send(a.header(PacketType.data, target: Self.broadcast, sequence: 20, flags: PacketFlags.latest).bytes)
        #expect(try b.udp.expectDatagram().count == 16)
        a.udp.send(a.header(PacketType.data, target: Self.broadcast, sequence: 15, flags: PacketFlags.latest).bytes)
        a.udp.send(a.header(PacketType.data, target: a.member, sequence: 21).bytes)
        a.udp.send(a.header(PacketType.data, target: 77, sequence: 22).bytes)
        for sequence in UInt32(30)..<40 {
            a.udp.send(a.header(PacketType.data, target: Self.broadcast, sequence: sequence).bytes)
        }
        // With two loops the stranger's datagram may be counted on the other loop, a little later.
        let counters = try await relay.waitForCounters("all reasons") { $0.drops(.rateLimited) >= 7 && $0.drops(.addressMismatch) >= 1 }
        #expect(counters.drops(.oversize) == 1)
        #expect(counters.drops(.malformed) == 1)
        #expect(counters.drops(.unbound) == 1)
        #expect(counters.drops(.addressMismatch) == 1)
        #expect(counters.drops(.duplicate) == 1)
        #expect(counters.drops(.stale) == 1)
        #expect(counters.drops(.noTarget) == 2)
        // Two forwarded before the flood, then the 5-packet bucket leaves room for three more.
        #expect(counters.datagramsForwarded == 5)
        #expect(counters.drops(.rateLimited) == 7)
        #expect(stranger.receive(timeout: .milliseconds(50)) == nil)
    }

    @Test(arguments: [1, 2])
    func idleBindingsAreRemovedAndNeedACookieAgain(threads: Int) async throws {
        // The data loops' time moves only when the test moves it: the binding's last datagram
        // (its BIND) and the sweeps that judge it read the same clock, whatever the hops cost.
        let clock = ManualClock()
        let relay = try await TestRelay.start(clock: clock) { $0.idleTimeout = .milliseconds(300); $0.threads = threads }
        defer { Task { await relay.stop() } }
        let member = try relay.makeMembers(1)[0]
        clock.advance(by: .milliseconds(299))
        #expect((try? member.client.hasFrame(within: .milliseconds(200))) != true, "unbound before the idle timeout")
        clock.advance(by: .milliseconds(2))
        _ = try member.client.expectEvent("unbound", timeout: .seconds(10))
        member.udp.send(member.header(PacketType.ping), payload: [])
        try await relay.waitForCounters("ping after unbind dropped") { $0.drops(.unbound) == 1 }
        // The next BIND gets a cookie again, not an empty acknowledgement.
        member.udp.send(member.header(PacketType.bind), payload: member.token)
        #expect(try member.udp.expectDatagram().count == 24)
    }

    @Test func ipv6RelayPrintsAddressesInTheFlashForm() async throws {
        let relay = try await TestRelay.start(host: "::1")
        defer { Task { await relay.stop() } }
        let (_, created) = try relay.createSession()
        let member = try relay.join(created["session"] as! String, bind: false)
        member.udp.send(member.header(PacketType.bind), payload: member.token)
        let cookie = Array(try member.udp.expectDatagram()[16...])
        member.udp.send(member.header(PacketType.bind), payload: member.token + cookie)
        _ = try member.udp.expectDatagram()
        #expect(try member.client.expectEvent("bound")["address"] as? String == "[::1]:\(member.udp.localPort)")
    }
}
