/// A strict RFC 8259 JSON reader for untrusted input, with the I-JSON (RFC 7493)
/// rule that no object may repeat a key.
///
/// It rejects ill-formed UTF-8 anywhere, leading zeros, trailing commas, single
/// quotes, `NaN`/`Infinity`, raw control characters and bad escapes in strings,
/// lone surrogate escapes, trailing data after the value (whitespace aside) and
/// nesting deeper than ``maxDepth``. It runs in linear time and recurses at most
/// ``maxDepth`` levels, so no input can exhaust the stack or crash it.
public struct StrictJSONReader {
    /// The deepest nesting accepted; a top-level container is level 1.
    public static let maxDepth = 64

    private let bytes: [UInt8]
    private var position = 0

    private init(bytes: [UInt8]) {
        self.bytes = bytes
    }

    /// Parses one JSON text.
    ///
    /// - Throws: ``JSONError`` naming the first problem and its byte offset.
    public static func parse(_ bytes: some Collection<UInt8>) throws(JSONError) -> JSONValue {
        try parseDocument(bytes).value
    }

    /// Parses one JSON text and, if it is an object, keeps each member value's
    /// source text (see ``JSONDocument``).
    ///
    /// - Throws: ``JSONError`` naming the first problem and its byte offset.
    public static func parseDocument(_ bytes: some Collection<UInt8>) throws(JSONError) -> JSONDocument {
        let input = Array(bytes)
        if let offset = UTF8Validation.firstInvalidOffset(in: input) {
            throw JSONError(.invalidUTF8, at: offset)
        }
        var reader = StrictJSONReader(bytes: input)
        reader.skipWhitespace()
        let document: JSONDocument
        if reader.peek() == UInt8(ascii: "{") {
            var rawTexts: [String]? = []
            let object = try reader.parseObject(depth: 0, rawTexts: &rawTexts)
            document = JSONDocument(value: .object(object), rawMemberTexts: rawTexts ?? [])
        } else {
            document = JSONDocument(value: try reader.parseValue(depth: 0), rawMemberTexts: [])
        }
        reader.skipWhitespace()
        guard reader.position == input.count else { throw JSONError(.trailingData, at: reader.position) }
        return document
    }

    // MARK: Values

    private func peek() -> UInt8? {
        position < bytes.count ? bytes[position] : nil
    }

    private mutating func skipWhitespace() {
        while position < bytes.count {
            switch bytes[position] {
            case 0x20, 0x09, 0x0A, 0x0D: position += 1
            default: return
            }
        }
    }

    /// Parses the value at `position` (after whitespace), which is nested inside
    /// `depth` containers.
    private mutating func parseValue(depth: Int) throws(JSONError) -> JSONValue {
        skipWhitespace()
        guard let byte = peek() else { throw JSONError(.unexpectedEnd, at: position) }
        switch byte {
        case UInt8(ascii: "{"):
            var noRawTexts: [String]? = nil
            return .object(try parseObject(depth: depth, rawTexts: &noRawTexts))
        case UInt8(ascii: "["):
            return .array(try parseArray(depth: depth))
        case UInt8(ascii: "\""):
            return .string(try parseString())
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return .number(try parseNumber())
        case UInt8(ascii: "t"):
            try expectLiteral("true")
            return .bool(true)
        case UInt8(ascii: "f"):
            try expectLiteral("false")
            return .bool(false)
        case UInt8(ascii: "n"):
            try expectLiteral("null")
            return .null
        default:
            throw JSONError(.unexpectedByte, at: position)
        }
    }

