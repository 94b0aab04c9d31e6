/// A session's 64-bit id, shown to clients as 16 lowercase hex characters; its low
/// 32 bits are the `session` field of every data-channel header.
public struct SessionID: Hashable, Sendable, CustomStringConvertible {
    /// The id as a number.
    public let rawValue: UInt64

    /// Wraps an existing id.
    public init(rawValue: UInt64) {
        self.rawValue = rawValue
    }

    /// Parses 16 hex characters in any case.
    ///
    /// - Returns: `nil` for any other length or a non-hex character, which the
    ///   protocol answers as `not_found`.
    public init?(hex: some StringProtocol) {
        guard let value = Hex.uint64(hex.utf8) else { return nil }
        self.rawValue = value
    }

    /// Draws a uniformly random id from `generator`.
    public static func random(using generator: inout some RandomNumberGenerator) -> SessionID {
        SessionID(rawValue: generator.next())
    }

    /// The id as 16 lowercase hex characters.
    public var hex: String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(16)
        Hex.append(rawValue, to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The low 32 bits, as carried in the data-channel header.
    public var low32: UInt32 {
        UInt32(truncatingIfNeeded: rawValue)
    }

    /// The ``hex`` form.
    public var description: String { hex }
}
