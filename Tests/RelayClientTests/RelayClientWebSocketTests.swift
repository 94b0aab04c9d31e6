import Foundation
import Logging
import RelayClient
import RelayServer
import RelayWire
import TestSupport
import Testing
@_spi(Testing) import UVNet

/// RelayClient over a WebSocket (PROTOCOL.md §7) against an in-process relay, plain and inside
/// TLS, beside UDP members of the same session.
@Suite("RelayClient over a WebSocket")
struct RelayClientWebSocketTests {
    /// A relay (with TLS when given a PKI) on a loop shared with its clients. A test keeps the
    /// clients it connects: a RelayClient no one holds does nothing more.
    final class Relay: Sendable {
        let loop = EventLoop(name: "client-ws-test")
        let relay: LoopBound<RelayServer>
        let port: Int
        let host: String
        let directory: URL

        init(host: String = "127.0.0.1", pki: TestCertificates? = nil,
             configure: @escaping @Sendable (inout RelayConfig) -> Void = { _ in }) async throws {
            self.host = host
            directory = FileManager.default.temporaryDirectory.appendingPathComponent("gamerelay-client-ws-\(UUID().uuidString)")
            (relay, port) = try await startClientTestRelay(on: loop, host: host, pki: pki, directory: directory, label: "client-ws-test") { config in
                config.idleTimeout = .seconds(300)
                configure(&config)
            }
        }

        /// Connects a client over `transport`; the outcome, then its events, data and pongs, go
        /// to the inboxes.
        func connect(_ transport: RelayTransport, tls: TLSContext? = nil, outcome: Inbox<Result<Void, RelayClientError>>,
                     events: Inbox<RelayEvent> = Inbox(), data: Inbox<(sender: UInt16, payload: [UInt8])> = Inbox(),
                     pongs: Inbox<UInt32> = Inbox()) async throws -> LoopBound<RelayClient> {
            let (port, host, loop) = (self.port, self.host, self.loop)
            return try await loop.submit {
                let client = RelayClient(loop: loop)
                client.onEvent = { events.put($0) }
                client.onData = { data.put(($0.sender, Array($0.payload))) }
                client.onPong = { sequence, _ in pongs.put(sequence) }
                client.connect(host: host, port: port, tls: tls, transport: transport) { outcome.put($0) }
                return LoopBound(client, loop: loop)
            }
        }

        /// Creates a session with `creator`, then joins and binds each of `members` (the
        /// creator among them, or not); returns their memberships in order.
        func populate(creator: LoopBound<RelayClient>, _ members: [LoopBound<RelayClient>]) async throws -> [Membership] {
            let created = Inbox<Result<CreatedSession, RelayClientError>>()
            try await loop.submit { creator.value.create { created.put($0) } }
            let session = try await created.wait("the session")[0].get()
            var memberships: [Membership] = []
            for member in members {
                let joined = Inbox<Result<Membership, RelayClientError>>()
                try await loop.submit {
                    let client = member.value
                    client.join(session: session.session) { result in
                        guard case .success = result else { return joined.put(result) }
                        client.bind { bound in joined.put(bound.flatMap { result }) }
                    }
                }
                memberships.append(try await joined.wait("a member joined and bound")[0].get())
            }
            return memberships
        }

        func shutdown() async {
            let relay = self.relay
            _ = try? await loop.submit { relay.value.stop() }
            await loop.shutdown()
            try? FileManager.default.removeItem(at: directory)
        }
    }

