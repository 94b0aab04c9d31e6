import Foundation
import Logging
@_spi(Testing) import RelayServer
import RelayWire
import TestSupport
import UVNet

/// An in-process relay on its own loop, bound to loopback port 0, for one test.
final class TestRelay: Sendable {
    let loop: EventLoop
    let server: LoopBound<RelayServer>
    let controlPort: Int
    let udpPort: Int
    let host: String

    private init(loop: EventLoop, server: LoopBound<RelayServer>, controlPort: Int, udpPort: Int, host: String) {
        self.loop = loop
        self.server = server
        self.controlPort = controlPort
        self.udpPort = udpPort
        self.host = host
    }

    /// Starts a relay with `configure` applied to a loopback, port-0 configuration.
    static func start(host: String = "127.0.0.1", clock: ManualClock? = nil,
                      steeringGroupSize: UInt32? = nil,
                      _ configure: @Sendable (inout RelayConfig) -> Void = { _ in }) async throws -> TestRelay {
        let loop = EventLoop(name: "test-relay")
        var config = RelayConfig()
        config.host = host
        config.port = 0
        configure(&config)
        let frozen = config
        let (bound, control, udp) = try await loop.submit {
            var logger = Logger(label: "test-relay")
            logger.logLevel = .warning
            let server = RelayServer(loop: loop, config: frozen, logger: logger, clock: clock)
            server.steeringGroupSizeOverride = steeringGroupSize
            try server.start()
            return (LoopBound(server, loop: loop), server.controlAddress!.port, server.udpAddress!.port)
        }
        return TestRelay(loop: loop, server: bound, controlPort: control, udpPort: udp, host: host)
    }

    /// A snapshot of the relay's counters.
    func counters() async throws -> RelayCounters {
        let server = self.server
        return try await loop.submit { server.value.counters }
    }

    /// Reads a value from the server on its loop.
    func read<T: Sendable>(_ body: @escaping @Sendable (RelayServer) -> T) async throws -> T {
        let server = self.server
        return try await loop.submit { body(server.value) }
    }

    /// Waits (bounded) until `condition` holds for the counters; returns the last snapshot. The
    /// bound is generous: the relay's data loops are threads of their own, which a parallel test
    /// run (under the thread sanitizer above all) can starve for seconds; a passing test never
    /// waits that long.
    @discardableResult
    func waitForCounters(timeout: Duration = .seconds(15), _ what: String,
                         _ condition: @escaping @Sendable (RelayCounters) -> Bool) async throws -> RelayCounters {
        let deadline = ContinuousClock.now + timeout
        while true {
            let snapshot = try await counters()
            if condition(snapshot) { return snapshot }
            if ContinuousClock.now >= deadline { throw TestFailure("timed out waiting for counters: \(what); last: \(snapshot)") }
            try await Task.sleep(for: .milliseconds(5))
        }
    }

    /// Waits (bounded) until the relay has at most `count` control connections open.
    func waitForConnections(atMost count: Int, _ what: String, timeout: Duration = .seconds(15)) async throws {
        let deadline = ContinuousClock.now + timeout
        while try await read({ $0.controlConnectionCount }) > count {
            if ContinuousClock.now >= deadline { throw TestFailure("timed out waiting: \(what)") }
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    /// Stops the relay and its loop.
    func stop() async {
        let server = self.server
        _ = try? await loop.submit { server.value.stop() }
        await loop.shutdown()
    }
}
