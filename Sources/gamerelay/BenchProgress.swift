import Dispatch
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The live progress line of `gamerelay bench` on a terminal: phase, elapsed time, offered and
/// delivered rates, loss so far and time left, redrawn in place at most twice a second.
///
/// It writes only to a terminal: standard error when that is one, else standard output when
/// that is one and carries no JSON (`--json -`); otherwise there is no progress at all, so
/// redirected output and pipes get exactly the report. The generator loop only copies its
/// counters (``BenchRunner/ProgressSnapshot``) on a timer of its own; formatting and the write
/// happen on a serial queue, so a slow terminal can't stall the schedule.
final class BenchProgress: Sendable {
    /// How often the line is redrawn.
    static let interval = Duration.milliseconds(500)

    /// What the line adds for a `--max` search: which run this is and how long later runs may take.
    struct Context: Sendable {
        /// Shown before the figures, e.g. `run 3 of ≤ 12, 2000/s per member`.
        var prefix = ""
        /// The longest the runs after this one can take, in seconds; 0 when this is the last.
        var laterRunsSeconds = 0.0
    }

    /// The terminal's descriptor.
    let fd: Int32
    /// The drain after sending ends, in seconds, part of the time left.
    let drainSeconds: Double
    private let queue = DispatchQueue(label: "gamerelay.bench.progress")
    private let state = Mutex<(context: Context, isShown: Bool)>((Context(), false))

    /// The progress line for this process, or nil when neither stream it may use is a terminal.
    ///
    /// - Parameters:
    ///   - jsonOnStandardOutput: Whether standard output carries the JSON summary (`--json -`).
    ///   - drainSeconds: The wait for stragglers after sending ends.
    init?(jsonOnStandardOutput: Bool, drainSeconds: Double) {
        if isatty(STDERR_FILENO) == 1 {
            fd = STDERR_FILENO
        } else if !jsonOnStandardOutput, isatty(STDOUT_FILENO) == 1 {
            fd = STDOUT_FILENO
        } else {
            return nil
        }
        self.drainSeconds = drainSeconds
    }

    /// Sets what the line says besides the run's own figures.
    func setContext(_ context: Context) {
        state.withLock { $0.context = context }
    }

    /// Redraws the line from `snapshot`, off the caller's thread.
    func show(_ snapshot: BenchRunner.ProgressSnapshot) {
        queue.async { [self] in
            let context = state.withLock { $0.context }
            var line = Self.line(snapshot, drainSeconds: drainSeconds, context: context)
            // A line wider than the terminal wraps, and `\r` then redraws only its last row.
            let width = (Console.columns(of: fd) ?? 80) - 1
            if line.count > width { line = String(line.prefix(Swift.max(width - 1, 0))) + "…" }
            Console.write(all: "\r\u{1B}[K" + line, to: fd)
            state.withLock { $0.isShown = true }
        }
    }

    /// Erases the line, after any redraw still queued; call it before writing anything else.
    func clear() {
        queue.sync {
            let wasShown = state.withLock { state in
                defer { state.isShown = false }
                return state.isShown
            }
            if wasShown { Console.write(all: "\r\u{1B}[K", to: fd) }
        }
    }

    /// The text of the line: set-up, warm-up, measuring or draining, with the time left.
    static func line(_ s: BenchRunner.ProgressSnapshot, drainSeconds: Double, context: Context = Context()) -> String {
        let prefix = context.prefix.isEmpty ? "" : context.prefix + " · "
        guard s.isRunning else {
            return prefix + "setting up members: \(s.membersReady)/\(s.membersTotal)"
        }
        let seconds = { (from: UInt64, to: UInt64) in to > from ? Double(to - from) / 1e9 : 0 }
        let left = seconds(s.now, s.sendEnd) + drainSeconds + context.laterRunsSeconds
        // The time left comes early, so a narrow terminal cuts the rates rather than it.
        let eta = (context.laterRunsSeconds > 0 ? "≤ " : "") + duration(left) + " left"
        if s.now < s.measureStart {
            return prefix + "warm-up, \(fixed(seconds(s.now, s.measureStart), 1)) s to go · \(eta)"
        }
        let elapsed = seconds(s.measureStart, Swift.min(s.now, s.sendEnd))
        let window = seconds(s.measureStart, s.sendEnd)
        let offered = elapsed > 0 ? Double(s.sent) / elapsed : 0
        let delivered = elapsed > 0 ? Double(s.delivered) / elapsed : 0
        // Datagrams in flight count as lost until they land (the latency's worth of the run so
        // far), so early on this reads a little above the final loss; only counters the generator
        // keeps anyway are read, nothing is added to its receive path.
        let loss = s.expected > 0 ? Swift.max(0, 1 - Double(s.delivered) / Double(s.expected)) * 100 : 0
        let phase = s.now < s.sendEnd ? "\(fixed(elapsed, 1))/\(fixed(window, 1)) s" : "draining"
        return prefix + "\(phase) · \(eta) · offered \(rate(offered))/s · delivered \(rate(delivered))/s · loss \(fixed(loss, 2)) %"
    }

    /// `12 s`, or `2 min 05 s` from a minute up.
    static func duration(_ seconds: Double) -> String {
        let whole = Int(seconds.rounded(.up))
        return whole < 60 ? "\(whole) s" : "\(whole / 60) min \(whole % 60 < 10 ? "0" : "")\(whole % 60) s"
    }

    private static func rate(_ value: Double) -> String {
        String(Int(value.rounded()))
    }

    private static func fixed(_ value: Double, _ digits: Int) -> String {
        var scale = 1.0
        for _ in 0..<digits { scale *= 10 }
        let scaled = Int((value * scale).rounded())
        let whole = String(scaled / Int(scale))
        guard digits > 0 else { return whole }
        let fraction = String(abs(scaled) % Int(scale))
        return whole + "." + String(repeating: "0", count: digits - fraction.count) + fraction
    }
}
