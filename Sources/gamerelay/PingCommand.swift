import ArgumentParser
import Foundation
import RelayClient
import Synchronization
import UVNet

#if canImport(Glibc)
import Glibc
#endif

/// `gamerelay ping HOST:PORT`: round-trip times to a relay, printed like `ping`.
struct PingCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ping",
        abstract: "Measure the round-trip time to a relay with PING datagrams, like ping(8).",
        discussion: """
        Joins a throwaway session, binds, and sends one PING per interval until -c is reached or \
        SIGINT. With --tls (or --ca) the control channel runs inside TLS; the PINGs stay plain UDP.

        Examples:
          gamerelay ping 127.0.0.1:7400 -c 5
          gamerelay ping [::1]:7400 --interval 0.2
          gamerelay ping relay.example.net:7400 --tls
        """
    )

    @Argument(help: "The relay, HOST:PORT (for example 127.0.0.1:7400 or [::1]:7400).", transform: { try HostPort.parse($0) })
    var relay: HostPort

    @Option(name: .shortAndLong, help: "Stop after this many replies or losses.")
    var count: Int?

    @Option(name: .shortAndLong, help: "Seconds between PINGs (decimals allowed).")
    var interval = 1.0

    @Option(name: .shortAndLong, help: "Seconds to wait for each reply before counting it lost.")
    var wait = 2.0

    @OptionGroup(title: "TLS")
    var tlsOptions: ClientTLSOptions

    func validate() throws {
        if let count, count < 1 { throw ValidationError("--count must be at least 1") }
        guard interval >= 0.01, interval <= 3600 else { throw ValidationError("--interval must lie in 0.01...3600 seconds") }
        guard wait > 0, wait <= 60 else { throw ValidationError("--wait must lie in (0, 60] seconds") }
    }

    func run() throws {
        signal(SIGPIPE, SIG_IGN)
        var drainSignals = sigset_t()
        sigemptyset(&drainSignals)
        sigaddset(&drainSignals, SIGINT)
        pthread_sigmask(SIG_UNBLOCK, &drainSignals, nil)
        let tls: TLSContext?
        do throws(ClientTLSOptions.Failure) {
            tls = try tlsOptions.makeContext()
        } catch {
            Console.error("gamerelay: error: \(error.message)\n")
            throw ExitCode(2)
        }
        let loop = EventLoop(name: "ping")
        let relay = self.relay
        let session = PingSession(target: relay, count: count, interval: .seconds(interval), wait: .seconds(wait),
                                  tls: tls, serverName: tlsOptions.tlsServerName)
        let result = Blocking<String?>.run(on: loop) { done in
            session.start(loop: loop) { done.finish($0) }
        }
        if let failure = result ?? "interrupted" {
            Console.error("gamerelay: error: \(failure)\n")
            throw ExitCode(2)
        }
        let stats = session.statistics
        Console.out(stats.summary(target: relay.description))
        throw ExitCode(stats.received == 0 ? 1 : 0)
    }
}

/// The statistics `ping` prints at the end.
struct PingStatistics: Sendable {
    var transmitted = 0
    var received = 0
    var rtts: [Double] = []

    func summary(target: String) -> String {
        let loss = transmitted == 0 ? 0 : Double(transmitted - received) * 100 / Double(transmitted)
        var text = "\n--- \(target) gamerelay ping statistics ---\n"
        text += "\(transmitted) packets transmitted, \(received) received, \(String(format: "%.1f", loss))% packet loss\n"
        if !rtts.isEmpty {
            let min = rtts.min()!, max = rtts.max()!
            let avg = rtts.reduce(0, +) / Double(rtts.count)
            let mdev = (rtts.map { ($0 - avg) * ($0 - avg) }.reduce(0, +) / Double(rtts.count)).squareRoot()
            text += String(format: "rtt min/avg/max/mdev = %.3f/%.3f/%.3f/%.3f ms\n", min, avg, max, mdev)
        }
        return text
    }
}

/// The client side of `gamerelay ping`, on its loop.
final class PingSession: Sendable {
    let target: HostPort
    let count: Int?
    let interval: Duration
    let wait: Duration
    /// The client context the control channel's TLS is made from; nil for plain.
    let tls: TLSContext?
    let serverName: String?
    private let stats = Mutex(PingStatistics())

    init(target: HostPort, count: Int?, interval: Duration, wait: Duration, tls: TLSContext? = nil, serverName: String? = nil) {
        self.target = target
        self.count = count
        self.interval = interval
        self.wait = wait
        self.tls = tls
        self.serverName = serverName
    }

    var statistics: PingStatistics { stats.withLock { $0 } }

    /// Connects, joins a throwaway session, binds, then pings; `done(nil)` when finished.
    func start(loop: EventLoop, _ done: @escaping @Sendable (String?) -> Void) {
        let client = RelayClient(loop: loop)
        let target = self.target
        client.connect(host: target.host, port: target.port, tls: tls, serverName: serverName) { [self] result in
            if case .failure(let error) = result {
                // A failed handshake names the host and OpenSSL's reason itself.
                return done(error.code == .tls ? error.message : "cannot reach \(target): \(error)")
            }
            client.create(capacity: 2) { created in
                guard case .success(let session) = created else { return done("create failed: \(created)") }
                client.join(session: session.session, name: "ping") { joined in
                    if case .failure(let error) = joined { return done("join failed: \(error)") }
                    client.bind { bound in
                        if case .failure(let error) = bound { return done("bind failed: \(error)") }
                        Console.out("PING \(target) (gamerelay\(self.tls == nil ? "" : ", control over TLS")): 24-byte datagrams\n")
                        self.pingLoop(loop: loop, client: client, done: done)
                    }
                }
            }
        }
    }

    private func pingLoop(loop: EventLoop, client: RelayClient, done: @escaping @Sendable (String?) -> Void) {
        var outstanding: [UInt32: UVNet.Timer] = [:]
        var finished = 0
        let target = self.target
        func finishOne() {
            finished += 1
            if let count, finished >= count {
                client.close()
                done(nil)
            }
        }
        client.onPong = { [self] sequence, rtt in
            guard let timer = outstanding.removeValue(forKey: sequence) else { return }
            timer.close()
            let ms = Double(rtt.components.attoseconds) / 1e15 + Double(rtt.components.seconds) * 1000
            stats.withLock {
                $0.received += 1
                $0.rtts.append(ms)
            }
            Console.out(String(format: "24 bytes from %@: seq=%u time=%.3f ms\n", target.description, sequence, ms))
            finishOne()
        }
        let interrupt = try? SignalWatcher(loop: loop, signal: SIGINT) { _ in
            client.close()
            done(nil)
        }
        let ticker = UVNet.Timer(loop: loop)
        var sent = 0
        ticker.start(after: .zero, repeating: interval) { [self] in
            _ = interrupt
            if let count, sent >= count {
                ticker.close()
                return
            }
            guard let sequence = try? client.ping() else { return }
            sent += 1
            stats.withLock { $0.transmitted += 1 }
            outstanding[sequence] = loop.schedule(after: wait) {
                outstanding[sequence] = nil
                Console.out("no reply for seq=\(sequence) within \(self.wait)\n")
                finishOne()
            }
        }
    }
}
