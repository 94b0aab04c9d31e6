import Logging
import RelayClient
import RelayServer
import RelayWire
import TestSupport
import Testing
import UVNet

/// RelayClient against an in-process relay on loopback; relay and clients run on one loop.
@Suite("RelayClient")
struct RelayClientTests {
    /// A relay plus `count` clients joined to one session and bound; events and data land in inboxes.
    final class Fixture: Sendable {
        let loop = EventLoop(name: "client-test")
        let clients: LoopBound<[RelayClient]>
        let data: [Inbox<(sender: UInt16, sequence: UInt32, flags: UInt8, payload: [UInt8])>]
        let events: [Inbox<RelayEvent>]
        let memberships: [Membership]
        let relay: LoopBound<RelayServer>

        init(members count: Int, host: String = "127.0.0.1", keepAlive: Duration? = .seconds(10), tick: Int? = nil,
             configure: @escaping @Sendable (inout RelayConfig) -> Void = { _ in }) async throws {
            let loop = self.loop
            let data = (0..<count).map { _ in Inbox<(sender: UInt16, sequence: UInt32, flags: UInt8, payload: [UInt8])>() }
            let events = (0..<count).map { _ in Inbox<RelayEvent>() }
            self.data = data
            self.events = events
            let ready = Inbox<Result<Membership, RelayClientError>>()
            let (relay, clients) = try await loop.submit {
                var config = RelayConfig()
                config.host = host
                config.port = 0
                // Setting up many clients on a loaded machine can take longer than the default 10 s
                // binding idle timeout; the tests here are not about idling.
                config.idleTimeout = .seconds(300)
                configure(&config)
                var logger = Logger(label: "client-test")
                logger.logLevel = .warning
                let server = RelayServer(loop: loop, config: config, logger: logger)
                try server.start()
                let port = server.controlAddress!.port
                let clients = (0..<count).map { _ in RelayClient(loop: loop) }
                for (index, client) in clients.enumerated() {
                    client.keepAliveInterval = keepAlive
                    client.onData = { data[index].put(($0.sender, $0.sequence, $0.header.flags, Array($0.payload))) }
                    client.onEvent = { events[index].put($0) }
                }
                let creator = clients[0]
                creator.connect(host: host, port: port) { _ in
                    creator.create(tick: tick) { created in
                        guard case .success(let session) = created else { return }
                        for client in clients {
                            let join = { client.join(code: session.code.lowercased(), name: "p") { result in
                                if case .failure = result { ready.put(result); return }
                                client.bind { bound in
                                    switch bound {
                                    case .success: ready.put(result)
                                    case .failure(let error): ready.put(.failure(error))
                                    }
                                }
                            } }
                            if client === creator { join() } else { client.connect(host: host, port: port) { _ in join() } }
                        }
                    }
                }
                return (LoopBound(server, loop: loop), LoopBound(clients, loop: loop))
            }
            self.relay = relay
            self.clients = clients
            let results = try await ready.wait(for: count, "joined and bound clients")
            memberships = try results.map { try $0.get() }.sorted { $0.member < $1.member }
        }

        /// Runs `body` with the client that holds member id `member`.
        func with(member: UInt16, _ body: @escaping @Sendable (RelayClient) throws -> Void) async throws {
            let clients = self.clients
            try await loop.submit {
                let client = clients.value.first { $0.membership?.member == member }!
                try body(client)
            }
        }

        /// The inbox index of member id `member`.
        func index(of member: UInt16) async throws -> Int {
            let clients = self.clients
            return try await loop.submit { clients.value.firstIndex { $0.membership?.member == member }! }
        }

        func shutdown() async {
            let relay = self.relay
            // The relay's data loops are threads of their own: stop them with it.
            _ = try? await loop.submit { relay.value.stop() }
            await loop.shutdown()
        }
    }

