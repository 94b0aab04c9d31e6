#if canImport(Glibc)
import Glibc
#endif

/// A child process started with `posix_spawn`, for tests that run the relay, `openssl` or
/// coturn: Foundation's `Process.run()` on Linux (Swift 6.3) reads past a `dirent` while it
/// walks `/proc/self/fd` and crashes now and then in a suite that starts many children.
///
/// The child gets the test's environment, stdin from `/dev/null`, and stdout and stderr as asked;
/// no other descriptor of the test process leaks into it.
public final class ChildProcess: @unchecked Sendable {
    /// Where a child's output goes.
    public enum Output: Sendable {
        /// Discarded (`/dev/null`).
        case discard
        /// A pipe the test reads from (``stdoutDescriptor`` / ``stderrDescriptor``).
        case pipe
        /// Into the same pipe as stdout (stderr only).
        case stdout
    }

    /// The child's process id.
    public let processIdentifier: pid_t
    /// The read end of the child's stdout, when it goes to a pipe; -1 otherwise.
    public let stdoutDescriptor: Int32
    /// The read end of the child's stderr, when it has a pipe of its own; -1 otherwise.
    public let stderrDescriptor: Int32
    private var status: Int32?

    /// Starts `executable` (a path, or a name looked up on `PATH`) with `arguments`.
    ///
    /// - Throws: ``TestFailure`` when the program can't be started.
    public init(_ executable: String, _ arguments: [String], stdout: Output = .pipe, stderr: Output = .pipe) throws {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        var parentEnds: [Int32] = []
        var childEnds: [Int32] = []
        func pipeEnds() throws -> (read: Int32, write: Int32) {
            var fds: [Int32] = [0, 0]
            // Close-on-exec from the start, so a child another thread spawns meanwhile can't
            // inherit the pipe and keep it open.
            guard Self.pipe2(&fds, O_CLOEXEC) == 0 else { throw TestFailure("pipe2() failed: \(errno)") }
            parentEnds.append(fds[0])
            childEnds.append(fds[1])
            return (fds[0], fds[1])
        }
        var outRead: Int32 = -1
        var errRead: Int32 = -1
        switch stdout {
        case .pipe:
            let ends = try pipeEnds()
            outRead = ends.read
            posix_spawn_file_actions_adddup2(&actions, ends.write, 1)
        case .discard, .stdout:
            posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        }
        switch stderr {
        case .pipe:
            let ends = try pipeEnds()
            errRead = ends.read
            posix_spawn_file_actions_adddup2(&actions, ends.write, 2)
        case .stdout:
            posix_spawn_file_actions_adddup2(&actions, 1, 2)
        case .discard:
            posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        }
        // Sockets and files the test holds stay in the test.
        _ = Self.addCloseFrom(&actions, 3)

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let spawn = executable.contains("/") ? posix_spawn : posix_spawnp
        let rc = spawn(&pid, executable, &actions, nil, argv, environ)
        for fd in childEnds { close(fd) }
        guard rc == 0 else {
            for fd in parentEnds { close(fd) }
            throw TestFailure("cannot start \(executable): \(String(cString: strerror(rc)))")
        }
        processIdentifier = pid
        stdoutDescriptor = outRead
        stderrDescriptor = errRead
    }

    // glibc's GNU extensions, which Swift's Glibc module does not declare (glibc 2.34+ has both).
    private typealias Pipe2 = @convention(c) (UnsafeMutablePointer<Int32>, Int32) -> Int32
    private typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
    private static let pipe2: Pipe2 = unsafeBitCast(dlsym(UnsafeMutableRawPointer(bitPattern: 0), "pipe2")!, to: Pipe2.self)
    private static let addCloseFrom: AddCloseFrom = unsafeBitCast(
        dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np")!, to: AddCloseFrom.self)

    deinit {
        if isRunning {
            kill(processIdentifier, SIGKILL)
            waitUntilExit()
        }
        if stdoutDescriptor >= 0 { close(stdoutDescriptor) }
        if stderrDescriptor >= 0 { close(stderrDescriptor) }
    }

    /// Whether the child has not exited yet (reaps it when it has).
    public var isRunning: Bool {
        guard status == nil else { return false }
        var raw: Int32 = 0
        let rc = waitpid(processIdentifier, &raw, WNOHANG)
        if rc == processIdentifier {
            status = raw
            return false
        }
        return rc == 0
    }

    /// Waits for the child to exit.
    public func waitUntilExit() {
        guard status == nil else { return }
        var raw: Int32 = 0
        while waitpid(processIdentifier, &raw, 0) < 0, errno == EINTR {}
        status = raw
    }

    /// The exit status, or the number of the signal that ended the child (as Foundation's
    /// `terminationStatus`); -1 while it runs.
    public var terminationStatus: Int32 {
        guard !isRunning, let raw = status else { return -1 }
        let signal = raw & 0x7F
        return signal == 0 ? (raw >> 8) & 0xFF : signal
    }

    /// Reads what `descriptor` holds now without waiting, or everything up to end of file when
    /// `untilEnd` (after the child exited).
    public static func read(_ descriptor: Int32, untilEnd: Bool) -> [UInt8] {
        guard descriptor >= 0 else { return [] }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16_384)
        while true {
            if !untilEnd {
                var pfd = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
                guard poll(&pfd, 1, 0) > 0 else { break }
            }
            let count = chunk.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress, $0.count) }
            if count < 0, errno == EINTR { continue }
            guard count > 0 else { break }
            bytes += chunk[..<count]
        }
        return bytes
    }
}
