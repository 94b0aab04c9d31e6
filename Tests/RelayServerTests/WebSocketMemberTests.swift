#if canImport(Glibc)
import Glibc
#endif
import Foundation
@testable import RelayServer
import RelayWire
import Testing
import TestSupport
@_spi(Testing) import UVNet

/// WebSocket members (PROTOCOL.md §7) through a real relay on loopback: the upgrade and its
/// refusals, text messages as control messages, binary messages as datagrams crossing to the
/// session's owner loop and back, the backlog bound, close codes and `closing`.
@Suite("WebSocket members")
struct WebSocketMemberTests {
    /// A WebSocket member joined to `session`, with its member id and the session's low 32 bits.
    struct Browser {
        let client: WebSocketTestClient
        let member: UInt16
        let session: UInt32
        let token: [UInt8]

        func header(_ type: UInt8, target: UInt16 = 0xFFFF, sequence: UInt32 = 0, flags: UInt8 = 0) -> PacketHeader {
            PacketHeader(type: type, flags: flags, session: session, member: member, target: target, sequence: sequence)
        }

        func send(_ header: PacketHeader, payload: [UInt8] = []) throws {
            try client.sendBinary(header.bytes + payload)
        }
    }

    /// Upgrades a connection and joins `session` over it; reads the reply and the `bound` event.
    static func joinOverWebSocket(_ relay: TestRelay, _ session: String, name: String = "web") throws -> Browser {
        let client = try WebSocketTestClient.upgraded(host: relay.host, port: relay.controlPort)
        let reply = try client.request(#"{"op":"join","session":"\#(session)","name":"\#(name)"}"#)
        guard reply["ok"] as? Bool == true else { throw TestFailure("join over WebSocket failed: \(reply)") }
        let bound = try client.expectEvent("bound")
        guard bound["address"] as? String != nil else { throw TestFailure("bound without an address: \(bound)") }
        let hex = reply["token"] as! String
        let token = stride(from: 0, to: hex.count, by: 2).map {
            let start = hex.index(hex.startIndex, offsetBy: $0)
            return UInt8(hex[start..<hex.index(start, offsetBy: 2)], radix: 16)!
        }
        return Browser(client: client, member: UInt16(reply["member"] as! Int), session: UInt32(session.suffix(8), radix: 16)!, token: token)
    }

    /// A session of one bound UDP member and one WebSocket member (which joined second).
    static func mixedPair(_ relay: TestRelay, tick: Int? = nil) throws -> (udp: TestMember, browser: Browser) {
        let creator = try relay.connect()
        let reply = try creator.request(tick.map { #"{"op":"create","tick":\#($0)}"# } ?? #"{"op":"create"}"#)
        let session = try #require(reply["session"] as? String)
        let udp = try relay.join(session, name: "udp")
        let browser = try joinOverWebSocket(relay, session)
        _ = try udp.client.expectEvent("joined")
        return (udp, browser)
    }

    // MARK: The upgrade

    @Test func everyRefusalIsAnsweredClosedAndCountedByStatus() async throws {
        let relay = try await TestRelay.start { $0.wsOrigins = ["https://game.example.com"] }
        defer { Task { await relay.stop() } }
        func answer(_ request: String) throws -> String {
            let client = try WebSocketTestClient(host: relay.host, port: relay.controlPort)
            try client.sendRaw(Array(request.utf8))
            let text = try client.readHead(key: "")
            #expect(client.isAtEOF, "a refusal closes the connection: \(text)")
            return text
        }
        let upgrade = "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: gamerelay.v1\r\n"
        #expect(try answer("GET /v1/ws HTTP/1.1\r\nHost: x\r\n\(upgrade)Sec-WebSocket-Version: 13\r\n\r\n").hasPrefix("HTTP/1.1 403 "),
                "Origin missing under --ws-origin")
        #expect(try answer("GET /v1/ws HTTP/1.1\r\nHost: x\r\nOrigin: https://evil.example.com\r\n\(upgrade)Sec-WebSocket-Version: 13\r\n\r\n").hasPrefix("HTTP/1.1 403 "))
        #expect(try answer("GET /other HTTP/1.1\r\nHost: x\r\n\r\n").hasPrefix("HTTP/1.1 404 "))
        #expect(try answer("POST /v1/ws HTTP/1.1\r\nHost: x\r\n\r\n").hasPrefix("HTTP/1.1 405 "))
        let version = try answer("GET /v1/ws HTTP/1.1\r\nHost: x\r\nOrigin: https://game.example.com\r\n\(upgrade)Sec-WebSocket-Version: 8\r\n\r\n")
        #expect(version.hasPrefix("HTTP/1.1 426 ") && version.contains("Sec-WebSocket-Version: 13\r\n"))
        #expect(try answer("GET /v1/ws HTTP/1.1\r\nHost: x\r\nOrigin: https://game.example.com\r\nSec-WebSocket-Version: 13\r\n\r\n").hasPrefix("HTTP/1.1 400 "))
        #expect(try answer("GET /v1/ws HTTP/1.1\r\n" + String(repeating: "X-Filler: 0123456789abcdef\r\n", count: 400) + "\r\n").hasPrefix("HTTP/1.1 431 "))
        // The listed origin upgrades.
        let allowed = try WebSocketTestClient.upgraded(host: relay.host, port: relay.controlPort, origin: "https://game.example.com")
        #expect(try allowed.request(#"{"op":"ping","id":1}"#)["id"] as? Int == 1)
        let counters = try await relay.counters()
        #expect(counters.webSocketRefusals(.forbidden) == 2)
        #expect(counters.webSocketRefusals(.notFound) == 1)
        #expect(counters.webSocketRefusals(.methodNotAllowed) == 1)
        #expect(counters.webSocketRefusals(.upgradeRequired) == 1)
        #expect(counters.webSocketRefusals(.badRequest) == 1)
        #expect(counters.webSocketRefusals(.requestHeaderFieldsTooLarge) == 1)
        #expect(counters.webSocketUpgrades == 1)
        #expect(try await relay.read { $0.webSocketConnectionCount } == 1)
    }

    @Test func aPlainUpgradeUnderTLSRequiredGets403() async throws {
        let files = try TLSFiles()
        defer { files.remove() }
        let relay = try await TLSControlTests.start(files) { $0.tlsRequired = true }
        defer { Task { await relay.stop() } }
        let client = try WebSocketTestClient(host: relay.host, port: relay.controlPort)
        let answer = try client.upgrade()
        #expect(answer.hasPrefix("HTTP/1.1 403 "), "\(answer)")
        #expect(answer.contains("wss://"))
        #expect(try await relay.counters().tlsRequiredRefusals == 1)
    }

    @Test func eventsDueWhileTheHeadIsReadFollowThe101AsTextMessages() async throws {
        let relay = try await TestRelay.start { $0.drainTimeout = .seconds(30) }
        defer { Task { await relay.stop() } }
        let client = try WebSocketTestClient(host: relay.host, port: relay.controlPort)
        try client.sendRaw(Array("GET /v1/ws HTTP/1.1\r\nHost: x\r\n".utf8))
        // Accepting the connection is not reading it: wait until the relay has sniffed the
        // request line, or the drain could find the transport still undecided.
        try await ControlPlaneTests.waitUntil("the relay read the partial head") {
            try await relay.read { $0.connectionCount(framing: .httpHead) } == 1
        }
        try await relay.read { $0.beginDrain() }
        let key = "dGhlIHNhbXBsZSBub25jZQ=="
        try client.sendRaw(Array("Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: \(key)\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: gamerelay.v1\r\n\r\n".utf8))
        // readHead verifies the 101 came first, whole, with nothing written into it.
        #expect(try client.readHead(key: key).hasPrefix("HTTP/1.1 101 "))
        #expect(try client.expectEvent("shutdown")["drainMs"] as? Int == 30_000)
    }

    @Test func aBrowsersWssUpgradeDuringADrainGetsThe101BeforeShutdown() async throws {
        let files = try TLSFiles()
        defer { files.remove() }
        let relay = try await TLSControlTests.start(files) { $0.drainTimeout = .seconds(30) }
        defer { Task { await relay.stop() } }
        // A browser offers ALPN http/1.1: after the handshake, its upgrade request comes next.
        let browser = try await TLSTestClient.connect(port: relay.controlPort,
                                                      context: TLSContext.client(trustRoots: files.pki.rootPEM, alpn: ["http/1.1"]))
        defer { Task { await browser.close() } }
        try await browser.established()
        // A JSON client (ALPN gamerelay/1) is told at once, as §6 says.
        let native = try await TLSTestClient.connect(port: relay.controlPort, context: files.client())
        defer { Task { await native.close() } }
        try await native.established()
        try await relay.read { $0.beginDrain() }
        #expect(try await native.object(at: 0)["event"] as? String == "shutdown")
        try await browser.sendRaw(WebSocketClientHandshake.request(host: "127.0.0.1", key: "dGhlIHNhbXBsZSBub25jZQ=="))
        // The TLS client splits what it reads at "\n": the status line comes first, whole.
        let first = try await browser.frames.wait("the answer's first line")[0]
        #expect(first == "HTTP/1.1 101 Switching Protocols\r", "\(first)")
    }

    @Test func pongsForAFloodOfPingsGoOutTogether() async throws {
        let relay = try await TestRelay.start()
        defer { Task { await relay.stop() } }
        let client = try WebSocketTestClient.upgraded(host: relay.host, port: relay.controlPort)
        var frames: [UInt8] = []
        for index in 0..<50 {
            WebSocketFrameEncoder.appendFrame(opcode: .ping, payload: [UInt8(index)], maskingKey: 0x0A0B_0C0D, to: &frames)
        }
        try client.sendRaw(frames)
        for index in 0..<50 {
            guard case .pong(let payload)? = try client.next() else { throw TestFailure("pong \(index) missing") }
            #expect(payload == [UInt8(index)], "pongs keep the pings' order")
        }
    }

    @Test func framesPipelinedBehindTheHeadAreRead() async throws {
        let relay = try await TestRelay.start()
        defer { Task { await relay.stop() } }
        let client = try WebSocketTestClient(host: relay.host, port: relay.controlPort)
        let key = "dGhlIHNhbXBsZSBub25jZQ=="
        var bytes = WebSocketClientHandshake.request(host: "127.0.0.1", key: key)
        WebSocketFrameEncoder.appendFrame(opcode: .text, payload: Array(#"{"op":"ping","id":7}"#.utf8), maskingKey: 0x0102_0304, to: &bytes)
        try client.sendRaw(bytes)
        #expect(try client.readHead(key: key).hasPrefix("HTTP/1.1 101 "))
        #expect(try client.readObject()["id"] as? Int == 7)
    }

    // MARK: Datagrams

    @Test(arguments: [1, 2])
    func datagramsCrossTransportsAndLoops(threads: Int) async throws {
        let relay = try await TestRelay.start { $0.threads = threads }
        defer { Task { await relay.stop() } }
        let (udp, browser) = try Self.mixedPair(relay)
        // UDP → WebSocket: one binary message with the same bytes.
        let toBrowser = udp.header(PacketType.data, target: 0xFFFF, sequence: 1).bytes + Array("to the browser".utf8)
        udp.udp.send(toBrowser)
        #expect(try browser.client.expectBinary() == toBrowser)
        // WebSocket → UDP, broadcast and unicast.
        try browser.send(browser.header(PacketType.data, sequence: 1), payload: Array("to udp".utf8))
        #expect(try udp.udp.expectDatagram() == browser.header(PacketType.data, sequence: 1).bytes + Array("to udp".utf8))
        try browser.send(browser.header(PacketType.data, target: udp.member, sequence: 2), payload: [9])
        #expect(try udp.udp.expectDatagram() == browser.header(PacketType.data, target: udp.member, sequence: 2).bytes + [9])
        // PING over the WebSocket: a PONG as a binary message; BIND with the token: an empty BIND_ACK.
        try browser.send(browser.header(PacketType.ping, target: 0, sequence: 3), payload: [1, 2, 3])
        #expect(try browser.client.expectBinary() == browser.header(PacketType.ping, target: 0, sequence: 3).replying(as: PacketType.pong).bytes + [1, 2, 3])
        try browser.send(browser.header(PacketType.bind, target: 0, sequence: 4), payload: browser.token)
        #expect(try browser.client.expectBinary() == browser.header(PacketType.bind, target: 0, sequence: 4).replying(as: PacketType.bindAck).bytes)
        let counters = try await relay.waitForCounters("the WebSocket's copies counted") {
            $0.datagramsForwarded == 3 && $0.pongsSent == 1 && $0.bindAcksSent >= 3
        }
        #expect(counters.drops(.unbound) == 0 && counters.drops(.addressMismatch) == 0)
    }

    @Test func udpNamingAWebSocketMemberIsAMismatchAndGetsNothing() async throws {
        let relay = try await TestRelay.start()
        defer { Task { await relay.stop() } }
        let (udp, browser) = try Self.mixedPair(relay)
        let intruder = try UDPTestClient(host: relay.host, relayPort: relay.udpPort)
        // BIND with the right token, DATA and PING, all over UDP and naming the WebSocket member.
        intruder.send(browser.header(PacketType.bind, target: 0), payload: browser.token)
        intruder.send(browser.header(PacketType.data, sequence: 1), payload: [1])
        intruder.send(browser.header(PacketType.ping, target: 0, sequence: 2), payload: [])
        try await relay.waitForCounters("three mismatches") { $0.drops(.addressMismatch) == 3 }
        #expect(intruder.receive(timeout: .milliseconds(200)) == nil, "nothing goes to an address that proved nothing")
        #expect(udp.udp.receive(timeout: .milliseconds(50)) == nil)
        // Over the WebSocket, a header naming another member or session is a mismatch too.
        try browser.send(PacketHeader(type: PacketType.data, session: browser.session, member: udp.member, target: 0xFFFF, sequence: 5), payload: [1])
        try browser.send(PacketHeader(type: PacketType.data, session: browser.session ^ 1, member: browser.member, target: 0xFFFF, sequence: 6), payload: [1])
        try await relay.waitForCounters("two more mismatches") { $0.drops(.addressMismatch) == 5 }
        #expect(udp.udp.receive(timeout: .milliseconds(100)) == nil)
        // Malformed, and before any join: counted under their reasons.
        try browser.client.sendBinary([0x47, 1, 2])
        let stranger = try WebSocketTestClient.upgraded(host: relay.host, port: relay.controlPort)
        try stranger.sendBinary(browser.header(PacketType.data, sequence: 7).bytes + [1])
        try await relay.waitForCounters("malformed and unbound") { $0.drops(.malformed) == 1 && $0.drops(.unbound) == 1 }
    }

    @Test func aTickSessionsAggregatesReachAWebSocketMember() async throws {
        let relay = try await TestRelay.start { $0.threads = 2 }
        defer { Task { await relay.stop() } }
        let (udp, browser) = try Self.mixedPair(relay, tick: 50)
        let state: [UInt8] = [7, 7, 7]
        udp.udp.send(udp.header(PacketType.data, target: 0xFFFF, sequence: 1, flags: PacketFlags.latest), payload: state)
        let bytes = try browser.client.expectBinary()
        let entries = AggregateDatagram.decode(bytes) { result in
            (try? result.get()).map { $0.entries.map { ($0.member, $0.sequence, Array($0.payload)) } }
        }
        let only = try #require(entries?.first)
        #expect(entries?.count == 1 && only.0 == udp.member && only.1 == 1 && only.2 == state)
        // And the other way: the browser's state reaches the UDP member in its AGGREGATE.
        try browser.send(browser.header(PacketType.data, sequence: 1, flags: PacketFlags.latest), payload: [5])
        let aggregate = try TickSocketTests.expectAggregate(udp, "the browser's state")
        #expect(aggregate.entries.count == 1 && aggregate.entries[0].0 == browser.member && aggregate.entries[0].2 == [5])
        #expect(try await relay.waitForCounters("AGGREGATEs counted") { $0.aggregatesSent >= 2 }.drops(.backlog) == 0)
    }

    @Test func aWebSocketMemberThatDoesNotReadLosesDatagramsNotMemory() async throws {
        let relay = try await TestRelay.start {
            $0.memberPacketRate = 1_000_000
            $0.memberByteRate = 1 << 30
        }
        defer { Task { await relay.stop() } }
        let (udp, browser) = try Self.mixedPair(relay)
        // The browser reads nothing until the relay drops: the kernel's buffers fill, then the relay's.
        let payload = [UInt8](repeating: 0xAB, count: 1000)
        var sequence: UInt32 = 0
        let connectionID = try #require(try await relay.read { $0.webSocketConnectionIDs.first })
        var counters = try await relay.counters()
        // Send until the backlog bound drops copies; bounded by the time it may take.
        let deadline = ContinuousClock.now + .seconds(20)
        while counters.drops(.backlog) == 0 {
            #expect(ContinuousClock.now < deadline, "no backlog drop after \(sequence) datagrams")
            if ContinuousClock.now >= deadline { return }
            for _ in 0..<200 {
                sequence += 1
                udp.udp.send(udp.header(PacketType.data, target: 0xFFFF, sequence: sequence), payload: payload)
            }
            counters = try await relay.counters()
        }
        let pending = try await relay.read { $0.connection(connectionID)?.pendingOutputBytes ?? -1 }
        let bound = RelayConfig().wsBacklogBytes
        #expect(pending >= 0 && pending <= bound + 1024, "unsent output stays at the bound: \(pending)")
        // Replies still go out, behind the queued data.
        try browser.client.sendText(#"{"op":"ping","id":"after"}"#)
        var reply: [String: Any]?
        while reply == nil, let event = try browser.client.next() {
            if case .text(let bytes) = event { reply = try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any] }
        }
        #expect(reply?["id"] as? String == "after")
    }

    @Test func browsersThatStopReadingShareOneRelayWideBound() async throws {
        let relay = try await TestRelay.start {
            $0.memberPacketRate = 1_000_000
            $0.memberByteRate = 1 << 30
            $0.wsBacklogBytes = 200 << 10
            $0.wsBacklogTotalBytes = 200 << 10
        }
        defer { Task { await relay.stop() } }
        let (udp, first) = try Self.mixedPair(relay)
        let second = try Self.joinOverWebSocket(relay, udp.session, name: "web2")
        _ = try udp.client.expectEvent("joined")
        _ = try first.client.expectEvent("joined")
        let payload = [UInt8](repeating: 0xCD, count: 1000)
        var sequence: UInt32 = 0
        var counters = try await relay.counters()
        let deadline = ContinuousClock.now + .seconds(20)
        while counters.drops(.backlog) == 0, ContinuousClock.now < deadline {
            for _ in 0..<100 {
                sequence += 1
                udp.udp.send(udp.header(PacketType.data, target: 0xFFFF, sequence: sequence), payload: payload)
            }
            counters = try await relay.counters()
        }
        #expect(counters.drops(.backlog) > 0, "no backlog drop after \(sequence) datagrams")
        let (total, shares) = try await relay.read { server in
            (server.webSocketUnsentBytes, server.webSocketConnectionIDs.compactMap { server.connection($0)?.pendingOutputBytes })
        }
        // Neither browser reached its own bound: the relay-wide one dropped first.
        #expect(shares.count == 2 && shares.allSatisfy { $0 < 200 << 10 }, "\(shares)")
        #expect(total == shares.reduce(0, +) && total <= (200 << 10) + 1100, "\(total) for \(shares)")
        // Closed connections take their share with them.
        first.client.close()
        second.client.close()
        try await ControlPlaneTests.waitUntil("the WebSockets closed") {
            try await relay.read { $0.webSocketConnectionCount } == 0
        }
        #expect(try await relay.read { $0.webSocketUnsentBytes } == 0)
    }

    // MARK: Closing

    @Test func closeCodesFollowWhatTheClientDid() async throws {
        let relay = try await TestRelay.start { $0.maxControlMessage = 256 }
        defer { Task { await relay.stop() } }
        let unmasked = try WebSocketTestClient.upgraded(host: relay.host, port: relay.controlPort)
        try unmasked.sendFrame(.text, Array(#"{"op":"ping"}"#.utf8), masked: false)
        #expect(try unmasked.expectClose() == .protocolError)
        let badText = try WebSocketTestClient.upgraded(host: relay.host, port: relay.controlPort)
        try badText.sendFrame(.text, [0x7B, 0xC3, 0x28, 0x7D])
        #expect(try badText.expectClose() == .invalidPayload)
        let large = try WebSocketTestClient.upgraded(host: relay.host, port: relay.controlPort)
        try large.sendText(#"{"op":"ping","pad":""# + String(repeating: "x", count: 300) + #""}"#)
        let error = try large.readObject()
        #expect((error["error"] as? [String: Any])?["code"] as? String == "message_too_large")
        #expect(try large.expectClose() == .messageTooBig)
        let counted = try await relay.counters()
        #expect(counted.webSocketClosesForError(.protocolError) == 1 && counted.webSocketClosesForError(.invalidPayload) == 1
                    && counted.webSocketClosesForError(.messageTooBig) == 1)
        // An oversize binary message is dropped and counted; the connection goes on.
        let datagram = try WebSocketTestClient.upgraded(host: relay.host, port: relay.controlPort)
        try datagram.sendBinary([UInt8](repeating: 0, count: RelayConfig().maxDatagram + 1))
        #expect(try datagram.request(#"{"op":"ping","id":2}"#)["id"] as? Int == 2)
        #expect(try await relay.counters().drops(.oversize) == 1)
        // The client's close is answered with its code, and the membership ends as a disconnect.
        let (udp, browser) = try Self.mixedPair(relay)
        try browser.client.sendFrame(.close, [0x0F, 0xA0])
        #expect(try browser.client.expectClose() == WebSocketCloseCode(rawValue: 4000))
        let left = try udp.client.expectEvent("left")
        #expect(left["member"] as? Int == Int(browser.member) && left["reason"] as? String == "disconnect")
    }

    @Test func anIdleWebSocketIsToldClosingThenClosedWith1001() async throws {
        // Long enough that the ping is read before the deadline on a loaded machine.
        let relay = try await TestRelay.start { $0.controlIdleTimeout = .seconds(1) }
        defer { Task { await relay.stop() } }
        let client = try WebSocketTestClient.upgraded(host: relay.host, port: relay.controlPort)
        // A ping frame is activity: the deadline moves.
        try client.sendFrame(.ping, [1])
        guard case .pong(let payload)? = try client.next() else { throw TestFailure("no pong") }
        #expect(payload == [1])
        #expect(try client.expectEvent("closing", timeout: .seconds(5))["reason"] as? String == "idle")
        #expect(try client.expectClose() == .goingAway)
        #expect(try await relay.counters().closingSent == 1)
    }

    @Test func aDrainEndsAWebSocketWithClosingAnd1001() async throws {
        let relay = try await TestRelay.start { $0.drainTimeout = .milliseconds(200) }
        defer { Task { await relay.stop() } }
        let client = try WebSocketTestClient.upgraded(host: relay.host, port: relay.controlPort)
        try await relay.read { $0.beginDrain() }
        #expect(try client.expectEvent("shutdown")["drainMs"] as? Int == 200)
        #expect(try client.expectEvent("closing")["reason"] as? String == "drain")
        #expect(try client.expectClose() == .goingAway)
        try await relay.waitForConnections(atMost: 0, "the WebSocket closed")
        #expect(try await relay.read { $0.webSocketConnectionCount } == 0)
    }

    @Test func aKickedWebSocketMemberHearsKickedThenClose() async throws {
        let relay = try await TestRelay.start()
        defer { Task { await relay.stop() } }
        let (udp, browser) = try Self.mixedPair(relay)
        #expect(try udp.client.request(#"{"op":"kick","member":\#(browser.member)}"#)["ok"] as? Bool == true)
        _ = try browser.client.expectEvent("kicked")
        #expect(try browser.client.expectClose() == .normalClosure)
        // Its datagrams can't come back in: the UDP member hears nothing more from it.
        #expect(udp.udp.receive(timeout: .milliseconds(100)) == nil)
    }

    // MARK: Metrics

    @Test func metricsCountWebSocketsRefusalsAndBacklogDropsOnLoopZero() async throws {
        let relay = try await TestRelay.start { $0.metricsPort = 0 }
        defer { Task { await relay.stop() } }
        let port = try await relay.read { $0.metricsAddress!.port }
        let (udp, browser) = try Self.mixedPair(relay)
        let refused = try WebSocketTestClient(host: relay.host, port: relay.controlPort)
        _ = try refused.upgrade(path: "/nope")
        udp.udp.send(udp.header(PacketType.data, target: 0xFFFF, sequence: 1), payload: [1])
        _ = try browser.client.expectBinary()
        try await relay.waitForCounters("forwarded to the browser") { $0.datagramsForwarded == 1 }
        let (_, body) = try MetricsEndpointTests.http(port, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(MetricsEndpointTests.sample("gamerelay_websocket_connections", in: body) == 1)
        #expect(MetricsEndpointTests.sample("gamerelay_websocket_upgrades_total", in: body) == 1)
        #expect(MetricsEndpointTests.sample(#"gamerelay_websocket_upgrades_refused_total{status="404"}"#, in: body) == 1)
        #expect(MetricsEndpointTests.sample(#"gamerelay_datagrams_forwarded_total{loop="0"}"#, in: body) == 1)
        #expect(MetricsEndpointTests.sample(#"gamerelay_datagrams_dropped_total{loop="0",reason="backlog"}"#, in: body) == 0)
    }
}