    @Test func theControlChannelIsKeptAliveWhileOnlyUDPFlows() async throws {
        // A relay that closes silent control connections after 0.6 s, and clients that ping
        // every 0.15 s: after three timeouts' worth of time both are still members.
        let fixture = try await Fixture(members: 2, keepAlive: .milliseconds(150)) { $0.controlIdleTimeout = .milliseconds(600) }
        try await Task.sleep(for: .milliseconds(1800))
        for index in 0..<2 {
            #expect(!fixture.events[index].all.contains(.closed), "client \(index) was closed: \(fixture.events[index].all)")
            #expect(!fixture.events[index].all.contains { if case .closing = $0 { true } else { false } })
        }
        try await fixture.with(member: 1) { client in
            try [UInt8]([7]).withUnsafeBytes { try client.send($0) }
        }
        let got = try await fixture.data[fixture.index(of: 2)].wait("DATA after the idle timeout")
        #expect(got[0].payload == [7])
        await fixture.shutdown()
    }

    @Test func withoutKeepAliveTheRelaySaysClosingThenCloses() async throws {
        let fixture = try await Fixture(members: 1, keepAlive: nil) { $0.controlIdleTimeout = .milliseconds(400) }
        // The member's `bound` event may come first: it is not what this test is about.
        let events = try await fixture.events[0].wait(until: { $0 == .closed }, "closing, then closed")
        #expect(events.filter { if case .bound = $0 { false } else { true } } == [.closing(reason: "idle"), .closed], "\(events)")
        await fixture.shutdown()
    }

    @Test func joinsBindsAndBroadcasts() async throws {
        let fixture = try await Fixture(members: 3)
        #expect(fixture.memberships.map(\.member) == [1, 2, 3])
        try await fixture.with(member: 1) { client in
            try [UInt8]([1, 2, 3]).withUnsafeBytes { try client.send($0) }
        }
        for member: UInt16 in [2, 3] {
            let got = try await fixture.data[fixture.index(of: member)].wait("broadcast DATA")
            #expect(got[0].sender == 1 && got[0].sequence == 1 && got[0].payload == [1, 2, 3])
        }
        #expect(fixture.data[try await fixture.index(of: 1)].all.isEmpty)
        await fixture.shutdown()
    }

    @Test func unicastAndLatestFlag() async throws {
        let fixture = try await Fixture(members: 3)
        try await fixture.with(member: 2) { client in
            try [UInt8]([9]).withUnsafeBytes { try client.send($0, to: 3, latest: true) }
        }
        let got = try await fixture.data[fixture.index(of: 3)].wait("unicast DATA")
        #expect(got[0].sender == 2 && got[0].flags == PacketFlags.latest && got[0].payload == [9])
        // Member 1 was not the target; a later broadcast from 2 is the positive control.
        try await fixture.with(member: 2) { client in
            try [UInt8]([10]).withUnsafeBytes { try client.send($0) }
        }
        let first = try await fixture.data[fixture.index(of: 1)].wait("control broadcast")
        #expect(first.map(\.payload) == [[10]])
        await fixture.shutdown()
    }

    @Test func oversizeDataIsRefusedBeforeSending() async throws {
        let fixture = try await Fixture(members: 2) { $0.maxDatagram = 100 }
        let outcome = Inbox<String>()
        try await fixture.with(member: 1) { client in
            client.hello { _ in
                let tooBig = [UInt8](repeating: 0, count: 85)
                let exact = [UInt8](repeating: 0, count: 84)
                do {
                    try tooBig.withUnsafeBytes { try client.send($0) }
                    outcome.put("sent")
                } catch {
                    outcome.put((error as? RelayClientError)?.code.name ?? "\(error)")
                }
                try? exact.withUnsafeBytes { try client.send($0) }
            }
        }
        #expect(try await outcome.wait("send outcome") == ["datagramTooLarge"])
        let got = try await fixture.data[fixture.index(of: 2)].wait("exact-size DATA")
        #expect(got.count == 1 && got[0].payload.count == 84 && got[0].sequence == 1)
        await fixture.shutdown()
    }

