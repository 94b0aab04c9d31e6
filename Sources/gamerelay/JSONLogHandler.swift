import Foundation
import Logging

/// A swift-log handler that writes one JSON object per line to stderr, for log shippers
/// (`--log-format json`): `{"label":"gamerelay","level":"info","msg":"listening","ts":"…",…metadata}`.
///
/// Metadata given as numbers (`.stringConvertible(42)`) is written as JSON numbers, and Booleans
/// as `true`/`false`, so a shipper can sum and compare them; text stays a string.
struct JSONLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level
    var metadata: Logger.Metadata = [:]

    init(label: String, level: Logger.Level) {
        self.label = label
        self.logLevel = level
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        Console.error(Self.line(label: label, level: event.level, message: "\(event.message)",
                                metadata: metadata.merging(event.metadata ?? [:]) { $1 }, timestamp: Self.timestamp()))
    }

    static func timestamp() -> String {
        Date().formatted(.iso8601.year().month().day().time(includingFractionalSeconds: true).timeZone(separator: .omitted))
    }

    /// One log line: the metadata and the fixed fields, keys sorted (stable lines for people
    /// who grep them); the fixed fields win over metadata of the same name.
    static func line(label: String, level: Logger.Level, message: String, metadata: Logger.Metadata, timestamp: String) -> String {
        var fields: [String: String] = [:]
        for (key, value) in metadata { fields[key] = json(value) }
        fields["ts"] = quoted(timestamp)
        fields["level"] = quoted(level.rawValue)
        fields["label"] = quoted(label)
        fields["msg"] = quoted(message)
        let body = fields.keys.sorted().map { "\(quoted($0)):\(fields[$0]!)" }.joined(separator: ",")
        return "{\(body)}\n"
    }

    /// A metadata value as JSON text.
    static func json(_ value: Logger.Metadata.Value) -> String {
        switch value {
        case .string(let text):
            return quoted(text)
        case .stringConvertible(let convertible):
            switch convertible {
            case let bool as Bool: return bool ? "true" : "false"
            case let integer as any BinaryInteger: return "\(integer)"
            case let double as Double where double.isFinite: return "\(double)"
            case let float as Float where float.isFinite: return "\(float)"
            default: return quoted(convertible.description)
            }
        case .array(let values):
            return "[" + values.map(json).joined(separator: ",") + "]"
        case .dictionary(let dictionary):
            return "{" + dictionary.keys.sorted().map { "\(quoted($0)):\(json(dictionary[$0]!))" }.joined(separator: ",") + "}"
        }
    }

    /// `text` as a JSON string that escapes every control character, so no line ever breaks.
    static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F || (0x2028...0x2029).contains(scalar.value):
                out += String(format: "\\u%04x", scalar.value)
            default:
                out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
