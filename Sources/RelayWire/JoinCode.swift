/// A short human-typable code that names a session: 6 characters from A–Z and
/// 2–9 without the look-alikes O and I (PROTOCOL.md §1.3).
public struct JoinCode: Hashable, Sendable, CustomStringConvertible {
    /// The 32 characters a code is drawn from.
    public static let alphabet: [UInt8] = Array("ABCDEFGHJKLMNPQRSTUVWXYZ23456789".utf8)
    /// The number of characters in a code.
    public static let length = 6

    /// The code in uppercase.
    public let text: String

    private init(validUppercase bytes: [UInt8]) {
        self.text = String(decoding: bytes, as: UTF8.self)
    }

    /// Accepts a code as a client typed it, in any case.
    ///
    /// - Returns: `nil` if it is not exactly 6 characters of the alphabet after
    ///   uppercasing ASCII letters, which the protocol answers as `not_found`.
    public init?(normalizing input: some StringProtocol) {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(Self.length)
        for byte in input.utf8 {
            guard bytes.count < Self.length else { return nil }
            let upper = byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z") ? byte - 0x20 : byte
            guard Self.alphabet.contains(upper) else { return nil }
            bytes.append(upper)
        }
        guard bytes.count == Self.length else { return nil }
        self.init(validUppercase: bytes)
    }

    /// Draws a uniformly random code from `generator`.
    ///
    /// The alphabet has exactly 32 characters, so each takes 5 random bits and no
    /// character is more likely than another.
    public static func random(using generator: inout some RandomNumberGenerator) -> JoinCode {
        var bits = generator.next()
        var bytes: [UInt8] = []
        bytes.reserveCapacity(length)
        for _ in 0..<length {
            bytes.append(alphabet[Int(bits & 31)])
            bits >>= 5
        }
        return JoinCode(validUppercase: bytes)
    }

    /// The ``text``.
    public var description: String { text }
}