    @Test(arguments: ["127.0.0.1", "::1"])
    func aWebSocketMemberAndAUDPMemberExchangeData(host: String) async throws {
        let relay = try await Relay(host: host)
        defer { Task { await relay.shutdown() } }
        let connected = Inbox<Result<Void, RelayClientError>>()
        let (udpData, webData, webEvents) = (Inbox<(sender: UInt16, payload: [UInt8])>(), Inbox<(sender: UInt16, payload: [UInt8])>(), Inbox<RelayEvent>())
        let udp = try await relay.connect(.udp, outcome: connected, data: udpData)
        let web = try await relay.connect(.webSocket(), outcome: connected, events: webEvents, data: webData)
        defer { withExtendedLifetime((udp, web)) {} }
        for result in try await connected.wait(for: 2, "both connections") { try result.get() }
        let hello = Inbox<Result<RelayHello, RelayClientError>>()
        try await relay.loop.submit { web.value.hello { hello.put($0) } }
        #expect(try await hello.wait("hello over the WebSocket")[0].get().features.contains("websocket"))

        let memberships = try await relay.populate(creator: udp, [udp, web])
        #expect(try await relay.loop.submit { web.value.isBound && web.value.localUDPAddress == nil })
        // Bound at its join: the relay says so with the connection's own address.
        let bound = try await webEvents.wait("the bound event").compactMap { event -> String? in
            if case .bound(let address) = event { return address }
            return nil
        }
        #expect(bound.first?.contains(host == "::1" ? "[::1]:" : "127.0.0.1:") == true, "\(webEvents.all)")

        try await relay.loop.submit { try [UInt8]([1, 2, 3]).withUnsafeBytes { try udp.value.send($0) } }
        let atWeb = try await webData.wait("DATA from the UDP member")[0]
        #expect(atWeb.sender == memberships[0].member && atWeb.payload == [1, 2, 3])
        try await relay.loop.submit { try [UInt8]([4, 5]).withUnsafeBytes { try web.value.send($0, to: memberships[0].member) } }
        let atUDP = try await udpData.wait("DATA from the WebSocket member")[0]
        #expect(atUDP.sender == memberships[1].member && atUDP.payload == [4, 5])
    }

    @Test func aBurstOverAWebSocketArrivesInOrder() async throws {
        let relay = try await Relay()
        defer { Task { await relay.shutdown() } }
        let connected = Inbox<Result<Void, RelayClientError>>()
        let udpData = Inbox<(sender: UInt16, payload: [UInt8])>()
        let udp = try await relay.connect(.udp, outcome: connected, data: udpData)
        let web = try await relay.connect(.webSocket(), outcome: connected)
        defer { withExtendedLifetime((udp, web)) {} }
        for result in try await connected.wait(for: 2, "both connections") { try result.get() }
        _ = try await relay.populate(creator: web, [udp, web])
        let taken = try await relay.loop.submit {
            try web.value.sendBurst(count: 5, payloadSize: 4) { index, bytes in
                bytes.copyBytes(from: [UInt8(index), 0, 0, UInt8(index)])
            }
        }
        #expect(taken == 5)
        let received = try await udpData.wait(for: 5, "the burst")
        #expect(received.map { $0.payload[0] } == [0, 1, 2, 3, 4])
    }

    @Test func aPingOverAWebSocketComesBackAsAPong() async throws {
        let relay = try await Relay()
        defer { Task { await relay.shutdown() } }
        let connected = Inbox<Result<Void, RelayClientError>>()
        let pongs = Inbox<UInt32>()
        let web = try await relay.connect(.webSocket(), outcome: connected, pongs: pongs)
        defer { withExtendedLifetime(web) {} }
        try await connected.wait("the connection")[0].get()
        _ = try await relay.populate(creator: web, [web])
        let sequence = try await relay.loop.submit { try web.value.ping() }
        #expect(try await pongs.wait("the PONG")[0] == sequence)
    }

