import Foundation
import RelayServer
import Synchronization
import TestSupport
import Testing
import UVNet

@Suite("Control channel")
struct ControlPlaneTests {
    @Test func helloNamesTheUDPPortAndLimits() async throws {
        let relay = try await TestRelay.start { $0.maxDatagram = 1000; $0.idleTimeout = .milliseconds(1500) }
        defer { Task { await relay.stop() } }
        let client = try relay.connect()
        let reply = try client.request(#"{"op":"hello","protocol":1,"client":"test/1","id":"h"}"#)
        #expect(reply["ok"] as? Bool == true)
        #expect(reply["id"] as? String == "h")
        #expect(reply["protocol"] as? Int == 1)
        #expect((reply["server"] as? String)?.hasPrefix("gamerelay/") == true)
        #expect((reply["udp"] as? [String: Any])?["port"] as? Int == relay.udpPort)
        #expect(reply["maxDatagram"] as? Int == 1000)
        #expect(reply["idleTimeoutMs"] as? Int == 1500)
    }

    @Test func idIsEchoedAsReceivedAndRepliesUseTheClientsTerminator() async throws {
        let relay = try await TestRelay.start()
        defer { Task { await relay.stop() } }
        let client = try relay.connect()
        try client.sendRaw(Array(#"{"op":"ping","id": 7.0 }"#.utf8) + [10])
        let frame = try client.readFrame()
        #expect(frame.text == #"{"id":7.0,"ok":true}"#)
        #expect(frame.terminator == 10)
        try client.sendRaw(Array(#"{"op":"ping","id":"a\/b"}"#.utf8) + [0])
        let second = try client.readFrame()
        #expect(second.text == #"{"id":"a\/b","ok":true}"#)
        #expect(second.terminator == 0)
    }

    @Test(arguments: [
        (#"{"op":"hello","protocol":2}"#, "unsupported_version"),
        (#"{"op":"nope"}"#, "unknown_op"),
        (#"{"protocol":1}"#, "bad_request"),
        (#"{"op":"create","capacity":1}"#, "bad_request"),
        (#"{"op":"join"}"#, "bad_request"),
        (#"{"op":"join","session":"0000000000000000"}"#, "not_found"),
        (#"{"op":"join","code":""}"#, "not_found"),
        (#"{"op":"leave"}"#, "not_joined"),
        (#"{"op":"kick","member":2}"#, "not_joined"),
        (#"{"op":"kick","member":70000}"#, "bad_request"),
        (#"{"op":"ping","op":"ping"}"#, "bad_request"),
        (#"[1,2]"#, "bad_request"),
        (#"{"op":"ping",}"#, "bad_request"),
    ])
    func errorsCarryTheirCode(request: String, code: String) async throws {
        let relay = try await TestRelay.start()
        defer { Task { await relay.stop() } }
        let client = try relay.connect()
        let reply = try client.request(request)
        #expect(reply["ok"] as? Bool == false)
        #expect((reply["error"] as? [String: Any])?["code"] as? String == code, "\(request) → \(reply)")
        // The connection stays open after an error.
        #expect(try client.request(#"{"op":"ping"}"#)["ok"] as? Bool == true)
    }

    @Test func createJoinAndMembershipEvents() async throws {
        let relay = try await TestRelay.start()
        defer { Task { await relay.stop() } }
        let (_, created) = try relay.createSession(capacity: 3)
        let session = try #require(created["session"] as? String)
        let code = try #require(created["code"] as? String)
        #expect(session.count == 16 && session == session.lowercased())
        #expect(code.count == 6)
        #expect(created["capacity"] as? Int == 3)

        let alice = try relay.join(session, name: "alice", bind: false)
        #expect(alice.member == 1)
        let bobClient = try relay.connect()
        let bob = try bobClient.request(#"{"op":"join","code":"\#(code.lowercased())","name":"bob"}"#)
        #expect(bob["member"] as? Int == 2)
        #expect(bob["owner"] as? Int == 1)
        let others = try #require(bob["members"] as? [[String: Any]])
        #expect(others.count == 1 && others[0]["name"] as? String == "alice" && others[0]["member"] as? Int == 1)
        let joined = try alice.client.expectEvent("joined")
        #expect(joined["member"] as? Int == 2 && joined["name"] as? String == "bob")

        #expect(try bobClient.request(#"{"op":"join","session":"\#(session)"}"#)["error"].flatMap { ($0 as? [String: Any])?["code"] as? String } == "already_joined")

        let carol = try relay.join(session, name: "carol", bind: false)
        let fourth = try relay.connect().request(#"{"op":"join","session":"\#(session.uppercased())"}"#)
        #expect((fourth["error"] as? [String: Any])?["code"] as? String == "full")
        withExtendedLifetime(carol) {}
    }

    @Test func leavingMovesOwnershipAndTheLastLeaveDeletesTheSession() async throws {
        let relay = try await TestRelay.start()
        defer { Task { await relay.stop() } }
        let members = try relay.makeMembers(3)
        #expect(try members[0].client.request(#"{"op":"leave","id":1}"#)["ok"] as? Bool == true)
        for other in members[1...] {
            let left = try other.client.expectEvent("left")
            #expect(left["member"] as? Int == 1 && left["reason"] as? String == "leave")
            #expect(try other.client.expectEvent("owner")["member"] as? Int == 2)
        }
        // Closing the connection is a leave too, reported as a disconnect.
        members[2].control.client.close()
        let left = try members[1].client.expectEvent("left")
        #expect(left["member"] as? Int == 3 && left["reason"] as? String == "disconnect")
        _ = try members[1].client.request(#"{"op":"leave"}"#)
        try await Self.waitUntil("session deleted") { try await relay.read { $0.sessionCount } == 0 }
        let again = try relay.connect().request(#"{"op":"join","session":"\#(members[0].session)"}"#)
        #expect((again["error"] as? [String: Any])?["code"] as? String == "not_found")
    }

    @Test func kickChecksOwnershipAndClosesTheKickedConnection() async throws {
        let relay = try await TestRelay.start()
        defer { Task { await relay.stop() } }
        let members = try relay.makeMembers(3)
        func code(_ reply: [String: Any]) -> String? { (reply["error"] as? [String: Any])?["code"] as? String }
        #expect(code(try members[1].client.request(#"{"op":"kick","member":99}"#)) == "forbidden")
        #expect(code(try members[0].client.request(#"{"op":"kick","member":1}"#)) == "bad_request")
        #expect(code(try members[0].client.request(#"{"op":"kick","member":99}"#)) == "not_found")
        #expect(try members[0].client.request(#"{"op":"kick","member":2}"#)["ok"] as? Bool == true)
        _ = try members[1].client.expectEvent("kicked")
        #expect(try members[1].client.waitForClose())
        for index in [0, 2] {
            let left = try members[index].client.expectEvent("left")
            #expect(left["member"] as? Int == 2 && left["reason"] as? String == "kick")
        }
    }

    @Test func policyFileRequestIsAnsweredAndClosed() async throws {
        let relay = try await TestRelay.start()
        defer { Task { await relay.stop() } }
        let client = try relay.connect()
        try client.sendRaw(Array("<policy-file-".utf8))
        try client.sendRaw(Array("request/>".utf8) + [0])
        let frame = try client.readFrame()
        #expect(frame.text.contains(#"to-ports="\#(relay.controlPort)""#))
        #expect(frame.text.hasPrefix("<?xml"))
        #expect(try client.waitForClose())
    }

    @Test func oversizeMessageIsRefusedAndTheConnectionCloses() async throws {
        let relay = try await TestRelay.start { $0.maxControlMessage = 64 }
        defer { Task { await relay.stop() } }
        let client = try relay.connect()
        let exact = #"{"op":"ping","pad":""# + String(repeating: "x", count: 64 - 22) + #""}"#
        #expect(exact.utf8.count == 64)
        try client.sendRaw(Array(exact.utf8) + [10] + Array(repeating: UInt8(ascii: " "), count: 65))
        #expect(try client.readObject()["ok"] as? Bool == true)
        let (text, terminator) = try client.readFrame()
        #expect(text.contains(#""code":"message_too_large""#))
        #expect(terminator == 10)
        #expect(try client.waitForClose())
    }

    @Test func requestBudgetIsEnforcedButUnparsableMessagesAreFree() async throws {
        // One token a second refills the 200-request burst: a preempted relay thread can't make
        // room for more than a request or two while the test reads.
        let relay = try await TestRelay.start { $0.controlRequestRate = 1 }
        defer { Task { await relay.stop() } }
        let client = try relay.connect()
        var burst: [UInt8] = []
        for _ in 0..<300 { burst += Array("{bad".utf8) + [0] }
        for _ in 0..<230 { burst += Array(#"{"op":"ping"}"#.utf8) + [0] }
        try client.sendRaw(burst)
        var limited = 0
        var okCount = 0
        for _ in 0..<530 {
            let reply = try client.readObject()
            if reply["ok"] as? Bool == true { okCount += 1 }
            if (reply["error"] as? [String: Any])?["code"] as? String == "rate_limited" { limited += 1 }
        }
        // The burst is 200; the 230 pings arrive within milliseconds, refilling at most a few tokens.
        #expect(okCount >= 200 && okCount <= 203)
        #expect(limited == 230 - okCount)
    }

    @Test func silentConnectionsCloseAfterTheControlIdleTimeout() async throws {
        let relay = try await TestRelay.start { $0.controlIdleTimeout = .seconds(2) }
        defer { Task { await relay.stop() } }
        let (_, created) = try relay.createSession()
        let session = try #require(created["session"] as? String)
        // Taken before the join: the relay's own stamp of the silent member's last message is later.
        let joinedAt = ContinuousClock.now
        let silent = try relay.join(session, bind: false)
        // Member 2 keeps talking, on a thread of its own so that it really does every 20 ms
        // however busy the test pool is; member 1 goes silent.
        let left = try await onOwnThread { () throws -> (event: String?, member: Int?, reason: String?, after: Duration) in
            let talker = try relay.join(session, bind: false)
            var events: [[String: Any]] = []
            while events.isEmpty, ContinuousClock.now - joinedAt < .seconds(10) {
                _ = try talker.client.request(#"{"op":"ping"}"#, events: &events)
                usleep(20_000)
            }
            let first = events.first
            return (first?["event"] as? String, first?["member"] as? Int, first?["reason"] as? String, ContinuousClock.now - joinedAt)
        }
        #expect(left.event == "left")
        #expect(left.member == 1 && left.reason == "timeout")
        #expect(left.after >= .milliseconds(1900))
        #expect(try silent.client.waitForClose())
    }

    /// A stall of the relay's own loop longer than the idle timeout does not time out a peer
    /// whose request arrived during the stall: the relay reads before it judges.
    @Test func aStallOfTheRelayLoopDoesNotTimeOutLivePeers() async throws {
        let relay = try await TestRelay.start { $0.controlIdleTimeout = .seconds(1) }
        defer { Task { await relay.stop() } }
        let reply = try await onOwnThread { () throws -> Bool? in
            let client = try relay.connect()
            _ = try client.request(#"{"op":"ping"}"#)
            relay.loop.execute { usleep(1_600_000) }
            try client.send(#"{"op":"ping"}"#)
            return try client.readObject()["ok"] as? Bool
        }
        #expect(reply == true)
    }

    @Test func sessionsNobodyJoinsExpire() async throws {
        let clock = ManualClock()
        let relay = try await TestRelay.start(clock: clock) { $0.emptySessionTimeout = .milliseconds(200) }
        defer { Task { await relay.stop() } }
        let (client, reply) = try relay.createSession()
        #expect(try await relay.read { $0.sessionCount } == 1)
        clock.advance(by: .milliseconds(201))
        try await Self.waitUntil("empty session expired") { try await relay.read { $0.sessionCount } == 0 }
        let join = try client.request(#"{"op":"join","session":"\#(reply["session"] as! String)"}"#)
        #expect((join["error"] as? [String: Any])?["code"] as? String == "not_found")
    }

    @Test func aConnectionMayHaveSixtyFourLiveSessions() async throws {
        let relay = try await TestRelay.start()
        defer { Task { await relay.stop() } }
        let client = try relay.connect()
        for _ in 0..<64 { #expect(try client.request(#"{"op":"create"}"#)["ok"] as? Bool == true) }
        let refused = try client.request(#"{"op":"create"}"#)
        #expect((refused["error"] as? [String: Any])?["code"] as? String == "rate_limited")
    }

    @Test func drainAnnouncesShutdownAndRefusesNewSessions() async throws {
        // Long enough that a loaded test run finishes its checks before the drain times out and
        // the relay closes the connections itself.
        let relay = try await TestRelay.start { $0.drainTimeout = .seconds(20) }
        defer { Task { await relay.stop() } }
        let members = try relay.makeMembers(2)
        let drained = DrainFlag()
        let server = relay.server
        _ = try await relay.loop.submit {
            server.value.onDrainComplete = { drained.set() }
            server.value.beginDrain()
        }
        for member in members {
            #expect(try member.client.expectEvent("shutdown")["drainMs"] as? Int == 20000)
        }
        let refused = try members[0].client.request(#"{"op":"create"}"#)
        #expect((refused["error"] as? [String: Any])?["code"] as? String == "shutting_down")
        #expect(try members[0].client.request(#"{"op":"ping"}"#)["ok"] as? Bool == true)
        // Forwarding goes on while draining.
        members[0].udp.send(members[0].header(3, target: 0xFFFF, sequence: 1), payload: [1, 2, 3])
        #expect(try members[1].udp.expectDatagram().suffix(3) == [1, 2, 3])
        #expect(!drained.isSet)
        for member in members { member.client.close() }
        try await Self.waitUntil("drain completed") { drained.isSet }
    }

    static func waitUntil(_ what: String, timeout: Duration = .seconds(5), _ condition: () async throws -> Bool) async throws {
        let deadline = ContinuousClock.now + timeout
        while try await !condition() {
            if ContinuousClock.now >= deadline { throw TestFailure("timed out waiting: \(what)") }
            try await Task.sleep(for: .milliseconds(5))
        }
    }
}

/// A flag set on the relay's loop and read from the test.
final class DrainFlag: Sendable {
    private let flag = Mutex(false)
    func set() { flag.withLock { $0 = true } }
    var isSet: Bool { flag.withLock { $0 } }
}
