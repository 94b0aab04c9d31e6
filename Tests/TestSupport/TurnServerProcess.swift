import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A real coturn `turnserver` on 127.0.0.1, started for one test on a free port, loopback only,
/// with a private log, pid file and user database in a temporary directory.
public final class TurnServerProcess {
    /// The long-term credentials the server accepts when started with `longTerm: true`.
    public static let user = "u", password = "p", realm = "r"

    /// The server's UDP port on 127.0.0.1.
    public let port: Int
    /// The server's PID.
    public var processIdentifier: Int32 { process.processIdentifier }
    let directory: URL
    private let process: ChildProcess

    /// `turnserver` on `PATH` (Debian's `coturn` package installs it in `/usr/bin`).
    public static func executable() throws -> URL {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for directory in path.split(separator: ":").map(String.init) + ["/usr/bin", "/usr/sbin"] {
            let candidate = URL(fileURLWithPath: directory).appendingPathComponent("turnserver")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        }
        throw TestFailure("turnserver is not installed: the TURN integration tests need coturn (apt-get install -y coturn)")
    }

    /// Starts the server; `longTerm` switches from `--no-auth` to `--lt-cred-mech --user u:p --realm r`.
    /// Servers that run at the same time need disjoint `relayPorts`: a relay port shared between
    /// two (coturn may set SO_REUSEPORT) would split one allocation's traffic.
    public init(longTerm: Bool, relayPorts: ClosedRange<Int>? = nil) throws {
        let relayPorts = relayPorts ?? (longTerm ? 57344...65535 : 49152...57343)
        let binary = try Self.executable()
        port = try LoopbackPorts.unusedUDPPort()
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("turn-test-\(getpid())-\(port)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var arguments = [
            "-n", "--listening-ip", "127.0.0.1", "--relay-ip", "127.0.0.1", "--listening-port", "\(port)",
            "--allow-loopback-peers", "--no-cli", "--no-tls", "--no-dtls", "--no-tcp", "--no-rfc5780",
            "--relay-threads", "1", "--min-port", "\(relayPorts.lowerBound)", "--max-port", "\(relayPorts.upperBound)",
            "--log-file", directory.appendingPathComponent("turnserver.log").path, "--simple-log",
            "--pidfile", directory.appendingPathComponent("turnserver.pid").path,
            "--db", directory.appendingPathComponent("turndb").path,
        ]
        arguments += longTerm ? ["--lt-cred-mech", "--user", "\(Self.user):\(Self.password)", "--realm", Self.realm] : ["--no-auth"]
        process = try ChildProcess(binary.path, arguments, stdout: .discard, stderr: .discard)
    }

    /// Waits until the server answers a STUN Binding request (it binds its port before it serves).
    public func waitUntilServing(timeout: Duration = .seconds(10)) throws {
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { throw TestFailure("socket() failed: \(errno)") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        address.sin_port = UInt16(port).bigEndian
        // Binding request: type 0x0001, length 0, the magic cookie, a transaction id.
        let request: [UInt8] = [0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xA4, 0x42] + Array(repeating: 7, count: 12)
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            _ = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(fd, request, request.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            if poll(&pfd, 1, 50) == 1 { return }
        }
        throw TestFailure("turnserver did not answer on 127.0.0.1:\(port) within \(timeout)\n\(log)")
    }

    /// The server's log so far, for failure messages.
    public var log: String {
        (try? String(contentsOf: directory.appendingPathComponent("turnserver.log"), encoding: .utf8)) ?? "(no log)"
    }

    /// Stops the server (SIGTERM, then SIGKILL after a second) and removes its directory.
    public func stop() {
        if process.isRunning {
            kill(process.processIdentifier, SIGTERM)
            let deadline = ContinuousClock.now + .seconds(1)
            while process.isRunning, ContinuousClock.now < deadline { usleep(10_000) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(at: directory)
    }
}
