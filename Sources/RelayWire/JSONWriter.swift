/// Builds compact UTF-8 JSON with keys in the order written.
///
/// Strings escape `"`, `\`, every control character (C0, DEL and C1), U+2028/U+2029, so the
/// output never holds a raw `\0` or `\n` and can't break the control channel's
/// framing, whatever a peer put in a name. The writer tracks commas; the caller
/// is responsible for balancing begin/end calls and pairing keys with values.
public struct JSONWriter: Sendable {
    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    /// The bytes written so far.
    public private(set) var bytes: [UInt8] = []
    // One entry per open container: whether the next member needs a comma first.
    private var needsComma: [Bool] = []
    // A key was just written, so the next value follows its colon directly.
    private var afterKey = false

    /// Creates an empty writer.
    public init() {
        bytes.reserveCapacity(128)
    }

    /// Opens an object as the next value.
    public mutating func beginObject() {
        beginValue()
        bytes.append(UInt8(ascii: "{"))
        needsComma.append(false)
    }

    /// Closes the innermost object.
    public mutating func endObject() {
        _ = needsComma.popLast()
        bytes.append(UInt8(ascii: "}"))
    }

    /// Opens an array as the next value.
    public mutating func beginArray() {
        beginValue()
        bytes.append(UInt8(ascii: "["))
        needsComma.append(false)
    }

    /// Closes the innermost array.
    public mutating func endArray() {
        _ = needsComma.popLast()
        bytes.append(UInt8(ascii: "]"))
    }

    /// Writes an object key; the next call writes its value.
    public mutating func key(_ name: String) {
        beginValue()
        appendQuoted(name)
        bytes.append(UInt8(ascii: ":"))
        afterKey = true
    }

    /// Writes a string value, escaped.
    public mutating func string(_ value: String) {
        beginValue()
        appendQuoted(value)
    }

    /// Writes an integer value.
    public mutating func integer(_ value: some BinaryInteger) {
        beginValue()
        if value < 0 { bytes.append(UInt8(ascii: "-")) }
        var magnitude = value.magnitude
        var digits: [UInt8] = []
        repeat {
            digits.append(UInt8(ascii: "0") + UInt8(magnitude % 10))
            magnitude /= 10
        } while magnitude != 0
        bytes.append(contentsOf: digits.reversed())
    }

    /// Writes `true` or `false`.
    public mutating func bool(_ value: Bool) {
        beginValue()
        bytes.append(contentsOf: value ? Array("true".utf8) : Array("false".utf8))
    }

    /// Writes `null`.
    public mutating func null() {
        beginValue()
        bytes.append(contentsOf: Array("null".utf8))
    }

    /// Inserts JSON text verbatim as the next value, e.g. a request `id` echoed as received.
    ///
    /// The caller passes one valid JSON value. Any raw `\0` or `\n` is written as a
    /// space (harmless whitespace in valid JSON), so even a mistaken caller cannot
    /// break the framing.
    public mutating func raw(_ json: String) {
        beginValue()
        for byte in json.utf8 {
            bytes.append(byte == 0 || byte == 0x0A ? 0x20 : byte)
        }
    }

    /// Writes `"name":` followed by a string.
    public mutating func field(_ name: String, string value: String) {
        key(name)
        string(value)
    }

    /// Writes `"name":` followed by an integer.
    public mutating func field(_ name: String, integer value: some BinaryInteger) {
        key(name)
        integer(value)
    }

    /// Writes `"name":` followed by a boolean.
    public mutating func field(_ name: String, bool value: Bool) {
        key(name)
        bool(value)
    }

    private mutating func beginValue() {
        if afterKey {
            afterKey = false
            return
        }
        guard let last = needsComma.indices.last else { return }
        if needsComma[last] { bytes.append(UInt8(ascii: ",")) }
        needsComma[last] = true
    }

    private mutating func appendQuoted(_ text: String) {
        bytes.append(UInt8(ascii: "\""))
        for scalar in text.unicodeScalars {
            switch scalar.value {
            case 0x22: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            case 0x5C: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case 0x08: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "b")])
            case 0x0C: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "f")])
            case 0x0A: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case 0x0D: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
            case 0x09: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
            // The rest of C0, DEL, C1 (Unicode's other control characters, NEL among them)
            // and the JavaScript line terminators: readers that treat these specially
            // can't be confused by a \u escape.
            case 0x00..<0x20, 0x7F...0x9F, 0x2028, 0x2029:
                appendUnicodeEscape(UInt16(scalar.value))
            case 0x20..<0x80:
                bytes.append(UInt8(scalar.value))
            default:
                UTF8.encode(scalar) { bytes.append($0) }
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    private mutating func appendUnicodeEscape(_ unit: UInt16) {
        bytes.append(UInt8(ascii: "\\"))
        bytes.append(UInt8(ascii: "u"))
        for shift in stride(from: 12, through: 0, by: -4) {
            bytes.append(Self.hexDigits[Int((unit >> UInt16(shift)) & 0xF)])
        }
    }
}
