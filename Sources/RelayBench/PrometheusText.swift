/// Reads counters from the Prometheus text exposition format, as a relay's `/metrics` serves it,
/// so a run against a relay in another process can take figures only the relay knows (such as
/// the states a tick session superseded) from its endpoint.
///
/// Only what the bench needs: sample lines `name value` or `name{labels} value`, comments and
/// anything malformed skipped. A counter kept per data-plane loop carries a `loop` label, so the
/// figure of the relay is the sum over every label set.
public enum PrometheusText {
    /// The sum of every sample of the metric `name`, whatever its labels.
    ///
    /// - Parameters:
    ///   - name: The metric's full name, e.g. `gamerelay_states_superseded_total`.
    ///   - text: The exposition text.
    /// - Returns: The sum, or nil when no well-formed sample of `name` is present.
    public static func sum(of name: String, in text: String) -> Double? {
        var total: Double?
        for line in text.split(whereSeparator: \.isNewline) {
            guard line.first != "#", line.hasPrefix(name) else { continue }
            var rest = line.dropFirst(name.count)
            if rest.first == "{" {
                // Label values may hold spaces but not an unescaped `}`: the sample goes on after it.
                guard let close = rest.lastIndex(of: "}") else { continue }
                rest = rest[rest.index(after: close)...]
            }
            // A sample is the name, one or more blanks, the value and an optional timestamp; a
            // longer name that merely starts with `name` has no blank here.
            guard let first = rest.first, first == " " || first == "\t" else { continue }
            guard let field = rest.split(whereSeparator: { $0 == " " || $0 == "\t" }).first,
                  let value = Double(field), value.isFinite else { continue }
            total = (total ?? 0) + value
        }
        return total
    }
}
