import Foundation
import RelayServer
import TestSupport
import Testing

/// The limits of PROTOCOL.md §1.5, which hold across connections: a client that reconnects
/// does not get a fresh budget. Every client here is 127.0.0.1, one source.
@Suite("Limits per source and in all")
struct SourceLimitTests {
    static func code(_ reply: [String: Any]) -> String? {
        (reply["error"] as? [String: Any])?["code"] as? String
    }

    @Test func sessionsCountAgainstTheirSourceAfterTheCreatorHasGone() async throws {
        let relay = try await TestRelay.start { $0.maxSessionsPerSource = 3 }
        defer { Task { await relay.stop() } }
        do {
            let first = try relay.connect()
            for _ in 0..<3 { #expect(try first.request(#"{"op":"create"}"#)["ok"] as? Bool == true) }
            first.close()
        }
        // A new connection from the same source is refused while those sessions live.
        let second = try relay.connect()
        let refused = try second.request(#"{"op":"create","id":1}"#)
        #expect(Self.code(refused) == "rate_limited")
        #expect(refused["id"] as? Int == 1)
        #expect(try await relay.counters().refusals(.sessionsPerSource) == 1)
    }

    @Test func aDeletedSessionGivesItsSourceRoomAgain() async throws {
        let relay = try await TestRelay.start { $0.maxSessionsPerSource = 1 }
        defer { Task { await relay.stop() } }
        let client = try relay.connect()
        let session = try client.request(#"{"op":"create"}"#)["session"] as! String
        #expect(Self.code(try client.request(#"{"op":"create"}"#)) == "rate_limited")
        // Joined and left: the session is deleted at once, and its source may create again.
        #expect(try client.request(#"{"op":"join","session":"\#(session)"}"#)["ok"] as? Bool == true)
        #expect(try client.request(#"{"op":"leave"}"#)["ok"] as? Bool == true)
        #expect(try client.request(#"{"op":"create"}"#)["ok"] as? Bool == true)
    }

    @Test func liveSessionsInAllAreCapped() async throws {
        let relay = try await TestRelay.start { $0.maxSessions = 2 }
        defer { Task { await relay.stop() } }
        let a = try relay.connect()
        let b = try relay.connect()
        #expect(try a.request(#"{"op":"create"}"#)["ok"] as? Bool == true)
        #expect(try b.request(#"{"op":"create"}"#)["ok"] as? Bool == true)
        #expect(Self.code(try a.request(#"{"op":"create"}"#)) == "rate_limited")
        #expect(try await relay.counters().refusals(.sessions) == 1)
    }

    @Test func theConnectionLimitComesBeforeTheSessionLimits() async throws {
        // Check order (§1.2): 64 live sessions per connection answers before the §1.5 limits.
        let relay = try await TestRelay.start { $0.maxSessionsPerConnection = 1; $0.maxSessionsPerSource = 1 }
        defer { Task { await relay.stop() } }
        let client = try relay.connect()
        #expect(try client.request(#"{"op":"create"}"#)["ok"] as? Bool == true)
        #expect(Self.code(try client.request(#"{"op":"create"}"#)) == "rate_limited")
        #expect(try await relay.counters().refusals(.sessionsPerSource) == 0)
    }

    @Test func guessingJoinCodesRunsOutOfBudgetAcrossConnections() async throws {
        // A budget of 5 that refills too slowly to matter within the test.
        let relay = try await TestRelay.start { $0.joinFailureRate = 0.01; $0.joinFailureBurst = 5 }
        defer { Task { await relay.stop() } }
        let (_, created) = try relay.createSession()
        let code = created["code"] as! String
        // Each guess on a new connection, as a guesser would.
        for _ in 0..<5 {
            let guesser = try relay.connect()
            #expect(Self.code(try guesser.request(#"{"op":"join","code":"ZZZZZZ"}"#)) == "not_found")
        }
        // Out of budget: refused without a look-up, even with the right code.
        let guesser = try relay.connect()
        #expect(Self.code(try guesser.request(#"{"op":"join","code":"\#(code)"}"#)) == "rate_limited")
        #expect(try await relay.counters().refusals(.joinFailures) == 1)
    }

    @Test func checksBeforeTheLookUpSpendNoJoinBudget() async throws {
        let relay = try await TestRelay.start { $0.joinFailureRate = 0.01; $0.joinFailureBurst = 5 }
        defer { Task { await relay.stop() } }
        let client = try relay.connect()
        for _ in 0..<10 {
            #expect(Self.code(try client.request(#"{"op":"join","code":5}"#)) == "bad_request")
        }
        // Only not_found answers spend it: the budget is still whole.
        for _ in 0..<5 {
            #expect(Self.code(try client.request(#"{"op":"join","code":"ZZZZZZ"}"#)) == "not_found")
        }
        #expect(Self.code(try client.request(#"{"op":"join","code":"ZZZZZZ"}"#)) == "rate_limited")
    }

    @Test func oneSourceCannotChurnASessionsMemberIDsAway() async throws {
        // The default burst of 64, refilling too slowly to matter within the test.
        let relay = try await TestRelay.start { $0.sessionJoinRate = 0.01 }
        defer { Task { await relay.stop() } }
        let (owner, created) = try relay.createSession()
        let code = created["code"] as! String
        // A member that stays, so the session outlives the churn (an empty session is deleted).
        #expect(try owner.request(#"{"op":"join","code":"\#(code)"}"#)["ok"] as? Bool == true)
        let churner = try relay.connect()
        // 64 joins at once are the burst; the owner's join from the same address was the first.
        for index in 0..<63 {
            #expect(try churner.request(#"{"op":"join","code":"\#(code)"}"#)["ok"] as? Bool == true, "join \(index)")
            #expect(try churner.request(#"{"op":"leave"}"#)["ok"] as? Bool == true)
        }
        let refused = try churner.request(#"{"op":"join","code":"\#(code)"}"#)
        #expect(Self.code(refused) == "rate_limited")
        #expect(try await relay.counters().refusals(.sessionJoins) == 1)
        // Another session is another budget.
        let (_, other) = try relay.createSession()
        #expect(try churner.request(#"{"op":"join","session":"\#(other["session"] as! String)"}"#)["ok"] as? Bool == true)
    }

    @Test func connectionsPerSourceAreCapped() async throws {
        let relay = try await TestRelay.start { $0.maxConnectionsPerSource = 2 }
        defer { Task { await relay.stop() } }
        let first = try relay.connect()
        let second = try relay.connect()
        #expect(try first.request(#"{"op":"ping"}"#)["ok"] as? Bool == true)
        #expect(try second.request(#"{"op":"ping"}"#)["ok"] as? Bool == true)
        let third = try relay.connect()
        #expect(try third.readUntilClose(timeout: .seconds(5)).isEmpty)
        _ = try await relay.waitForCounters("one refused") { $0.refusals(.connectionsPerSource) == 1 }
        // Room again once one closes.
        first.close()
        try await relay.waitForConnections(atMost: 1, "the closed connection no longer counted")
        let fourth = try relay.connect()
        #expect(try fourth.request(#"{"op":"ping"}"#)["ok"] as? Bool == true)
    }
}