    @Test func leavingKeepsTheWebSocketOpenForTheNextJoin() async throws {
        let relay = try await Relay()
        defer { Task { await relay.shutdown() } }
        let connected = Inbox<Result<Void, RelayClientError>>()
        let (udpEvents, webEvents) = (Inbox<RelayEvent>(), Inbox<RelayEvent>())
        let udp = try await relay.connect(.udp, outcome: connected, events: udpEvents)
        let web = try await relay.connect(.webSocket(), outcome: connected, events: webEvents)
        defer { withExtendedLifetime((udp, web)) {} }
        for result in try await connected.wait(for: 2, "both connections") { try result.get() }
        let memberships = try await relay.populate(creator: udp, [udp, web])
        let left = Inbox<Result<Void, RelayClientError>>()
        try await relay.loop.submit { web.value.leave { left.put($0) } }
        try await left.wait("the leave")[0].get()
        #expect(try await udpEvents.wait(for: 3, "bound, joined, then left").contains(.left(member: memberships[1].member, reason: "leave")))
        let notJoined = try await relay.loop.submit { () -> RelayClientError.Code? in
            do {
                try [UInt8]([1]).withUnsafeBytes { try web.value.send($0) }
                return nil
            } catch {
                return (error as? RelayClientError)?.code
            }
        }
        #expect(notJoined == .notJoined)
        #expect(try await relay.loop.submit { web.value.membership == nil && !web.value.isBound })
        // The connection is still there: a request is answered, and no `.closed` came.
        let ping = Inbox<Result<Void, RelayClientError>>()
        try await relay.loop.submit { web.value.controlPing { ping.put($0) } }
        try await ping.wait("a ping after the leave")[0].get()
        #expect(!webEvents.all.contains(.closed))
        // And the same WebSocket joins again, bound at once as before.
        let rejoined = Inbox<Result<Membership, RelayClientError>>()
        try await relay.loop.submit { web.value.join(session: memberships[0].session) { rejoined.put($0) } }
        let again = try await rejoined.wait("the second join")[0].get()
        #expect(again.member != memberships[1].member)
        #expect(try await relay.loop.submit { web.value.isBound })
    }

    @Test func closingAWebSocketMemberIsADisconnectForTheOthers() async throws {
        let relay = try await Relay()
        defer { Task { await relay.shutdown() } }
        let connected = Inbox<Result<Void, RelayClientError>>()
        let udpEvents = Inbox<RelayEvent>()
        let udp = try await relay.connect(.udp, outcome: connected, events: udpEvents)
        let web = try await relay.connect(.webSocket(), outcome: connected)
        defer { withExtendedLifetime((udp, web)) {} }
        for result in try await connected.wait(for: 2, "both connections") { try result.get() }
        let memberships = try await relay.populate(creator: udp, [udp, web])
        try await relay.loop.submit { web.value.close() }
        let events = try await udpEvents.wait(for: 3, "bound, joined, then left")
        #expect(events.contains(.left(member: memberships[1].member, reason: "disconnect")), "\(events)")
    }

    @Test(arguments: ["127.0.0.1", "::1"])
    func wssMembersExchangeDataWithUDPMembers(host: String) async throws {
        let pki = TestCertificates()
        let relay = try await Relay(host: host, pki: pki)
        defer { Task { await relay.shutdown() } }
        let context = try TLSContext.client(trustRoots: pki.rootPEM)
        let connected = Inbox<Result<Void, RelayClientError>>()
        let (udpData, webData) = (Inbox<(sender: UInt16, payload: [UInt8])>(), Inbox<(sender: UInt16, payload: [UInt8])>())
        let udp = try await relay.connect(.udp, outcome: connected, data: udpData)
        let web = try await relay.connect(.webSocket(), tls: context, outcome: connected, data: webData)
        defer { withExtendedLifetime((udp, web)) {} }
        for result in try await connected.wait(for: 2, "both connections") { try result.get() }
        let hello = Inbox<Result<RelayHello, RelayClientError>>()
        try await relay.loop.submit { web.value.hello { hello.put($0) } }
        #expect(try await hello.wait("hello over wss")[0].get().tls)
        let memberships = try await relay.populate(creator: web, [udp, web])
        try await relay.loop.submit { try [UInt8]([9]).withUnsafeBytes { try udp.value.send($0) } }
        #expect(try await webData.wait("DATA over wss")[0].payload == [9])
        try await relay.loop.submit { try [UInt8]([8]).withUnsafeBytes { try web.value.send($0) } }
        let atUDP = try await udpData.wait("DATA from the wss member")[0]
        #expect(atUDP.sender == memberships[1].member && atUDP.payload == [8])
    }