    /// Parses an object at `position`; `rawTexts`, when non-nil, collects each
    /// member value's source text.
    private mutating func parseObject(depth: Int, rawTexts: inout [String]?) throws(JSONError) -> JSONObject {
        guard depth < Self.maxDepth else { throw JSONError(.tooDeep, at: position) }
        position += 1
        var object = JSONObject()
        skipWhitespace()
        if peek() == UInt8(ascii: "}") {
            position += 1
            return object
        }
        while true {
            skipWhitespace()
            guard let byte = peek() else { throw JSONError(.unexpectedEnd, at: position) }
            guard byte == UInt8(ascii: "\"") else { throw JSONError(.unexpectedByte, at: position) }
            let keyOffset = position
            let key = try parseString()
            skipWhitespace()
            try expect(UInt8(ascii: ":"))
            skipWhitespace()
            let valueStart = position
            let value = try parseValue(depth: depth + 1)
            guard object.append(value, forKey: key) else { throw JSONError(.duplicateKey, at: keyOffset) }
            rawTexts?.append(String(decoding: bytes[valueStart..<position], as: UTF8.self))
            skipWhitespace()
            guard let separator = peek() else { throw JSONError(.unexpectedEnd, at: position) }
            position += 1
            switch separator {
            case UInt8(ascii: ","): continue
            case UInt8(ascii: "}"): return object
            default: throw JSONError(.unexpectedByte, at: position - 1)
            }
        }
    }

    private mutating func parseArray(depth: Int) throws(JSONError) -> [JSONValue] {
        guard depth < Self.maxDepth else { throw JSONError(.tooDeep, at: position) }
        position += 1
        var elements: [JSONValue] = []
        skipWhitespace()
        if peek() == UInt8(ascii: "]") {
            position += 1
            return elements
        }
        while true {
            elements.append(try parseValue(depth: depth + 1))
            skipWhitespace()
            guard let separator = peek() else { throw JSONError(.unexpectedEnd, at: position) }
            position += 1
            switch separator {
            case UInt8(ascii: ","): continue
            case UInt8(ascii: "]"): return elements
            default: throw JSONError(.unexpectedByte, at: position - 1)
            }
        }
    }

    private mutating func expect(_ byte: UInt8) throws(JSONError) {
        guard let found = peek() else { throw JSONError(.unexpectedEnd, at: position) }
        guard found == byte else { throw JSONError(.unexpectedByte, at: position) }
        position += 1
    }

    private mutating func expectLiteral(_ literal: StaticString) throws(JSONError) {
        let expected = UnsafeBufferPointer(start: literal.utf8Start, count: literal.utf8CodeUnitCount)
        for byte in expected {
            try expect(byte)
        }
    }

    // MARK: Numbers

    private mutating func parseNumber() throws(JSONError) -> JSONNumber {
        let start = position
        guard let end = Self.numberEnd(in: bytes, from: start) else {
            throw JSONError(.invalidNumber, at: start)
        }
        position = end
        return JSONNumber(validatedText: String(decoding: bytes[start..<end], as: UTF8.self))
    }

    /// Matches `-? (0 | [1-9][0-9]*) (.[0-9]+)? ([eE][+-]?[0-9]+)?` at `start`.
    ///
    /// - Returns: The offset just past the number, or `nil` if none starts there.
    ///   A digit right after a leading `0` is left for the caller to reject.
    static func numberEnd(in bytes: [UInt8], from start: Int) -> Int? {
        var index = start
        func isDigit(_ index: Int) -> Bool {
            index < bytes.count && bytes[index] >= UInt8(ascii: "0") && bytes[index] <= UInt8(ascii: "9")
        }
        func skipDigits(_ index: inout Int) -> Bool {
            guard isDigit(index) else { return false }
            while isDigit(index) { index += 1 }
            return true
        }
        if index < bytes.count && bytes[index] == UInt8(ascii: "-") { index += 1 }
        guard isDigit(index) else { return nil }
        if bytes[index] == UInt8(ascii: "0") {
            index += 1
            // A leading zero may not be followed by more integer digits.
            if isDigit(index) { return nil }
        } else {
            _ = skipDigits(&index)
        }
        if index < bytes.count && bytes[index] == UInt8(ascii: ".") {
            index += 1
            guard skipDigits(&index) else { return nil }
        }
        if index < bytes.count && (bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E")) {
            index += 1
            if index < bytes.count && (bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-")) {
                index += 1
            }
            guard skipDigits(&index) else { return nil }
        }
        return index
    }

