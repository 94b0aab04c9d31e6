import Foundation
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

/// A real coturn `turnserver` on 127.0.0.1, started for one test on a free port, loopback only,
/// with a private log, pid file and user database in a temporary directory.
final class TurnServerProcess {
    /// The long-term credentials the server accepts when started with `longTerm: true`.
    static let user = "u", password = "p", realm = "r"

    let port: Int
    let directory: URL
    private let process: Process

    /// `turnserver` on `PATH` (Debian's `coturn` package installs it in `/usr/bin`).
    static func executable() throws -> URL {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for directory in path.split(separator: ":").map(String.init) + ["/usr/bin", "/usr/sbin"] {
            let candidate = URL(fileURLWithPath: directory).appendingPathComponent("turnserver")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        }
        throw TestFailure("turnserver is not installed: the TURN integration tests need coturn (apt-get install -y coturn)")
    }

    /// Starts the server; `longTerm` switches from `--no-auth` to `--lt-cred-mech --user u:p --realm r`.
    init(longTerm: Bool) throws {
        let binary = try Self.executable()
        port = try Self.freeUDPPort()
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("turn-test-\(getpid())-\(port)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var arguments = [
            "-n", "--listening-ip", "127.0.0.1", "--relay-ip", "127.0.0.1", "--listening-port", "\(port)",
            "--allow-loopback-peers", "--no-cli", "--no-tls", "--no-dtls", "--no-tcp", "--no-rfc5780",
            // Disjoint relay-port ranges: two servers run in parallel here, and a relay port shared
            // between them (coturn may set SO_REUSEPORT) would split one allocation's traffic.
            "--relay-threads", "1", "--min-port", longTerm ? "57344" : "49152", "--max-port", longTerm ? "65535" : "57343",
            "--log-file", directory.appendingPathComponent("turnserver.log").path, "--simple-log",
            "--pidfile", directory.appendingPathComponent("turnserver.pid").path,
            "--db", directory.appendingPathComponent("turndb").path,
        ]
        arguments += longTerm ? ["--lt-cred-mech", "--user", "\(Self.user):\(Self.password)", "--realm", Self.realm] : ["--no-auth"]
        process = Process()
        process.executableURL = binary
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
    }

    /// The server's log so far, for failure messages.
    var log: String {
        (try? String(contentsOf: directory.appendingPathComponent("turnserver.log"), encoding: .utf8)) ?? "(no log)"
    }

    /// Stops the server (SIGTERM, then SIGKILL after a second) and removes its directory.
    func stop() {
        if process.isRunning {
            kill(process.processIdentifier, SIGTERM)
            let deadline = ContinuousClock.now + .seconds(1)
            while process.isRunning, ContinuousClock.now < deadline { usleep(10_000) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(at: directory)
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }

    /// A UDP port on 127.0.0.1 that was free a moment ago.
    static func freeUDPPort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { throw TestFailure("socket() failed: \(errno)") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        guard bound == 0 else { throw TestFailure("bind() failed: \(errno)") }
        let named = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        guard named == 0 else { throw TestFailure("getsockname() failed: \(errno)") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
