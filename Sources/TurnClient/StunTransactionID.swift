/// The 96-bit transaction id of a STUN message (RFC 8489 §6), which pairs a response with its request.
public struct StunTransactionID: Hashable, Sendable, CustomStringConvertible {
    /// The 12 bytes, in wire order.
    public let bytes: [UInt8]

    /// Wraps 12 bytes.
    ///
    /// - Precondition: `bytes.count == 12`.
    public init(bytes: [UInt8]) {
        precondition(bytes.count == 12, "a STUN transaction id has 12 bytes")
        self.bytes = bytes
    }

    /// A fresh id from the system's cryptographically secure generator, as the RFC requires.
    public static func random() -> StunTransactionID {
        var generator = SystemRandomNumberGenerator()
        return StunTransactionID(bytes: (0..<12).map { _ in UInt8.random(in: .min ... .max, using: &generator) })
    }

    /// The id in lowercase hex.
    public var description: String {
        bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
    }
}
