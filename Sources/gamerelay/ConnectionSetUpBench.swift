import ArgumentParser
import Foundation
import RelayBench
import RelayClient
import UVNet

#if canImport(Glibc)
import Glibc
#endif

/// `gamerelay bench --connections N`: what it costs a relay to take on members. N control
/// connections, at most `inFlight` at a time, each connecting (inside TLS with a context),
/// saying hello, joining a session and closing.
///
/// Loop-bound to the generator loop. Sessions are made first, unmeasured: one anchor member
/// per ``membersPerSession`` connections creates a session and stays in it, so a session lives
/// while its measured members come and go (the relay deletes a session its last member left).
/// Each session then takes ``membersPerSession`` measured joins plus its anchor's, within the
/// relay's default join burst per source and session (64), and the anchors plus the
/// connections in flight stay within its default 1024 control connections per source.
final class ConnectionSetUpRunner {
    /// Measured connections per session.
    static let membersPerSession = 16

    /// What one run measured.
    struct Outcome: Sendable {
        /// Connect to join reply, per connection.
        var setUp: LatencyRecorder
        /// From the first connect to the last join reply.
        var wallNanos: UInt64
        /// The generator loop's CPU time over the same span.
        var generatorCPUNanos: UInt64
    }

    /// Why a run stopped: one line.
    struct Failure: Error, Sendable {
        let message: String
    }

    let loop: EventLoop
    let host: String
    let port: Int
    let tls: TLSContext?
    let serverName: String?
    private var anchors: [RelayClient] = []
    private var sessions: [String] = []

    init(loop: EventLoop, host: String, port: Int, tls: TLSContext?, serverName: String?) {
        loop.preconditionInEventLoop()
        self.loop = loop
        self.host = host
        self.port = port
        self.tls = tls
        self.serverName = serverName
    }

    /// The sessions `connections` measured joins need.
    static func sessions(for connections: Int) -> Int {
        (connections + membersPerSession - 1) / membersPerSession
    }

    /// Opens one anchor per session: it connects, creates a session of capacity
    /// ``membersPerSession`` + 1 and joins it.
    func prepare(sessions count: Int, inFlight: Int, _ completion: @escaping (Failure?) -> Void) {
        sessions = [String](repeating: "", count: count)
        Self.bounded(count: count, inFlight: inFlight, { [self] index, done in
            let anchor = RelayClient(loop: loop)
            anchors.append(anchor)
            anchor.connect(host: host, port: port, tls: tls, serverName: serverName) { [self] result in
                if case .failure(let error) = result { return done(BenchRunner.describe(connectFailure: error, host: host, port: port)) }
                anchor.create(capacity: Self.membersPerSession + 1) { [self] created in
                    guard case .success(let session) = created else {
                        if case .failure(let error) = created { done("create: \(error)") }
                        return
                    }
                    anchor.join(session: session.session, name: "anchor") { [self] joined in
                        if case .failure(let error) = joined { return done("join: \(error)") }
                        sessions[index] = session.session
                        done(nil)
                    }
                }
            }
        }, completion: { completion($0.map(Failure.init)) })
    }

    /// Sets up `connections` members, `inFlight` at a time: connect (and the TLS handshake),
    /// `hello`, `join`, close. Stops at the first failure.
    func run(connections: Int, inFlight: Int, _ completion: @escaping (Result<Outcome, Failure>) -> Void) {
        var setUp = LatencyRecorder()
        let started = MonotonicClock.nanoseconds
        let cpuAtStart = threadCPUNanos()
        let tlsExpected = tls != nil
        Self.bounded(count: connections, inFlight: inFlight, { [self] index, done in
            let begun = MonotonicClock.nanoseconds
            let client = RelayClient(loop: loop)
            client.keepAliveInterval = nil
            let session = sessions[index / Self.membersPerSession]
            func finish(_ failure: String?) {
                client.close()
                done(failure)
            }
            client.connect(host: host, port: port, tls: tls, serverName: serverName) { [self] result in
                if case .failure(let error) = result { return finish(BenchRunner.describe(connectFailure: error, host: host, port: port)) }
                client.hello(client: "gamerelay-bench") { greeted in
                    switch greeted {
                    case .failure(let error): return finish("hello: \(error)")
                    case .success(let hello) where hello.tls != tlsExpected:
                        return finish("the relay's hello says tls \(hello.tls) on a \(tlsExpected ? "TLS" : "plain") connection")
                    case .success: break
                    }
                    client.join(session: session, name: "bench") { joined in
                        if case .failure(let error) = joined { return finish("join: \(error)") }
                        setUp.recordRaw(nanoseconds: MonotonicClock.nanoseconds &- begun)
                        finish(nil)
                    }
                }
            }
        }, completion: { failure in
            if let failure { return completion(.failure(Failure(message: failure))) }
            completion(.success(Outcome(setUp: setUp, wallNanos: MonotonicClock.nanoseconds &- started,
                                        generatorCPUNanos: threadCPUNanos() &- cpuAtStart)))
        })
    }

