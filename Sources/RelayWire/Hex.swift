/// Lowercase hex encoding and case-insensitive decoding for identifiers.
enum Hex {
    static let digits: [UInt8] = Array("0123456789abcdef".utf8)

    /// The value of one hex digit in either case, or `nil`.
    static func value(of byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    /// `value` as exactly 16 lowercase hex digits, most significant first.
    static func append(_ value: UInt64, to bytes: inout [UInt8]) {
        for shift in stride(from: 60, through: 0, by: -4) {
            bytes.append(digits[Int((value >> UInt64(shift)) & 0xF)])
        }
    }

    /// Decodes exactly 16 hex digits into a `UInt64`.
    static func uint64(_ digits: some Collection<UInt8>) -> UInt64? {
        guard digits.count == 16 else { return nil }
        var value: UInt64 = 0
        for byte in digits {
            guard let digit = Self.value(of: byte) else { return nil }
            value = value << 4 | UInt64(digit)
        }
        return value
    }
}
