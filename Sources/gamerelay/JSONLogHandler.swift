import Foundation
import Logging
import RelayWire

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
    /// who grep them); the fixed fields win over metadata of the same name. `JSONWriter` escapes
    /// every control character, so no line ever breaks.
    static func line(label: String, level: Logger.Level, message: String, metadata: Logger.Metadata, timestamp: String) -> String {
        var fields = metadata
        fields["ts"] = .string(timestamp)
        fields["level"] = .string(level.rawValue)
        fields["label"] = .string(label)
        fields["msg"] = .string(message)
        var writer = JSONWriter()
        write(.dictionary(fields), to: &writer)
        return String(decoding: writer.bytes, as: UTF8.self) + "\n"
    }

    /// Writes a metadata value as JSON: numbers and Booleans given as such stay numbers and Booleans.
    static func write(_ value: Logger.Metadata.Value, to writer: inout JSONWriter) {
        switch value {
        case .string(let text):
            writer.string(text)
        case .stringConvertible(let convertible):
            switch convertible {
            case let bool as Bool: writer.bool(bool)
            case let integer as any BinaryInteger: writer.integer(integer)
            case let double as Double where double.isFinite: writer.raw("\(double)")
            case let float as Float where float.isFinite: writer.raw("\(float)")
            default: writer.string(convertible.description)
            }
        case .array(let values):
            writer.beginArray()
            for element in values { write(element, to: &writer) }
            writer.endArray()
        case .dictionary(let dictionary):
            writer.beginObject()
            for key in dictionary.keys.sorted() {
                writer.key(key)
                write(dictionary[key]!, to: &writer)
            }
            writer.endObject()
        }
    }
}
