import Foundation
import RelayServer
import RelayWire
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// What one hostile client could do to the relay before its buffers were bounded and its work
/// fair: each test fails against a relay that keeps reading, queues without bound, or shares
/// its control loop with the data plane.
@Suite("Hostile peers")
struct HostilePeerTests {
    static let ping = Array(#"{"op":"ping"}"#.utf8) + [10]

    @Test func theMetricsEndpointReadsNothingMoreOnceItHasAnswered() async throws {
        let relay = try await TestRelay.start { $0.metricsPort = 0 }
        defer { Task { await relay.stop() } }
        let port = try await relay.read { $0.metricsAddress!.port }
        let client = try ControlTestClient(port: port)
        // A head that never ends: answered 400 once it passes 8 KiB, then endless bytes.
        try client.sendRaw(Array("GET /metrics HTTP/1.1\r\nX: ".utf8))
        let limit = 48 << 20
        let pushed = client.pushUntilBlocked(Array(repeating: UInt8(ascii: "x"), count: 65536), limit: limit)
        // Kernel buffers on both sides hold a few MiB; a relay that goes on reading takes all of it.
        #expect(pushed < limit, "the endpoint went on reading \(pushed) bytes after its answer")
        let response = String(decoding: try client.readUntilClose(timeout: .seconds(10)), as: UTF8.self)
        #expect(response.hasPrefix("HTTP/1.1 400 Bad Request"))
    }

    @Test func aConnectionsFramesAreHandledAFewPerTurn() async throws {
        let relay = try await TestRelay.start { $0.controlRequestBurst = 2000; $0.controlRequestRate = 2000 }
        defer { Task { await relay.stop() } }
        let client = try relay.connect()
        let count = 1000
        try client.sendRaw(Array([[UInt8]](repeating: Self.ping, count: count).joined()))
        for index in 0..<count {
            let frame = try client.readFrame()
            #expect(frame.text == #"{"ok":true}"#, "reply \(index)")
        }
        let yielded = try await relay.counters().controlTurnsYielded
        // 64 frames a turn: 1000 pipelined pings take at least 15 turns when they arrive in one
        // read, and every turn but the last yields; split reads can only make more turns.
        #expect(yielded >= UInt64(count / 64 / 2), "yielded \(yielded) times")
    }

    @Test func aPeerThatDoesNotReadItsRepliesIsPausedNotBufferedOrDropped() async throws {
        let relay = try await TestRelay.start { $0.controlBacklogBytes = 4096 }
        defer { Task { await relay.stop() } }
        let client = try relay.connect()
        client.shrinkSendBuffer(to: 8192)
        let limit = 4 << 20
        let pushed = client.pushUntilBlocked(Array([[UInt8]](repeating: Self.ping, count: 1000).joined()), limit: limit)
        #expect(pushed < limit, "the relay went on reading \(pushed) bytes of requests whose replies were unread")
        let paused = try await relay.waitForCounters("reading paused") { $0.controlReadPauses >= 1 }
        #expect(paused.controlConnectionsOverBacklog == 0)
        // Once the peer reads, every request it sent is answered, in order, on the same connection.
        let expected = pushed / Self.ping.count
        let replies = try client.countFrames(expected, timeout: .seconds(60))
        #expect(replies == expected)
        #expect(try client.request(#"{"op":"ping","id":"last"}"#)["id"] as? String == "last")
    }

    @Test func writesToAResetPeerReleaseTheirMemoryAtOnce() async throws {
        let relay = try await TestRelay.start { $0.controlRequestBurst = 100_000; $0.controlRequestRate = 100_000 }
        defer { Task { await relay.stop() } }
        // Pipelined requests, then a reset: every reply after it fails in the kernel, and the
        // connection is gone at once rather than holding a queued write per reply.
        for _ in 0..<20 {
            let client = try relay.connect()
            try client.sendRaw(Array([[UInt8]](repeating: Self.ping, count: 5000).joined()))
            client.resetOnClose()
            // Dropped here: its descriptor closes with a reset.
        }
        _ = try await relay.waitForCounters("every connection accepted") { $0.controlConnectionsAccepted == 20 }
        try await relay.waitForConnections(atMost: 0, "reset connections closed")
    }

    @Test func theDataPlaneKeepsForwardingWhileTheControlLoopIsBlocked() async throws {
        let relay = try await TestRelay.start()
        defer { Task { await relay.stop() } }
        let members = try relay.makeMembers(2)
        // The control loop waits for the test (at most 60 s, so a failing test can't hang it).
        let blocked = Inbox<Bool>()
        let release = DispatchSemaphore(value: 0)
        relay.loop.execute {
            blocked.put(true)
            _ = release.wait(timeout: .now() + 60)
        }
        defer { release.signal() }
        try await blocked.wait("the control loop is blocked")
        for sequence in UInt32(1)...5 {
            members[0].udp.send(members[0].header(PacketType.data, target: 0xFFFF, sequence: sequence), payload: [UInt8(sequence)])
            let datagram = try members[1].udp.expectDatagram(timeout: .seconds(10), "datagram \(sequence) while the control loop is blocked")
            #expect(datagram.last == UInt8(sequence))
        }
    }

    @Test func establishedConnectionsAreToldClosingBeforeAnIdleClose() async throws {
        // Long enough that the talker's hello is read before its deadline on a loaded machine.
        let relay = try await TestRelay.start { $0.controlIdleTimeout = .seconds(1) }
        defer { Task { await relay.stop() } }
        let talker = try relay.connect()
        let silent = try relay.connect()
        #expect(try talker.request(#"{"op":"hello","protocol":1}"#)["ok"] as? Bool == true)
        let closing = try talker.expectEvent("closing", timeout: .seconds(5))
        #expect(closing["reason"] as? String == "idle")
        #expect(try talker.readUntilClose(timeout: .seconds(5)).isEmpty)
        // A connection that never sent a byte is closed without a word.
        #expect(try silent.readUntilClose(timeout: .seconds(5)).isEmpty)
        #expect(try await relay.counters().closingSent == 1)
    }

    @Test func theEndOfADrainTellsOpenConnectionsClosing() async throws {
        let relay = try await TestRelay.start { $0.drainTimeout = .milliseconds(300) }
        defer { Task { await relay.stop() } }
        let client = try relay.connect()
        #expect(try client.request(#"{"op":"ping"}"#)["ok"] as? Bool == true)
        let server = relay.server
        try await relay.loop.submit { server.value.beginDrain() }
        #expect(try client.expectEvent("shutdown")["drainMs"] as? Int == 300)
        #expect(try client.expectEvent("closing")["reason"] as? String == "drain")
        #expect(try client.readUntilClose(timeout: .seconds(5)).isEmpty)
    }

    @Test func connectionsOverTheLimitAreShedAndMetricsStillAnswer() async throws {
        let relay = try await TestRelay.start { $0.maxConnections = 2; $0.metricsPort = 0 }
        defer { Task { await relay.stop() } }
        let first = try relay.connect()
        let second = try relay.connect()
        #expect(try first.request(#"{"op":"ping"}"#)["ok"] as? Bool == true)
        #expect(try second.request(#"{"op":"ping"}"#)["ok"] as? Bool == true)
        let third = try relay.connect()
        #expect(try third.readUntilClose(timeout: .seconds(5)).isEmpty)
        _ = try await relay.waitForCounters("one shed") { $0.refusals(.connections) == 1 }
        let port = try await relay.read { $0.metricsAddress!.port }
        let (status, body) = try MetricsEndpointTests.http(port, "GET /metrics HTTP/1.1\r\n\r\n")
        #expect(status == "HTTP/1.1 200 OK")
        #expect(MetricsEndpointTests.sample(#"gamerelay_limit_refusals_total{limit="connections"}"#, in: body) == 1)
        #expect(MetricsEndpointTests.sample("gamerelay_control_connection_limit", in: body) == 2)
        #expect(MetricsEndpointTests.sample(#"gamerelay_udp_receive_queue_drops_total{loop="1"}"#, in: body) != nil)
        #expect(try first.request(#"{"op":"ping"}"#)["ok"] as? Bool == true)
    }
}

extension ControlTestClient {
    /// Writes `chunk` over and over without reading, until the kernel has taken nothing for
    /// `stall` or `limit` bytes are out; returns how many it took (the stream is `chunk`
    /// repeated, cut anywhere). Stops early when the peer resets.
    func pushUntilBlocked(_ chunk: [UInt8], limit: Int, stall: Duration = .seconds(1)) -> Int {
        var total = 0
        var offset = 0
        var lastProgress = ContinuousClock.now
        while total < limit, ContinuousClock.now - lastProgress < stall {
            var pfd = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            guard poll(&pfd, 1, 50) > 0 else { continue }
            let count = min(chunk.count - offset, limit - total)
            let n = chunk[offset..<(offset + count)].withUnsafeBytes {
                Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT | MSG_NOSIGNAL))
            }
            if n > 0 {
                total += n
                offset = (offset + n) % chunk.count
                lastProgress = ContinuousClock.now
            } else if errno != EAGAIN {
                break
            }
        }
        return total
    }

    /// Makes this side's kernel send buffer small (`SO_SNDBUF`), so what it writes waits in the
    /// relay's buffers rather than its own. (Shrinking `SO_RCVBUF` after the handshake would
    /// shrink an advertised window, which stalls loopback TCP for seconds.)
    func shrinkSendBuffer(to bytes: Int32) {
        var size = bytes
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, socklen_t(MemoryLayout<Int32>.size))
    }

    /// Counts frames (terminators) until `count` have arrived, the peer closes, or `timeout`.
    func countFrames(_ count: Int, timeout: Duration) throws -> Int {
        let deadline = ContinuousClock.now + timeout
        var seen = 0
        var chunk = [UInt8](repeating: 0, count: 65536)
        while seen < count, ContinuousClock.now < deadline {
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&pfd, 1, 100) > 0 else { continue }
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            seen += chunk[..<n].reduce(0) { $0 + ($1 == 0 || $1 == 10 ? 1 : 0) }
        }
        return seen
    }

    /// Reads until the relay closes the connection; returns the bytes that came first. Throws
    /// when it stays open for `timeout`.
    func readUntilClose(timeout: Duration) throws -> [UInt8] {
        let deadline = ContinuousClock.now + timeout
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while ContinuousClock.now < deadline {
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&pfd, 1, 100) > 0 else { continue }
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { return bytes }
            bytes += chunk[..<n]
        }
        throw TestFailure("the connection stayed open for \(timeout); read \(bytes.count) bytes")
    }

    /// Makes the close of this client's descriptor (when it is dropped) a reset (`SO_LINGER`
    /// 0), as a client that vanishes with requests in flight.
    func resetOnClose() {
        var option = linger(l_onoff: 1, l_linger: 0)
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &option, socklen_t(MemoryLayout<linger>.size))
    }
}
