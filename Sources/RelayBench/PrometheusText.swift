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

    /// What a page says about one metric family in its `# HELP` and `# TYPE` lines.
    public struct Family: Equatable, Sendable {
        /// The `# HELP` text, if the page has one.
        public var help: String?
        /// The `# TYPE` (`counter`, `gauge`, `histogram`, …), if the page has one.
        public var type: String?

        /// A family with the given help and type.
        public init(help: String? = nil, type: String? = nil) {
            self.help = help
            self.type = type
        }
    }

    /// The families a page describes in `# HELP` and `# TYPE` lines, by name.
    ///
    /// - Parameter text: The exposition text.
    /// - Returns: Each family named by a well-formed `# HELP name text` or `# TYPE name type` line.
    public static func families(in text: String) -> [String: Family] {
        var families: [String: Family] = [:]
        for line in text.split(whereSeparator: \.isNewline) {
            let parts = line.split(separator: " ", maxSplits: 3, omittingEmptySubsequences: false)
            guard parts.count >= 3, parts[0] == "#" else { continue }
            let name = String(parts[2])
            let rest = parts.count > 3 ? String(parts[3]) : ""
            switch parts[1] {
            case "HELP": families[name, default: Family()].help = rest
            case "TYPE": families[name, default: Family()].type = rest
            default: continue
            }
        }
        return families
    }

    /// The names of every sample on a page, labels left out (a histogram's samples carry
    /// their `_bucket`, `_sum` and `_count` suffixes).
    ///
    /// - Parameter text: The exposition text.
    /// - Returns: The distinct sample names, comments and blank lines skipped.
    public static func sampleNames(in text: String) -> Set<String> {
        var names: Set<String> = []
        for line in text.split(whereSeparator: \.isNewline) where line.first != "#" {
            let name = line.prefix { $0 != "{" && $0 != " " && $0 != "\t" }
            if !name.isEmpty { names.insert(String(name)) }
        }
        return names
    }
}
