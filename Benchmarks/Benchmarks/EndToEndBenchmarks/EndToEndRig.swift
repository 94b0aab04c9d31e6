import Dispatch
import Logging
import RelayClient
import RelayServer
import Synchronization
import UVNet

/// A relay on one loop and `members` clients of one session on another, over 127.0.0.1.
///
/// Made in the setup hook, so connecting, joining and binding are never measured; ``forward()``
/// is one iteration.
final class EndToEndRig: Sendable {
    /// DATA datagrams the clients send per iteration; each reaches every other member.
    static let datagramsPerIteration = 100_000
    /// How long one iteration may go without a single delivery before it is called failed.
    static let stallLimit: Duration = .seconds(5)

    let relayLoop: EventLoop
    let clientLoop: EventLoop
    private let relay: LoopBound<RelayServer>
    private let driver: LoopBound<TrafficDriver>
    private let finished: DispatchSemaphore
    private let outcome: IterationOutcome

    init(members: Int) async throws {
        let relayLoop = EventLoop(name: "bench-relay")
        let clientLoop = EventLoop(name: "bench-clients")
        let finished = DispatchSemaphore(value: 0)
        let outcome = IterationOutcome()
        do {
            let (relay, port) = try await relayLoop.submit {
                var config = RelayConfig()
                config.host = "127.0.0.1"
                config.port = 0
                // The benchmark measures forwarding, not the limiter's refusals.
                config.memberPacketRate = 100_000_000
                config.memberByteRate = 1 << 40
                var logger = Logger(label: "bench-relay")
                logger.logLevel = .warning
                let server = RelayServer(loop: relayLoop, config: config, logger: logger)
                try server.start()
                return (LoopBound(server, loop: relayLoop), server.controlAddress!.port)
            }
            let clients = try await Self.joinAndBind(members: members, port: port, on: clientLoop)
            driver = try await clientLoop.submit {
                let driver = TrafficDriver(clients: clients.value, stallLimit: Self.stallLimit) { failure in
                    outcome.set(failure)
                    finished.signal()
                }
                return LoopBound(driver, loop: clientLoop)
            }
            self.relay = relay
        } catch {
            await clientLoop.shutdown()
            await relayLoop.shutdown()
            throw error
        }
        self.relayLoop = relayLoop
        self.clientLoop = clientLoop
        self.finished = finished
        self.outcome = outcome
    }

    /// Connects `members` clients, creates a session with the first, joins it with all and binds
    /// their UDP addresses.
    private static func joinAndBind(members: Int, port: Int, on loop: EventLoop) async throws -> LoopBound<[RelayClient]> {
        let (clients, joined) = try await loop.submit { () -> (LoopBound<[RelayClient]>, LoopBound<JoinProgress>) in
            let clients = (0..<members).map { _ in RelayClient(loop: loop) }
            return (LoopBound(clients, loop: loop), LoopBound(JoinProgress(expected: members), loop: loop))
        }
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, Error>) in
            let accepted = loop.execute {
                let progress = joined.value
                progress.continuation = continuation
                let all = clients.value
                let creator = all[0]
                creator.connect(host: "127.0.0.1", port: port) { connected in
                    if case .failure(let error) = connected { progress.record(.failure(error)); return }
                    creator.create { created in
                        guard case .success(let session) = created else {
                            if case .failure(let error) = created { progress.record(.failure(error)) }
                            return
                        }
                        for client in all {
                            let join = {
                                client.join(code: session.code, name: "bench") { result in
                                    if case .failure(let error) = result { progress.record(.failure(error)); return }
                                    client.bind { progress.record($0) }
                                }
                            }
                            if client === creator {
                                join()
                            } else {
                                client.connect(host: "127.0.0.1", port: port) { connected in
                                    if case .failure(let error) = connected { progress.record(.failure(error)); return }
                                    join()
                                }
                            }
                        }
                    }
                }
            }
            if !accepted { continuation.resume(throwing: RigError("the client loop has shut down")) }
        }
        return clients
    }

    /// Sends ``datagramsPerIteration`` datagrams and waits until every copy has arrived.
    ///
    /// - Returns: why the iteration failed, or nil.
    func forward() -> String? {
        let driver = self.driver
        let accepted = clientLoop.execute { driver.value.start(datagrams: Self.datagramsPerIteration) }
        guard accepted else { return "the client loop has shut down" }
        // The driver's stall watchdog always ends the iteration; this bound is only a backstop.
        if finished.wait(timeout: .now() + .seconds(120)) == .timedOut {
            return "no end to the iteration within 120 s"
        }
        return outcome.get()
    }

    /// Closes the clients, stops the relay and shuts both loops down.
    func shutdown() async {
        let driver = self.driver
        let relay = self.relay
        _ = try? await clientLoop.submit { driver.value.close() }
        _ = try? await relayLoop.submit { relay.value.stop() }
        await clientLoop.shutdown()
        await relayLoop.shutdown()
    }
}

