import UVNet

#if canImport(Glibc)
import Glibc
#endif

/// Lets the command-line's main thread wait for work that completes on an event loop.
final class Blocking<Value: Sendable>: Sendable {
    private let slot = Locked<Value?>(nil)

    /// Delivers the value (any thread); the first one wins.
    func finish(_ value: Value) {
        slot.withLockThenBroadcast { if $0 == nil { $0 = value } }
    }

    /// The value once delivered; nil if `timeout` passes first.
    func wait(timeout: Duration = .seconds(3600)) -> Value? {
        slot.wait(until: { $0 }, timeout: timeout)
    }

    /// Runs `body` on `loop` and waits for it to call `finish`.
    static func run(on loop: EventLoop, timeout: Duration = .seconds(3600),
                    _ body: @escaping @Sendable (Blocking<Value>) -> Void) -> Value? {
        let blocking = Blocking<Value>()
        loop.execute { body(blocking) }
        return blocking.wait(timeout: timeout)
    }
}

/// CPU time used by the calling thread, in nanoseconds.
func threadCPUNanos() -> UInt64 {
    var spec = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &spec)
    return UInt64(spec.tv_sec) * 1_000_000_000 + UInt64(spec.tv_nsec)
}

/// CPU time (user + system) used so far by process `pid`, in nanoseconds: from its CPU-time
/// clock (`clock_getcpuclockid`), which counts in nanoseconds where `/proc/PID/stat` counts in
/// clock ticks (10 ms at 100 Hz: too coarse for a run of a few hundred milliseconds); from
/// `/proc` where the clock cannot be read.
func processCPUNanos(pid: Int32) -> UInt64? {
    var clock = clockid_t()
    var spec = timespec()
    if clock_getcpuclockid(pid, &clock) == 0, clock_gettime(clock, &spec) == 0 {
        return UInt64(spec.tv_sec) * 1_000_000_000 + UInt64(spec.tv_nsec)
    }
    guard let text = readSmallFile("/proc/\(pid)/stat"), let close = text.lastIndex(of: ")") else { return nil }
    // Fields after the command name: state is field 3, utime 14, stime 15.
    let fields = text[text.index(after: close)...].split(separator: " ")
    guard fields.count > 13, let user = UInt64(fields[11]), let system = UInt64(fields[12]) else { return nil }
    let ticks = UInt64(sysconf(Int32(_SC_CLK_TCK)))
    return (user + system) * 1_000_000_000 / max(ticks, 1)
}

/// Peak resident set size (`VmHWM`) of process `pid`, in bytes.
func peakRSSBytes(pid: Int32) -> UInt64? {
    statusBytes(pid: pid, field: "VmHWM:")
}

/// Resident set size (`VmRSS`) of process `pid`, in bytes.
func currentRSSBytes(pid: Int32) -> UInt64? {
    statusBytes(pid: pid, field: "VmRSS:")
}

/// A `kB` field of `/proc/PID/status`, in bytes.
private func statusBytes(pid: Int32, field: String) -> UInt64? {
    guard let text = readSmallFile("/proc/\(pid)/status") else { return nil }
    for line in text.split(separator: "\n") where line.hasPrefix(field) {
        let digits = line.split(separator: " ").dropFirst().first.flatMap { UInt64($0) }
        return digits.map { $0 * 1024 }
    }
    return nil
}

/// Reads a small text file such as one under `/proc`.
func readSmallFile(_ path: String) -> String? {
    let fd = open(path, O_RDONLY)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n <= 0 { break }
        bytes += chunk[..<n]
    }
    return String(decoding: bytes, as: UTF8.self)
}