    // MARK: Strings

    /// Parses a string at `position`, which holds its opening quote.
    ///
    /// The input is already known to be well-formed UTF-8 and escapes can only add
    /// whole scalars, so decoding never needs repair: the result is exactly the
    /// text sent. That is why a lone surrogate escape is an error rather than
    /// U+FFFD: a Swift `String` cannot hold one, and silently replacing it would
    /// let two readers see different text.
    private mutating func parseString() throws(JSONError) -> String {
        position += 1
        let start = position
        // Fast path: no escapes, so the source bytes are the string.
        while position < bytes.count {
            let byte = bytes[position]
            if byte == UInt8(ascii: "\"") {
                position += 1
                return String(decoding: bytes[start..<(position - 1)], as: UTF8.self)
            }
            if byte == UInt8(ascii: "\\") { break }
            guard byte >= 0x20 else { throw JSONError(.controlCharacter, at: position) }
            position += 1
        }
        var decoded = Array(bytes[start..<position])
        while position < bytes.count {
            let byte = bytes[position]
            switch byte {
            case UInt8(ascii: "\""):
                position += 1
                return String(decoding: decoded, as: UTF8.self)
            case UInt8(ascii: "\\"):
                try parseEscape(into: &decoded)
            case 0..<0x20:
                throw JSONError(.controlCharacter, at: position)
            default:
                decoded.append(byte)
                position += 1
            }
        }
        throw JSONError(.unexpectedEnd, at: position)
    }

    /// Decodes the escape at `position` (its backslash) and appends its UTF-8.
    private mutating func parseEscape(into decoded: inout [UInt8]) throws(JSONError) {
        let escapeStart = position
        position += 1
        guard let kind = peek() else { throw JSONError(.unexpectedEnd, at: position) }
        position += 1
        switch kind {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): decoded.append(kind)
        case UInt8(ascii: "b"): decoded.append(0x08)
        case UInt8(ascii: "f"): decoded.append(0x0C)
        case UInt8(ascii: "n"): decoded.append(0x0A)
        case UInt8(ascii: "r"): decoded.append(0x0D)
        case UInt8(ascii: "t"): decoded.append(0x09)
        case UInt8(ascii: "u"):
            let unit = try parseHex4()
            var scalarValue = UInt32(unit)
            switch unit {
            case 0xD800...0xDBFF:
                guard position + 1 < bytes.count,
                    bytes[position] == UInt8(ascii: "\\"),
                    bytes[position + 1] == UInt8(ascii: "u")
                else { throw JSONError(.loneSurrogate, at: escapeStart) }
                position += 2
                let low = try parseHex4()
                guard (0xDC00...0xDFFF).contains(low) else { throw JSONError(.loneSurrogate, at: escapeStart) }
                scalarValue = 0x10000 + ((UInt32(unit) - 0xD800) << 10) + (UInt32(low) - 0xDC00)
            case 0xDC00...0xDFFF:
                throw JSONError(.loneSurrogate, at: escapeStart)
            default:
                break
            }
            guard let scalar = Unicode.Scalar(scalarValue) else { throw JSONError(.loneSurrogate, at: escapeStart) }
            UTF8.encode(scalar) { decoded.append($0) }
        default:
            throw JSONError(.invalidEscape, at: escapeStart)
        }
    }

    private mutating func parseHex4() throws(JSONError) -> UInt16 {
        var value: UInt16 = 0
        for _ in 0..<4 {
            guard let byte = peek() else { throw JSONError(.unexpectedEnd, at: position) }
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw JSONError(.invalidEscape, at: position)
            }
            value = value << 4 | UInt16(digit)
            position += 1
        }
        return value
    }
}
