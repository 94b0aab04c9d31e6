/// The 14-bit STUN message type: a ``StunMethod`` and a ``StunClass`` interleaved as RFC 8489 §5
/// lays them out (`M11…M7 C1 M6…M4 C0 M3…M0`).
public struct StunMessageType: Hashable, Sendable, CustomStringConvertible {
    /// The operation.
    public var method: StunMethod
    /// Request, indication, success or error.
    public var messageClass: StunClass

    /// Combines a method and a class.
    public init(method: StunMethod, messageClass: StunClass) {
        self.method = method
        self.messageClass = messageClass
    }

    /// Splits the 16-bit type field of a header; `nil` when either of the two top bits is set,
    /// as they are in every non-STUN packet sharing the port (such as ChannelData).
    public init?(rawValue: UInt16) {
        guard rawValue & 0xC000 == 0 else { return nil }
        let m = rawValue
        let method = (m & 0x000F) | ((m & 0x00E0) >> 1) | ((m & 0x3E00) >> 2)
        let cls = ((m & 0x0010) >> 4) | ((m & 0x0100) >> 7)
        self.method = StunMethod(rawValue: method)
        self.messageClass = StunClass(rawValue: UInt8(cls))!
    }

    /// The 16-bit type field as it goes on the wire.
    public var rawValue: UInt16 {
        let m = method.rawValue
        let c = UInt16(messageClass.rawValue)
        return (m & 0x000F) | ((m & 0x0070) << 1) | ((m & 0x0F80) << 2) | ((c & 0x1) << 4) | ((c & 0x2) << 7)
    }

    /// `Method class`, e.g. `Allocate successResponse`.
    public var description: String { "\(method) \(messageClass)" }
}
