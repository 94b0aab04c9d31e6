/// A STUN method (RFC 8489 §5, RFC 8656 §17): the 12-bit operation a message carries, such as
/// ``allocate`` or ``channelBind``.
///
/// A struct rather than an enum so methods registered later can be represented and round-tripped.
public struct StunMethod: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The 12-bit method number (0x000…0xFFF).
    public let rawValue: UInt16

    /// Wraps a method number; the value is masked to its 12 bits.
    public init(rawValue: UInt16) {
        self.rawValue = rawValue & 0x0FFF
    }

    /// Binding (0x001): learn the server-reflexive address (RFC 8489).
    public static let binding = StunMethod(rawValue: 0x001)
    /// Allocate (0x003): reserve a relayed transport address (RFC 8656 §7).
    public static let allocate = StunMethod(rawValue: 0x003)
    /// Refresh (0x004): extend or delete an allocation (RFC 8656 §8).
    public static let refresh = StunMethod(rawValue: 0x004)
    /// Send (0x006): an indication carrying data to a peer (RFC 8656 §11).
    public static let send = StunMethod(rawValue: 0x006)
    /// Data (0x007): an indication carrying data from a peer (RFC 8656 §11).
    public static let data = StunMethod(rawValue: 0x007)
    /// CreatePermission (0x008): let a peer's IP address send to the allocation (RFC 8656 §10).
    public static let createPermission = StunMethod(rawValue: 0x008)
    /// ChannelBind (0x009): bind a channel number to a peer (RFC 8656 §12).
    public static let channelBind = StunMethod(rawValue: 0x009)

    /// The method's name, or its number in hex when unknown.
    public var description: String {
        switch self {
        case .binding: "Binding"
        case .allocate: "Allocate"
        case .refresh: "Refresh"
        case .send: "Send"
        case .data: "Data"
        case .createPermission: "CreatePermission"
        case .channelBind: "ChannelBind"
        default: "method 0x" + String(rawValue, radix: 16)
        }
    }
}