/// Counts join-and-bind results on the client loop and resumes the setup once all are in.
private final class JoinProgress {
    let expected: Int
    var results = 0
    var firstError: (any Error)?
    var continuation: CheckedContinuation<Void, Error>?

    init(expected: Int) { self.expected = expected }

    func record(_ result: Result<Void, RelayClientError>) {
        if case .failure(let error) = result, firstError == nil { firstError = error }
        results += 1
        guard results == expected || firstError != nil, let continuation else { return }
        self.continuation = nil
        if let firstError { continuation.resume(throwing: firstError) } else { continuation.resume() }
    }
}

/// Why the last iteration failed, handed from the client loop to the benchmark's thread.
final class IterationOutcome: Sendable {
    private let failure = Mutex<String?>(nil)

    func set(_ value: String?) { failure.withLock { $0 = value } }
    func get() -> String? { failure.withLock { $0 } }
}

struct RigError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Drives the traffic on the client loop: the members take turns sending a 100-byte DATA
/// broadcast, with at most ``window`` datagrams in flight, so that no socket buffer overflows
/// and nothing is dropped or queued (a client send that meets a full buffer would copy).
/// Loop-bound to the client loop.
final class TrafficDriver {
    /// Datagrams in flight at most: enough for full `recvmmsg` batches, far below the 208 KiB
    /// default socket buffers even at fan-out 7.
    static let window = 64

    private let clients: [RelayClient]
    private let fanOut: Int
    private let payload = UnsafeMutableRawBufferPointer.allocate(byteCount: 100, alignment: 8)
    private let report: (String?) -> Void
    private let watchdog: Timer
    private let stallLimit: Duration

    private var toSend = 0
    private var sent = 0
    private var expectedCopies = 0
    private var receivedCopies = 0
    private var nextSender = 0
    private var running = false
    private var copiesAtLastCheck = 0
    private var quietChecks = 0

    init(clients: [RelayClient], stallLimit: Duration, report: @escaping (String?) -> Void) {
        self.clients = clients
        fanOut = clients.count - 1
        self.report = report
        self.stallLimit = stallLimit
        payload.initializeMemory(as: UInt8.self, repeating: 0x5A)
        watchdog = Timer(loop: clients[0].loop)
        for client in clients {
            client.onData = { [unowned self] _ in self.received() }
        }
        watchdog.start(after: .milliseconds(500), repeating: .milliseconds(500)) { [unowned self] in self.check() }
    }

    deinit { payload.deallocate() }

    /// Starts an iteration of `datagrams` datagrams.
    func start(datagrams: Int) {
        toSend = datagrams
        sent = 0
        expectedCopies = datagrams * fanOut
        receivedCopies = 0
        copiesAtLastCheck = 0
        quietChecks = 0
        running = true
        pump()
    }

    private func pump() {
        let limit = Self.window * fanOut
        while running, sent < toSend, sent * fanOut - receivedCopies < limit {
            do {
                try clients[nextSender].send(UnsafeRawBufferPointer(payload))
            } catch {
                finish("send failed after \(sent) datagrams: \(error)")
                return
            }
            sent += 1
            nextSender = nextSender + 1 == clients.count ? 0 : nextSender + 1
        }
    }

    private func received() {
        guard running else { return }
        receivedCopies += 1
        if receivedCopies == expectedCopies {
            finish(nil)
        } else {
            pump()
        }
    }

    /// Ends an iteration that stopped making progress: a datagram was lost somewhere.
    private func check() {
        guard running else { return }
        if receivedCopies != copiesAtLastCheck {
            copiesAtLastCheck = receivedCopies
            quietChecks = 0
            return
        }
        quietChecks += 1
        if Duration.milliseconds(500) * quietChecks >= stallLimit {
            finish("stalled: \(receivedCopies) of \(expectedCopies) copies arrived, \(sent) of \(toSend) datagrams sent")
        }
    }

    private func finish(_ failure: String?) {
        running = false
        report(failure)
    }

    /// Stops the watchdog and closes every client.
    func close() {
        running = false
        watchdog.close()
        for client in clients { client.close() }
    }
}