    /// Closes the anchors (their sessions end with them).
    func tearDown() {
        for anchor in anchors { anchor.close() }
        anchors.removeAll()
    }

    /// Runs `body` for `0..<count`, at most `inFlight` at once, in order; each calls `done`
    /// once, with nil or a failure. `completion` gets nil after the last, or the first failure
    /// (the ones in flight then still finish, unheeded).
    private static func bounded(count: Int, inFlight: Int, _ body: @escaping (Int, @escaping (String?) -> Void) -> Void,
                                completion: @escaping (String?) -> Void) {
        var next = 0
        var finished = 0
        var failed = false
        guard count > 0 else { return completion(nil) }
        func startNext() {
            guard !failed, next < count else { return }
            let index = next
            next += 1
            var answered = false
            body(index) { failure in
                guard !answered else { return }
                answered = true
                guard !failed else { return }
                if let failure {
                    failed = true
                    return completion(failure)
                }
                finished += 1
                if finished == count { return completion(nil) }
                startNext()
            }
        }
        for _ in 0..<min(inFlight, count) { startNext() }
    }
}

/// The figures of `gamerelay bench --connections`, as a table and as JSON.
struct ConnectionSetUpReport {
    var target: String
    var tls: Bool
    var connections: Int
    var sessions: Int
    var inFlight: Int
    var outcome: ConnectionSetUpRunner.Outcome
    /// The relay's CPU time over the run, and what it covers; nil when unknown.
    var relayCPUNanos: UInt64?
    var relayCPUScope: String
    var startedAt: String
    var hardware: String

    var wallSeconds: Double { Double(outcome.wallNanos) / 1e9 }
    var connectionsPerSecond: Double { Double(connections) / max(wallSeconds, 1e-9) }
    var relayCPUSeconds: Double? { relayCPUNanos.map { Double($0) / 1e9 } }
    var relayCPUMillisPerConnection: Double? { relayCPUSeconds.map { $0 * 1000 / Double(connections) } }
    var connectionsPerRelayCPUSecond: Double? { relayCPUSeconds.flatMap { $0 > 0 ? Double(connections) / $0 : nil } }
    var generatorCPUMillisPerConnection: Double { Double(outcome.generatorCPUNanos) / 1e6 / Double(connections) }

    /// The set-up time at percentile `p` (0...100), in milliseconds.
    func setUpMillis(_ p: Double) -> Double {
        Double(outcome.setUp.percentile(p)) / 1e6
    }

    var table: String {
        func row(_ label: String, _ value: String) -> String {
            "  " + label.padding(toLength: 34, withPad: " ", startingAt: 0) + value
        }
        func fixed(_ value: Double?, _ digits: Int, _ unit: String = "") -> String {
            value.map { String(format: "%.\(digits)f", $0) + unit } ?? "n/a"
        }
        var lines: [String] = []
        lines.append("gamerelay bench: connection set-up, \(connections) connections into \(sessions) sessions, "
                     + "\(inFlight) in flight, control channel \(tls ? "over TLS" : "plain")")
        lines.append("  target \(target), started \(startedAt)")
        if !hardware.isEmpty { lines.append("  hardware: \(hardware)") }
        lines.append("")
        lines.append("Set-up per connection (connect\(tls ? ", TLS handshake" : ""), hello, join; ms)")
        let columns = ["p50", "p90", "p99", "max"]
        lines.append(columns.map { $0.leftPadded(to: 12) }.joined())
        lines.append([50, 90, 99, 100].map { fixed(setUpMillis($0), 3).leftPadded(to: 12) }.joined())
        lines.append("")
        lines.append("Rate")
        lines.append(row("connections/s (wall clock)", "\(fixed(connectionsPerSecond, 1)) (\(connections) in \(fixed(wallSeconds, 3)) s)"))
        lines.append("")
        lines.append("Cost")
        lines.append(row("relay CPU (\(relayCPUScope))", fixed(relayCPUSeconds, 3, " s")))
        lines.append(row("relay CPU per connection", fixed(relayCPUMillisPerConnection, 3, " ms")))
        lines.append(row("connections per relay CPU-second", fixed(connectionsPerRelayCPUSecond, 0)))
        lines.append(row("generator CPU per connection", fixed(generatorCPUMillisPerConnection, 3, " ms")))
        return lines.joined(separator: "\n") + "\n"
    }

