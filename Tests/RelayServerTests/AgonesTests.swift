import Foundation
import Logging
import RelayServer
import TestSupport
import Testing
import UVNet

#if canImport(Glibc)
import Glibc
#endif

/// The relay under Agones, against a stand-in of the SDK server's REST gateway (no cluster here):
/// it waits for a gateway that starts late, advertises the allocated port, reports Ready, pings
/// Health only while its data-plane loops answer, keeps the Counters current, and asks for
/// Shutdown when a drain ends.
@Suite("Agones SDK integration")
struct AgonesTests {
    /// A relay and its agent on one loop, started the way `gamerelay serve --agones` starts them.
    final class AgonesRelay: Sendable {
        let loop = EventLoop(name: "agones-relay")
        let agent: LoopBound<AgonesAgent>
        private let started = Locked<Result<LoopBound<RelayServer>, AgonesError>?>(nil)

        init(gatewayPort: Int, healthInterval: Duration) throws {
            var agones = AgonesConfig()
            agones.sdkPort = gatewayPort
            agones.healthInterval = healthInterval
            agones.retryInterval = .milliseconds(50)
            agones.startTimeout = .seconds(60)
            let (loop, started) = (self.loop, self.started)
            let frozen = agones
            agent = try Self.onLoop(loop) {
                var logger = Logger(label: "agones-test")
                logger.logLevel = .error
                let agent = AgonesAgent(loop: loop, config: frozen, logger: logger)
                agent.discover { result in
                    switch result {
                    case .success(let (_, port)):
                        var config = RelayConfig()
                        config.host = "127.0.0.1"
                        config.port = 0
                        config.advertisedUDPPort = port
                        config.agones = frozen
                        let server = RelayServer(loop: loop, config: config, logger: logger)
                        do {
                            try server.start()
                            agent.attach(to: server)
                            started.withLockThenBroadcast { $0 = .success(LoopBound(server, loop: loop)) }
                        } catch {
                            started.withLockThenBroadcast { $0 = .failure(AgonesError("\(error)")) }
                        }
                    case .failure(let error):
                        started.withLockThenBroadcast { $0 = .failure(error) }
                    }
                }
                return LoopBound(agent, loop: loop)
            }
        }

        static func onLoop<T: Sendable>(_ loop: EventLoop, _ body: @escaping @Sendable () -> T) throws -> T {
            let slot = Locked<T?>(nil)
            _ = loop.execute { let value = body(); slot.withLockThenBroadcast { $0 = value } }
            guard let value = slot.wait(until: { $0 }, timeout: .seconds(20)) else { throw TestFailure("the loop did not run the work") }
            return value
        }

        /// The started relay, once the agent has found its port.
        func server(timeout: Duration = .seconds(30)) throws -> LoopBound<RelayServer> {
            guard let result = started.wait(until: { $0 }, timeout: timeout) else { throw TestFailure("the relay did not start") }
            return try result.get()
        }

        func read<T: Sendable>(_ body: @escaping @Sendable (AgonesAgent) -> T) throws -> T {
            let agent = self.agent
            return try Self.onLoop(loop) { body(agent.value) }
        }

        /// Waits (bounded) until `condition` holds for the agent.
        func waitFor(_ what: String, timeout: Duration = .seconds(20), _ condition: @escaping @Sendable (AgonesAgent) -> Bool) async throws {
            let deadline = ContinuousClock.now + timeout
            while try !read(condition) {
                guard ContinuousClock.now < deadline else { throw TestFailure("\(what) did not happen within \(timeout)") }
                try await Task.sleep(for: .milliseconds(20))
            }
        }
    }

