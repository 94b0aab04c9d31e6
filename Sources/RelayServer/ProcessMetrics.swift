#if canImport(Glibc)
import Glibc
#endif

/// The standard `process_*` metrics every Prometheus client library exports, read from
/// `/proc/self` when the endpoint renders, so dashboards built for any exporter show the relay's
/// CPU, memory and descriptors without a node exporter.
///
/// swift-prometheus has no process collector; these are written as text after the registry's
/// families. Linux only: where `/proc` can't be read, the families it feeds are left out.
struct ProcessMetrics {
    /// The figures of one reading.
    struct Sample: Equatable {
        /// User plus system CPU time, in seconds.
        var cpuSeconds: Double
        var residentBytes: UInt64
        var virtualBytes: UInt64
        /// Start time in seconds since 1970; nil when the boot time is unknown.
        var startTimeSeconds: Double?
        var openFDs: Int?
        var maxFDs: UInt64?
    }

    /// The fields of `/proc/self/stat` the metrics use, in the kernel's units.
    struct Stat: Equatable {
        /// utime + stime, in clock ticks.
        var cpuTicks: UInt64
        /// Start time after boot, in clock ticks.
        var startTicks: UInt64
        var virtualBytes: UInt64
        var residentPages: UInt64
    }

    private let ticksPerSecond = Double(max(sysconf(Int32(_SC_CLK_TCK)), 1))
    private let pageSize = UInt64(max(sysconf(Int32(_SC_PAGESIZE)), 1))
    /// The boot time does not change while the relay runs: read once.
    private let bootTime: UInt64? = ProcessMetrics.readFile("/proc/stat").flatMap(ProcessMetrics.bootTime(procStat:))

    /// Parses `/proc/[pid]/stat` (proc(5)). The command name in parentheses may hold spaces and
    /// parentheses, so the fields are counted from its last `)`.
    static func parse(stat text: String) -> Stat? {
        guard let close = text.lastIndex(of: ")") else { return nil }
        // After the name: state is field 3, so field N sits at index N − 3.
        let fields = text[text.index(after: close)...].split(whereSeparator: { $0 == " " || $0 == "\n" })
        func field(_ number: Int) -> UInt64? {
            fields.indices.contains(number - 3) ? UInt64(fields[number - 3]) : nil
        }
        guard let user = field(14), let system = field(15), let start = field(22), let virtual = field(23),
              let resident = field(24) else { return nil }
        return Stat(cpuTicks: user &+ system, startTicks: start, virtualBytes: virtual, residentPages: resident)
    }

    /// The `btime` line of `/proc/stat`: the boot time in seconds since 1970.
    static func bootTime(procStat text: String) -> UInt64? {
        for line in text.split(separator: "\n") where line.hasPrefix("btime ") {
            return line.split(separator: " ").last.flatMap { UInt64($0) }
        }
        return nil
    }

    /// Reads the process' figures now; nil without a readable `/proc/self/stat`.
    func sample() -> Sample? {
        guard let text = Self.readFile("/proc/self/stat"), let stat = Self.parse(stat: text) else { return nil }
        var limit = rlimit()
        let maxFDs: UInt64? = getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0 ? UInt64(limit.rlim_cur) : nil
        return Sample(cpuSeconds: Double(stat.cpuTicks) / ticksPerSecond, residentBytes: stat.residentPages &* pageSize,
                      virtualBytes: stat.virtualBytes,
                      startTimeSeconds: bootTime.map { Double($0) + Double(stat.startTicks) / ticksPerSecond },
                      openFDs: Self.openDescriptors(), maxFDs: maxFDs)
    }

    /// Appends the families of a fresh ``sample()`` to `buffer`.
    func render(into buffer: inout [UInt8]) {
        guard let sample = sample() else { return }
        Self.render(sample, into: &buffer)
    }

    /// Appends `sample` as Prometheus text, each family with `# HELP` and `# TYPE`.
    static func render(_ sample: Sample, into buffer: inout [UInt8]) {
        func family(_ name: String, _ type: String, _ help: String, _ value: String) {
            buffer.append(contentsOf: "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n\(name) \(value)\n".utf8)
        }
        family("process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.", "\(sample.cpuSeconds)")
        family("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", "\(sample.residentBytes)")
        family("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.", "\(sample.virtualBytes)")
        if let start = sample.startTimeSeconds {
            family("process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.", "\(start)")
        }
        if let open = sample.openFDs {
            family("process_open_fds", "gauge", "Number of open file descriptors.", "\(open)")
        }
        if let max = sample.maxFDs {
            family("process_max_fds", "gauge", "Maximum number of open file descriptors.", "\(max)")
        }
    }

    /// The entries of `/proc/self/fd`, less the descriptor that lists them.
    private static func openDescriptors() -> Int? {
        guard let directory = opendir("/proc/self/fd") else { return nil }
        defer { closedir(directory) }
        var count = 0
        while let entry = readdir(directory) {
            let isDot = withUnsafeBytes(of: entry.pointee.d_name) { name in name[0] == UInt8(ascii: ".") }
            if !isDot { count += 1 }
        }
        return max(count - 1, 0)
    }

    /// A small file such as one under `/proc`, whose size `stat` reports as 0, read to its end.
    private static func readFile(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while bytes.count < 1 << 20 {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0, errno == EINTR { continue }
            if n <= 0 { break }
            bytes += chunk[..<n]
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
