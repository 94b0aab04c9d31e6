import Foundation
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

/// Runs the built `gamerelay` binary as a child process, for end-to-end tests of the command line.
final class RelayProcessHarness {
    let process: ChildProcess
    private var stdoutBuffer: [UInt8] = []

    /// The `gamerelay` executable next to the test bundle (both come from `swift build --build-tests`).
    static var binary: URL {
        let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        return exe.deletingLastPathComponent().appendingPathComponent("gamerelay")
    }

    init(_ arguments: [String]) throws {
        guard FileManager.default.isExecutableFile(atPath: Self.binary.path) else {
            throw TestFailure("the gamerelay binary is missing at \(Self.binary.path): run `swift build --build-tests` first")
        }
        process = try ChildProcess(Self.binary.path, arguments)
    }

    /// Reads stdout up to the next newline, waiting at most `timeout`.
    func readLine(timeout: Duration = .seconds(30)) throws -> String {
        let fd = process.stdoutDescriptor
        let deadline = ContinuousClock.now + timeout
        while true {
            if let newline = stdoutBuffer.firstIndex(of: 10) {
                let line = String(decoding: stdoutBuffer[..<newline], as: UTF8.self)
                stdoutBuffer.removeSubrange(...newline)
                return line
            }
            let remaining = deadline - ContinuousClock.now
            guard remaining > .zero else { throw TestFailure("no line on stdout within \(timeout)") }
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ms = Int32(remaining.components.seconds * 1000 + remaining.components.attoseconds / 1_000_000_000_000_000) + 1
            guard poll(&pfd, 1, ms) > 0 else { continue }
            var chunk = [UInt8](repeating: 0, count: 4096)
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            guard n > 0 else { throw TestFailure("stdout closed before a full line; stderr: \(stderrText())") }
            stdoutBuffer.append(contentsOf: chunk[..<n])
        }
    }

    /// Parses the readiness line: the control and UDP addresses.
    func waitForListening() throws -> (control: String, udp: String, line: String) {
        let line = try readLine()
        guard let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: String],
              object["event"] == "listening", let control = object["control"], let udp = object["udp"] else {
            throw TestFailure("not a listening line: \(line)")
        }
        return (control, udp, line)
    }

    /// A separate relay for bench runs against it: loopback, free ports, a metrics endpoint, and
    /// a packet rate limit above what the runs send. The caller kills it.
    static func relayForBench() throws -> (relay: RelayProcessHarness, listening: (control: String, udp: String, line: String), metrics: String) {
        let relay = try RelayProcessHarness(["serve", "--host", "127.0.0.1", "--port", "0", "--metrics-port", "0",
                                             "--member-packet-rate", "1000", "--log-level", "warning"])
        do {
            let listening = try relay.waitForListening()
            return (relay, listening, try metricsAddress(inListeningLine: listening.line))
        } catch {
            relay.signal(SIGKILL)
            throw error
        }
    }

    /// The metrics address a readiness line names (`"metrics":"127.0.0.1:PORT"`, printed when
    /// `--metrics-port` is given; with port 0 it is the port the kernel chose).
    static func metricsAddress(inListeningLine line: String) throws -> String {
        guard let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
              let metrics = object["metrics"] as? String else { throw TestFailure("no metrics address in \(line)") }
        return metrics
    }

    /// Sends a signal to the relay.
    func signal(_ number: Int32) {
        kill(process.processIdentifier, number)
    }

    /// Waits for the process to exit; returns its status, or nil when it is still running after `timeout`.
    func waitForExit(timeout: Duration = .seconds(10)) async throws -> Int32? {
        let deadline = ContinuousClock.now + timeout
        while process.isRunning {
            if ContinuousClock.now >= deadline { return nil }
            try await Task.sleep(for: .milliseconds(10))
        }
        return process.terminationStatus
    }

    /// Everything left on stdout (call after the process exited).
    func readAll() throws -> String {
        let rest = ChildProcess.read(process.stdoutDescriptor, untilEnd: !process.isRunning)
        return String(decoding: stdoutBuffer + rest, as: UTF8.self)
    }

    /// What the process has written to stderr (all of it once it has exited).
    func stderrText() -> String {
        String(decoding: ChildProcess.read(process.stderrDescriptor, untilEnd: !process.isRunning), as: UTF8.self)
    }
}

extension String {
    /// The port of an address printed as `host:port` or `[v6]:port`.
    var portSuffix: Int? { split(separator: ":").last.flatMap { Int($0) } }
}