    /// A burst of 100 leaves in segmented sends of at most 64 and reaches every other member as
    /// 100 ordinary DATA datagrams, in order, each with its own sequence and payload.
    @Test func burstsArriveAsSeparateDatagramsInOrder() async throws {
        let fixture = try await Fixture(members: 3)
        let taken = Inbox<Int>()
        try await fixture.with(member: 1) { client in
            let count = try client.sendBurst(count: 100, payloadSize: 24) { index, bytes in
                bytes.initializeMemory(as: UInt8.self, repeating: UInt8(index))
            }
            taken.put(count)
            // Unicast bursts carry the target in every header.
            try client.sendBurst(count: 2, payloadSize: 1, to: 3) { _, bytes in bytes[0] = 0xEE }
        }
        #expect(try await taken.wait("datagrams taken") == [100])
        for member: UInt16 in [2, 3] {
            let expected = member == 3 ? 102 : 100
            let got = try await fixture.data[fixture.index(of: member)].wait(for: expected, "a burst's datagrams")
            #expect(got.map(\.sequence) == Array(1...UInt32(expected)))
            #expect(got.prefix(100).map(\.payload) == (0..<100).map { [UInt8](repeating: UInt8($0), count: 24) })
            #expect(got.allSatisfy { $0.sender == 1 })
        }
        #expect(fixture.data[try await fixture.index(of: 2)].all.count == 100, "the unicast burst went to member 3 alone")
        await fixture.shutdown()
    }

    @Test func oversizeBurstsAreRefusedBeforeSending() async throws {
        let fixture = try await Fixture(members: 2) { $0.maxDatagram = 100 }
        let outcome = Inbox<String>()
        try await fixture.with(member: 1) { client in
            // HELLO tells the client the relay's limit.
            client.hello { _ in
                do {
                    try client.sendBurst(count: 3, payloadSize: 85) { _, _ in }
                    outcome.put("sent")
                } catch {
                    outcome.put((error as? RelayClientError)?.code.name ?? "\(error)")
                }
                _ = try? client.sendBurst(count: 1, payloadSize: 84) { _, bytes in bytes.initializeMemory(as: UInt8.self, repeating: 7) }
            }
        }
        #expect(try await outcome.wait("burst outcome") == ["datagramTooLarge"])
        let got = try await fixture.data[fixture.index(of: 2)].wait("the exact-size burst")
        #expect(got.count == 1 && got[0].sequence == 1 && got[0].payload == [UInt8](repeating: 7, count: 84))
        await fixture.shutdown()
    }

    @Test func pingMeasuresRoundTrips() async throws {
        let fixture = try await Fixture(members: 2)
        let pongs = Inbox<UInt32>()
        try await fixture.with(member: 1) { client in
            client.onPong = { sequence, rtt in if rtt > .zero { pongs.put(sequence) } }
            for _ in 0..<3 { try client.ping() }
        }
        #expect(try await pongs.wait(for: 3, "pongs").sorted() == [1, 2, 3])
        await fixture.shutdown()
    }

    @Test func eventsReachTheClient() async throws {
        let fixture = try await Fixture(members: 2)
        let leaverIndex = try await fixture.index(of: 2)
        let stayerIndex = try await fixture.index(of: 1)
        try await fixture.with(member: 2) { client in client.leave { _ in } }
        let events = try await fixture.events[stayerIndex].wait(for: 3, "joined, bound and left")
        #expect(events.contains(.joined(member: 2, name: "p")))
        #expect(events.last == .left(member: 2, reason: "leave"))
        // The one who left is never told about itself.
        #expect(!fixture.events[leaverIndex].all.contains { if case .left = $0 { true } else { false } })
        await fixture.shutdown()
    }

    @Test func refusalsCarryTheRelaysCode() async throws {
        let fixture = try await Fixture(members: 1)
        let codes = Inbox<String>()
        try await fixture.with(member: 1) { client in
            client.join(session: "0000000000000000") { result in
                if case .failure(let error) = result { codes.put(error.relayCode ?? "none") }
            }
        }
        #expect(try await codes.wait("join refusal") == ["already_joined"])
        await fixture.shutdown()
    }
}