    var json: String {
        var object: [String: Any] = [
            "mode": tls ? "tls" : "plain", "target": target, "connections": connections, "sessions": sessions,
            "inFlight": inFlight, "wallSeconds": wallSeconds, "connectionsPerSecond": connectionsPerSecond,
            "setUpP50Millis": setUpMillis(50), "setUpP90Millis": setUpMillis(90), "setUpP99Millis": setUpMillis(99),
            "setUpMaxMillis": setUpMillis(100), "generatorCPUMillisPerConnection": generatorCPUMillisPerConnection,
            "relayCPUScope": relayCPUScope, "startedAt": startedAt, "hardware": hardware,
        ]
        if let relayCPUSeconds { object["relayCPUSeconds"] = relayCPUSeconds }
        if let relayCPUMillisPerConnection { object["relayCPUMillisPerConnection"] = relayCPUMillisPerConnection }
        if let connectionsPerRelayCPUSecond { object["connectionsPerRelayCPUSecond"] = connectionsPerRelayCPUSecond }
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self) + "\n"
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: " ", count: width - count) + self
    }
}

extension BenchCommand {
    /// `--connections`: opens the anchors, then measures `connections` set-ups, sampling the
    /// relay's CPU time (its process with `--relay-pid`, the in-process relay's control loop
    /// otherwise) just before the first and just after the last.
    func measureSetUp(connections: Int, target: HostPort, inProcess: InProcessRelay?, tls: TLSContext?,
                      serverName: String?) throws -> ConnectionSetUpReport {
        let loop = EventLoop(name: "bench")
        defer { loop.syncShutdown() }
        let host = target.host, port = target.port, inFlight = self.inFlight
        let runner = Blocking<LoopBound<ConnectionSetUpRunner>>.run(on: loop) { done in
            done.finish(LoopBound(ConnectionSetUpRunner(loop: loop, host: host, port: port, tls: tls, serverName: serverName), loop: loop))
        }!
        let sessions = ConnectionSetUpRunner.sessions(for: connections)
        let prepared = Blocking<ConnectionSetUpRunner.Failure?>.run(on: loop, timeout: .seconds(120)) { done in
            runner.value.prepare(sessions: sessions, inFlight: inFlight) { done.finish($0) }
        }
        func fail(_ message: String) -> Error {
            Console.error("gamerelay: error: \(message)\n")
            return ExitCode(1)
        }
        guard let prepared else { throw fail("creating \(sessions) sessions timed out") }
        if let failure = prepared { throw fail(failure.message) }

        let relayPid = self.relayPid
        func relayCPU() -> UInt64? {
            if let inProcess {
                return Blocking<UInt64>.run(on: inProcess.loop, timeout: .seconds(5)) { $0.finish(threadCPUNanos()) }
            }
            return relayPid.flatMap { processCPUNanos(pid: $0) }
        }
        let startedAt = ISO8601DateFormatter().string(from: Date())
        let cpuBefore = relayCPU()
        let result = Blocking<Result<ConnectionSetUpRunner.Outcome, ConnectionSetUpRunner.Failure>>.run(
            on: loop, timeout: .seconds(Double(connections) / 2 + 120)
        ) { done in
            runner.value.run(connections: connections, inFlight: inFlight) { done.finish($0) }
        }
        let cpuAfter = relayCPU()
        _ = Blocking<Bool>.run(on: loop, timeout: .seconds(5)) { done in
            runner.value.tearDown()
            done.finish(true)
        }
        let outcome: ConnectionSetUpRunner.Outcome
        switch result {
        case .success(let measured)?: outcome = measured
        case .failure(let failure)?: throw fail(failure.message)
        case nil: throw fail("setting up \(connections) connections did not finish")
        }
        let relayCPUNanos = cpuBefore.flatMap { before in cpuAfter.map { $0 &- before } }
        return ConnectionSetUpReport(
            target: inProcess == nil ? target.description : "in-process", tls: tls != nil, connections: connections,
            sessions: sessions, inFlight: inFlight, outcome: outcome, relayCPUNanos: relayCPUNanos,
            relayCPUScope: inProcess != nil ? "control loop" : relayPid != nil ? "process" : "unknown without --relay-pid",
            startedAt: startedAt, hardware: Hardware.summary)
    }
}
