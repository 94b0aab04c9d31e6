import Logging
import RelayClient
import RelayServer
import RelayWire
import TestSupport
import Testing
import UVNet

/// RelayClient in tick sessions (PROTOCOL.md §8): AGGREGATE entries reach ``RelayClient/onData``
/// one by one, like DATA, and a malformed AGGREGATE is dropped whole and counted.
@Suite("RelayClient tick sessions")
struct RelayClientTickTests {
    typealias Fixture = RelayClientTests.Fixture

    @Test func aggregatedStatesArriveThroughOnDataLikeForwardedOnes() async throws {
        let fixture = try await Fixture(members: 3, tick: 20)
        try await fixture.with(member: 1) { client in
            try [UInt8]([1, 2, 3]).withUnsafeBytes { try client.send($0, latest: true) }
        }
        for member: UInt16 in [2, 3] {
            let got = try await fixture.data[fixture.index(of: member)].wait("the aggregated state")
            #expect(got[0].sender == 1 && got[0].sequence == 1 && got[0].payload == [1, 2, 3])
            #expect(got[0].flags == PacketFlags.latest)
        }
        // The data loop publishes its counters just after the tick's send: wait (bounded) for them.
        let relay = fixture.relay
        var counters = try await fixture.loop.submit { relay.value.counters }
        let deadline = ContinuousClock.now + .seconds(15)
        while counters.aggregatesSent < 2, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(5))
            counters = try await fixture.loop.submit { relay.value.counters }
        }
        #expect(counters.aggregatesSent == 2 && counters.datagramsForwarded == 0, "it came in AGGREGATEs: \(counters)")
        // Without LATEST the same call is forwarded at once, and arrives the same way.
        try await fixture.with(member: 2) { client in
            try [UInt8]([9]).withUnsafeBytes { try client.send($0) }
        }
        let voice = try await fixture.data[fixture.index(of: 3)].wait(for: 2, "the forwarded DATA")
        #expect(voice[1].sender == 2 && voice[1].payload == [9] && voice[1].flags == 0)
        // The sender never gets its own state back: the one update it sees is member 2's.
        let first = try await fixture.data[fixture.index(of: 1)].wait("member 2's DATA")
        #expect(first.map(\.sender) == [2])
        await fixture.shutdown()
    }

    @Test func theTickNumberComesWithEachAggregatedUpdate() async throws {
        let loop = EventLoop(name: "client-tick")
        let updates = Inbox<(sender: UInt16, tick: UInt32?)>()
        let done = Inbox<Bool>()
        let relay = try await loop.submit {
            var config = RelayConfig()
            config.host = "127.0.0.1"
            config.port = 0
            var logger = Logger(label: "client-tick")
            logger.logLevel = .warning
            let server = RelayServer(loop: loop, config: config, logger: logger)
            try server.start()
            let port = server.controlAddress!.port
            let (a, b) = (RelayClient(loop: loop), RelayClient(loop: loop))
            b.onData = { updates.put(($0.sender, $0.tick)) }
            a.connect(host: "127.0.0.1", port: port) { _ in
                a.create(tick: 10) { created in
                    guard case .success(let session) = created, session.tick == 10 else { return done.put(false) }
                    a.join(session: session.session) { _ in
                        a.bind { _ in
                            b.connect(host: "127.0.0.1", port: port) { _ in
                                b.join(session: session.session) { _ in
                                    b.bind { _ in
                                        _ = try? [UInt8]([5]).withUnsafeBytes { try a.send($0, latest: true) }
                                        done.put(true)
                                    }
                                }
                            }
                        }
                    }
                }
            }
            return LoopBound((server, a, b), loop: loop)
        }
        #expect(try await done.wait("created with tick 10, joined, bound, sent") == [true])
        let got = try await updates.wait("the update")
        #expect(got[0].sender == 1 && got[0].tick != nil)
        _ = try? await loop.submit { relay.value.1.close(); relay.value.2.close(); relay.value.0.stop() }
        await loop.shutdown()
    }

    @Test func aMalformedAggregateIsDroppedWholeAndCounted() async throws {
        let loop = EventLoop(name: "client-malformed")
        let updates = Inbox<(sender: UInt16, sequence: UInt32, payload: [UInt8])>()
        let joined = Inbox<SocketAddress?>()
        let fake = try await loop.submit {
            let relay = try FakeRelay(loop: loop, maxDatagram: 1200, datagrams: Inbox())
            let client = RelayClient(loop: loop)
            client.keepAliveInterval = nil
            client.onData = { updates.put(($0.sender, $0.sequence, Array($0.payload))) }
            client.connect(host: "127.0.0.1", port: relay.controlPort) { _ in
                client.join(code: "ABCDEF") { _ in joined.put(client.localUDPAddress) }
            }
            return LoopBound((relay, client), loop: loop)
        }
        let local = try #require(try await joined.wait("joined the fake relay")[0])
        func aggregate(_ entries: [(UInt16, UInt32, [UInt8])]) -> [UInt8] {
            var bytes = PacketHeader(type: PacketType.aggregate, session: 0xAB, member: 0, target: 1, sequence: 9).bytes
            for (member, sequence, payload) in entries {
                bytes += [UInt8(member >> 8), UInt8(member & 0xFF)] + withUnsafeBytes(of: sequence.bigEndian, Array.init)
                bytes += [UInt8(payload.count >> 8), UInt8(payload.count & 0xFF)] + payload
            }
            return bytes
        }
        let good = aggregate([(2, 20, [2]), (3, 30, [3, 3])])
        // A whole first entry, then a second whose length runs past the end.
        let bad = Array(aggregate([(4, 40, [4]), (5, 50, [5, 5, 5])]).dropLast())
        let last = aggregate([(6, 60, [])])
        try await loop.submit {
            for datagram in [good, bad, last] { try fake.value.0.sendDatagram(datagram, to: local) }
        }
        let got = try await updates.wait(for: 3, "the well-formed entries")
        #expect(got.map(\.sender) == [2, 3, 6], "nothing of the malformed AGGREGATE, not even its whole first entry")
        #expect(got.map(\.sequence) == [20, 30, 60] && got.map(\.payload) == [[2], [3, 3], []])
        let counted = try await loop.submit { (fake.value.1.malformedDatagramsDropped, fake.value.1.aggregatesReceived) }
        #expect(counted.0 == 1)
        #expect(counted.1 == 2, "the two well-formed AGGREGATEs, not their three entries nor the malformed one")
        _ = try? await loop.submit { fake.value.1.close(); fake.value.0.close() }
        await loop.shutdown()
    }
}
