import RelayClient
import RelayWire
import TestSupport
import Testing
import UVNet

/// RelayClient's WebSocket end against a stand-in server that speaks raw frames: ping, the
/// closing handshake from either side, and an upgrade nobody answers.
@Suite("RelayClient WebSocket frames")
struct RelayClientWebSocketFrameTests {
    final class Setup: Sendable {
        let loop = EventLoop(name: "client-ws-frames")
        let frames = Inbox<WebSocketFrameEvent>()
        let serverClosed = Inbox<Bool>()
        let outcome = Inbox<Result<Void, RelayClientError>>()
        let events = Inbox<RelayEvent>()
        let held: LoopBound<(FakeWebSocketRelay, RelayClient)>

        init(answers: Bool = true, requestTimeout: Duration = .seconds(10)) async throws {
            let loop = self.loop
            let (frames, serverClosed, outcome, events) = (self.frames, self.serverClosed, self.outcome, self.events)
            held = try await loop.submit {
                let server = try FakeWebSocketRelay(loop: loop, answers: answers, frames: frames, closed: serverClosed)
                let client = RelayClient(loop: loop)
                client.requestTimeout = requestTimeout
                client.keepAliveInterval = nil
                client.onEvent = { events.put($0) }
                client.connect(host: "127.0.0.1", port: server.port, transport: .webSocket()) { outcome.put($0) }
                return LoopBound((server, client), loop: loop)
            }
        }

        func shutdown() async {
            let held = self.held
            _ = try? await loop.submit { held.value.0.close() }
            await loop.shutdown()
        }
    }

    @Test func aPingFromTheRelayIsAnsweredWithAMaskedPong() async throws {
        let setup = try await Setup()
        defer { Task { await setup.shutdown() } }
        try await setup.outcome.wait("the upgrade")[0].get()
        let held = setup.held
        try await setup.loop.submit { held.value.0.send(WebSocketFrameEncoder.ping([1, 2, 3])) }
        // The server's decoder refuses unmasked frames, so a pong here was masked.
        #expect(try await setup.frames.wait("the pong")[0] == .pong([1, 2, 3]))
    }

    @Test func aCloseFromTheRelayIsEchoedAndEndsTheClient() async throws {
        let setup = try await Setup()
        defer { Task { await setup.shutdown() } }
        try await setup.outcome.wait("the upgrade")[0].get()
        let held = setup.held
        try await setup.loop.submit { held.value.0.send(WebSocketFrameEncoder.close(code: .goingAway, reason: "drain")) }
        #expect(try await setup.frames.wait("the echoed close")[0] == .close(code: .goingAway, reason: ""))
        #expect(try await setup.events.wait("the end of the connection").contains(.closed))
        // Once its close is echoed, the client sends nothing more; requests fail at once.
        let refused = Inbox<Result<Void, RelayClientError>>()
        try await setup.loop.submit { held.value.1.controlPing { refused.put($0) } }
        guard case .failure(let error) = try await refused.wait("the refused ping")[0] else { throw TestFailure("a request went out after the close") }
        #expect(error.code == .closed)
        // The relay ends the TCP connection, as RFC 6455 wants of the server; the client lets go.
        try await setup.loop.submit { held.value.0.closeConnection() }
        #expect(setup.frames.all.count == 1)
    }

    @Test func closeSendsNormalClosureAndEndsTheConnection() async throws {
        let setup = try await Setup()
        defer { Task { await setup.shutdown() } }
        try await setup.outcome.wait("the upgrade")[0].get()
        let held = setup.held
        try await setup.loop.submit { held.value.1.close() }
        #expect(try await setup.frames.wait("the close frame")[0] == .close(code: .normalClosure, reason: ""))
        // The client half-closes after its close frame: the server sees the end of the stream.
        #expect(try await setup.serverClosed.wait("the client's FIN")[0])
    }

    @Test func anUpgradeNobodyAnswersTimesOut() async throws {
        let setup = try await Setup(answers: false, requestTimeout: .milliseconds(300))
        defer { Task { await setup.shutdown() } }
        guard case .failure(let error) = try await setup.outcome.wait(timeout: .seconds(10), "the unanswered upgrade")[0] else {
            throw TestFailure("an upgrade nobody answered succeeded")
        }
        #expect(error.code == .timedOut)
        #expect(try await setup.serverClosed.wait("the client giving up")[0])
    }
}