    @Test func relayFindsItsPortThroughALateGatewayAndReportsToIt() async throws {
        let allocated = 7654
        let gateway = try AgonesGatewayStandIn(allocatedPort: allocated)
        defer { gateway.stop() }
        let interval = Duration.milliseconds(200)
        let relay = try AgonesRelay(gatewayPort: gateway.port, healthInterval: interval)
        defer { relay.loop.syncShutdown() }

        // The SDK server starts after the relay: the relay keeps asking until it answers.
        try await relay.waitFor("two refused GET /gameserver") { $0.discoveryAttempts >= 2 }
        #expect(gateway.requests.isEmpty)
        try await gateway.start()
        let server = try relay.server()
        let controlPort = try AgonesRelay.onLoop(relay.loop) { server.value.controlAddress!.port }
        let ready = try gateway.waitFor("POST /ready") { $0.contains { $0.method == "POST" && $0.path == "/ready" } }
        #expect(ready.first == .init(method: "GET", path: "/gameserver", body: ""))
        #expect(ready.firstIndex { $0.path == "/ready" }! > ready.firstIndex { $0.path == "/gameserver" }!)

        // Clients are told the allocated port, not the one the relay listens on.
        let client = try ControlTestClient(port: controlPort)
        let hello = try client.request(#"{"op":"hello","protocol":1}"#)
        #expect((hello["udp"] as? [String: Any])?["port"] as? Int == allocated)
        let created = try client.request(#"{"op":"create"}"#)
        let session = try #require(created["session"] as? String)
        let joined = try client.request(#"{"op":"join","session":"\#(session)","name":"a"}"#)
        #expect((joined["udp"] as? [String: Any])?["port"] as? Int == allocated)

        // The Counters follow the sessions and members.
        _ = try gateway.waitFor("counters sessions=1 members=1") { _ in
            gateway.counterValues["sessions"] == 1 && gateway.counterValues["members"] == 1
        }
        #expect(gateway.requests.contains { $0.method == "PATCH" && $0.path == "/v1beta1/counters/sessions" && $0.body == #"{"count":"1"}"# })

        // Health pings go out while every data-plane loop answers.
        _ = try gateway.waitFor("two health pings") { $0.count { $0.path == "/health" } >= 2 }

        // A stuck data-plane loop stops them.
        let dataLoop = try AgonesRelay.onLoop(relay.loop) { server.value.dataPlaneLoops[0] }
        let release = Locked(false)
        let stalled = Locked(false)
        _ = dataLoop.execute {
            stalled.withLockThenBroadcast { $0 = true }
            _ = release.wait(until: { $0 ? true : nil })
        }
        #expect(stalled.wait(until: { $0 ? true : nil }, timeout: .seconds(10)) == true)
        // Two skipped rounds: a ping sent just before the stall has reached the gateway's log.
        try await relay.waitFor("two skipped health rounds") { $0.stalledHealthRounds >= 2 }
        let pingsWhenStuck = gateway.requests.count { $0.path == "/health" }
        try await relay.waitFor("five skipped health rounds") { $0.stalledHealthRounds >= 5 }
        #expect(gateway.requests.count { $0.path == "/health" } == pingsWhenStuck)

        // Once the loop runs again, so do the pings.
        release.withLockThenBroadcast { $0 = true }
        _ = try gateway.waitFor("health pings after the stall") { $0.count { $0.path == "/health" } > pingsWhenStuck }

        // A drain that ends asks Agones to shut the GameServer down.
        client.close()
        let shutdownDone = Locked(false)
        let agent = relay.agent
        _ = relay.loop.execute {
            server.value.onDrainComplete = { agent.value.shutdown { shutdownDone.withLockThenBroadcast { $0 = true } } }
            server.value.beginDrain()
        }
        _ = try gateway.waitFor("POST /shutdown") { $0.contains { $0.method == "POST" && $0.path == "/shutdown" } }
        #expect(shutdownDone.wait(until: { $0 ? true : nil }, timeout: .seconds(10)) == true)
        _ = relay.loop.execute { server.value.stop() }
    }

    @Test func aCounterTheGameServerLacksIsTriedOnceThenLeftAlone() async throws {
        let gateway = try AgonesGatewayStandIn(allocatedPort: 7001, counters: ["sessions"])
        defer { gateway.stop() }
        try await gateway.start()
        let relay = try AgonesRelay(gatewayPort: gateway.port, healthInterval: .milliseconds(100))
        defer { relay.loop.syncShutdown() }
        let server = try relay.server()
        let controlPort = try AgonesRelay.onLoop(relay.loop) { server.value.controlAddress!.port }
        let client = try ControlTestClient(port: controlPort)
        let created = try client.request(#"{"op":"create"}"#)
        let session = try #require(created["session"] as? String)
        _ = try client.request(#"{"op":"join","session":"\#(session)"}"#)
        _ = try gateway.waitFor("sessions=1") { _ in gateway.counterValues["sessions"] == 1 }
        // Counters are compared every second: wait for two more comparisons after the 404.
        _ = try gateway.waitFor("a members PATCH") { $0.contains { $0.path == "/v1beta1/counters/members" } }
        try await relay.waitFor("health pings over two counter periods", timeout: .seconds(30)) { $0.healthPingsAccepted >= 25 }
        #expect(gateway.requests.count { $0.path == "/v1beta1/counters/members" } == 1)
        client.close()
        _ = relay.loop.execute { server.value.stop() }
    }

    @Test func noGatewayWithinTheStartTimeoutIsAClearFailure() async throws {
        let port = try LoopbackPorts.unusedTCPPort()
        let loop = EventLoop(name: "agones-absent")
        defer { loop.syncShutdown() }
        let outcome = Locked<String?>(nil)
        _ = loop.execute {
            var config = AgonesConfig()
            config.sdkPort = port
            config.retryInterval = .milliseconds(20)
            config.startTimeout = .milliseconds(300)
            var logger = Logger(label: "agones-test")
            logger.logLevel = .error
            let agent = AgonesAgent(loop: loop, config: config, logger: logger)
            agent.discover { result in
                let text: String
                switch result {
                case .success: text = "started"
                case .failure(let error): text = error.message
                }
                outcome.withLockThenBroadcast { $0 = text }
            }
        }
        let text = try #require(outcome.wait(until: { $0 }, timeout: .seconds(20)))
        #expect(text.contains("no GameServer from the Agones SDK at 127.0.0.1:\(port)"), "\(text)")
    }
}
