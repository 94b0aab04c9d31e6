/// A JSON number that keeps its source text, so it can be echoed exactly and
/// judged whole-valued without binary rounding.
public struct JSONNumber: Hashable, Sendable, CustomStringConvertible {
    /// The largest magnitude ``wholeValue`` accepts: 2^53, where `Double` stops
    /// representing every integer.
    public static let maxWholeMagnitude: Int64 = 1 << 53

    /// The number exactly as written in the source, e.g. `7.0` or `1E+2`.
    public let text: String
    /// The nearest `Double`; ±infinity when the text overflows it.
    public let value: Double

    /// Creates a number from its JSON text.
    ///
    /// - Returns: `nil` unless `text` matches the RFC 8259 number grammar.
    public init?(text: String) {
        guard Self.isValidSyntax(text.utf8), let value = Double(text) else { return nil }
        self.text = text
        self.value = value
    }

    init(validatedText text: String) {
        self.text = text
        // The grammar was checked by the reader; Double parses every such text,
        // rounding overflow to infinity.
        self.value = Double(text) ?? .nan
    }

    /// The number as an integer when it is mathematically whole and within ±2^53
    /// (`8`, `8.0`, `1e2`, `-0`, `0.5e1`), else `nil`.
    ///
    /// Decided on the decimal text, so `1.0000000000000000001` and `9007199254740993`
    /// are rejected even though they round to whole `Double`s in range.
    public var wholeValue: Int64? {
        Self.wholeValue(of: Array(text.utf8))
    }

    /// The source ``text``.
    public var description: String { text }

    private static func wholeValue(of bytes: [UInt8]) -> Int64? {
        var index = 0
        let negative = bytes.first == UInt8(ascii: "-")
        if negative { index += 1 }
        // The number is `digits × 10^scale`, `digits` being every mantissa digit.
        var digits: [UInt8] = []
        var scale = 0
        var inFraction = false
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: ".") {
                inFraction = true
            } else if byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") {
                digits.append(byte - UInt8(ascii: "0"))
                if inFraction { scale -= 1 }
            } else {
                break
            }
            index += 1
        }
        var exponent = 0
        if index < bytes.count {
            // 'e' or 'E', an optional sign, then digits (the grammar guarantees them).
            index += 1
            var exponentNegative = false
            if bytes[index] == UInt8(ascii: "-") || bytes[index] == UInt8(ascii: "+") {
                exponentNegative = bytes[index] == UInt8(ascii: "-")
                index += 1
            }
            while index < bytes.count {
                // Saturate: any exponent past a million decides the answer anyway.
                exponent = min(exponent * 10 + Int(bytes[index] - UInt8(ascii: "0")), 1_000_000)
                index += 1
            }
            if exponentNegative { exponent = -exponent }
        }
        let leadingZeros = digits.prefix(while: { $0 == 0 }).count
        digits.removeFirst(leadingZeros)
        while let last = digits.last, last == 0 {
            digits.removeLast()
            scale += 1
        }
        guard !digits.isEmpty else { return 0 }
        scale += exponent
        // Trailing zeros are gone, so a negative scale leaves a fraction.
        guard scale >= 0, digits.count + scale <= 16 else { return nil }
        var magnitude: Int64 = 0
        for digit in digits { magnitude = magnitude * 10 + Int64(digit) }
        for _ in 0..<scale { magnitude *= 10 }
        guard magnitude <= maxWholeMagnitude else { return nil }
        return negative ? -magnitude : magnitude
    }

    static func isValidSyntax(_ text: some Collection<UInt8>) -> Bool {
        let bytes = Array(text)
        return StrictJSONReader.numberEnd(in: bytes, from: 0) == bytes.count
    }
}
