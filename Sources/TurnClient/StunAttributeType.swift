/// A STUN attribute type (RFC 8489 §14, RFC 8656 §18): the 16-bit tag of one TLV.
///
/// Types below 0x8000 are comprehension-required: a receiver that does not know one must reject
/// the message. A struct so unknown types round-trip.
public struct StunAttributeType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The 16-bit type number.
    public let rawValue: UInt16

    /// Wraps a type number.
    public init(rawValue: UInt16) {
        self.rawValue = rawValue
    }

    /// Whether a receiver must understand the attribute (types 0x0000…0x7FFF).
    public var isComprehensionRequired: Bool { rawValue < 0x8000 }

    /// MAPPED-ADDRESS (0x0001), the pre-XOR form kept for old servers.
    public static let mappedAddress = StunAttributeType(rawValue: 0x0001)
    /// USERNAME (0x0006).
    public static let username = StunAttributeType(rawValue: 0x0006)
    /// MESSAGE-INTEGRITY (0x0008): HMAC-SHA1 over the message before it.
    public static let messageIntegrity = StunAttributeType(rawValue: 0x0008)
    /// ERROR-CODE (0x0009).
    public static let errorCode = StunAttributeType(rawValue: 0x0009)
    /// UNKNOWN-ATTRIBUTES (0x000A).
    public static let unknownAttributes = StunAttributeType(rawValue: 0x000A)
    /// CHANNEL-NUMBER (0x000C).
    public static let channelNumber = StunAttributeType(rawValue: 0x000C)
    /// LIFETIME (0x000D), in seconds.
    public static let lifetime = StunAttributeType(rawValue: 0x000D)
    /// XOR-PEER-ADDRESS (0x0012).
    public static let xorPeerAddress = StunAttributeType(rawValue: 0x0012)
    /// DATA (0x0013).
    public static let data = StunAttributeType(rawValue: 0x0013)
    /// REALM (0x0014).
    public static let realm = StunAttributeType(rawValue: 0x0014)
    /// NONCE (0x0015).
    public static let nonce = StunAttributeType(rawValue: 0x0015)
    /// XOR-RELAYED-ADDRESS (0x0016).
    public static let xorRelayedAddress = StunAttributeType(rawValue: 0x0016)
    /// REQUESTED-ADDRESS-FAMILY (0x0017).
    public static let requestedAddressFamily = StunAttributeType(rawValue: 0x0017)
    /// REQUESTED-TRANSPORT (0x0019).
    public static let requestedTransport = StunAttributeType(rawValue: 0x0019)
    /// DONT-FRAGMENT (0x001A).
    public static let dontFragment = StunAttributeType(rawValue: 0x001A)
    /// XOR-MAPPED-ADDRESS (0x0020).
    public static let xorMappedAddress = StunAttributeType(rawValue: 0x0020)
    /// SOFTWARE (0x8022).
    public static let software = StunAttributeType(rawValue: 0x8022)
    /// FINGERPRINT (0x8028): CRC-32 of the message before it, XOR 0x5354554E.
    public static let fingerprint = StunAttributeType(rawValue: 0x8028)

    /// The type in hex, e.g. `0x0016`.
    public var description: String {
        let hex = String(rawValue, radix: 16)
        return "0x" + String(repeating: "0", count: 4 - hex.count) + hex
    }
}
