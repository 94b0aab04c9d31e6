/// A broken invariant found by a fuzz target: the input that produced it is a bug report.
///
/// Thrown rather than trapped so the replay tests can name the file and the rule that failed;
/// the libFuzzer entry points turn it into a crash, which is what libFuzzer records.
public struct FuzzFailure: Error, CustomStringConvertible {
    /// Which invariant failed, and with what values.
    public let message: String
    /// The line of the check, to find it without a debugger.
    public let line: Int

    /// Creates a failure for the check at `line`.
    public init(_ message: String, line: Int = #line) {
        self.message = message
        self.line = line
    }

    /// `message (line N)`.
    public var description: String { "\(message) (FuzzTargets line \(line))" }
}

/// Throws a ``FuzzFailure`` carrying `message` unless `condition` holds.
@inline(__always)
func check(_ condition: Bool, _ message: @autoclosure () -> String, line: Int = #line) throws(FuzzFailure) {
    if !condition { throw FuzzFailure(message(), line: line) }
}