    @Test func aPlainUpgradeToARelayThatRequiresTLSIsRefusedWith403() async throws {
        let relay = try await Relay(pki: TestCertificates()) { $0.tlsRequired = true }
        defer { Task { await relay.shutdown() } }
        let outcome = Inbox<Result<Void, RelayClientError>>()
        let web = try await relay.connect(.webSocket(), outcome: outcome)
        defer { withExtendedLifetime(web) {} }
        guard case .failure(let error) = try await outcome.wait("the refused upgrade")[0] else {
            throw TestFailure("a plain upgrade to a relay that requires TLS succeeded")
        }
        #expect(error.code == .upgradeRefused)
        #expect(error.httpStatus == 403)
        #expect(error.message.contains("HTTP 403"), "\(error.message)")
    }
}

extension RelayClientWebSocketTests {
    @Test func anOriginTheRelayDoesNotListIsRefusedWith403AndAListedOneUpgrades() async throws {
        let relay = try await Relay { $0.wsOrigins = ["https://game.example"] }
        defer { Task { await relay.shutdown() } }
        let refused = Inbox<Result<Void, RelayClientError>>()
        let accepted = Inbox<Result<Void, RelayClientError>>()
        let anonymous = try await relay.connect(.webSocket(), outcome: refused)
        let stranger = try await relay.connect(.webSocket(origin: "https://other.example"), outcome: refused)
        let listed = try await relay.connect(.webSocket(origin: "https://game.example"), outcome: accepted)
        defer { withExtendedLifetime((anonymous, stranger, listed)) {} }
        for result in try await refused.wait(for: 2, "two refused upgrades") {
            guard case .failure(let error) = result else { throw TestFailure("an origin the relay does not list was accepted") }
            #expect(error.code == .upgradeRefused && error.httpStatus == 403, "\(error)")
        }
        try await accepted.wait("the listed origin's upgrade")[0].get()
    }
}

extension RelayClientWebSocketTests {
    @Test func aTickSessionsAggregatesReachAWebSocketMemberEntryByEntry() async throws {
        let relay = try await Relay()
        defer { Task { await relay.shutdown() } }
        let connected = Inbox<Result<Void, RelayClientError>>()
        let udp = try await relay.connect(.udp, outcome: connected)
        let web = try await relay.connect(.webSocket(), outcome: connected)
        defer { withExtendedLifetime((udp, web)) {} }
        for result in try await connected.wait(for: 2, "both connections") { try result.get() }
        let updates = Inbox<(sender: UInt16, sequence: UInt32, tick: UInt32?, payload: [UInt8])>()
        try await relay.loop.submit { web.value.onData = { updates.put(($0.sender, $0.sequence, $0.tick, Array($0.payload))) } }
        let created = Inbox<Result<CreatedSession, RelayClientError>>()
        try await relay.loop.submit { udp.value.create(tick: 30) { created.put($0) } }
        let session = try await created.wait("the tick session")[0].get()
        #expect(session.tick == 30)
        var memberships: [Membership] = []
        for member in [udp, web] {
            let joined = Inbox<Result<Membership, RelayClientError>>()
            try await relay.loop.submit {
                let client = member.value
                client.join(session: session.session) { result in
                    guard case .success = result else { return joined.put(result) }
                    client.bind { bound in joined.put(bound.flatMap { result }) }
                }
            }
            memberships.append(try await joined.wait("a member of the tick session")[0].get())
        }
        try await relay.loop.submit { try [UInt8]([3, 1, 4]).withUnsafeBytes { try udp.value.send($0, latest: true) } }
        let update = try await updates.wait("the aggregated state")[0]
        #expect(update.sender == memberships[0].member && update.payload == [3, 1, 4])
        #expect(update.tick != nil, "a LATEST broadcast in a tick session arrives in an AGGREGATE")
        #expect(try await relay.loop.submit { web.value.aggregatesReceived } >= 1)
    }
}
