/// One STUN attribute: a type and its value, as the TLV of RFC 8489 §14 without the padding.
///
/// Constructors build the values this client sends; accessors read the ones it receives. Address
/// attributes need the message's transaction id, which the XOR encoding mixes in.
public struct StunAttribute: Hashable, Sendable {
    /// The attribute type.
    public var type: StunAttributeType
    /// The value bytes, unpadded (at most 65535).
    public var value: [UInt8]

    /// Creates an attribute from raw value bytes.
    public init(type: StunAttributeType, value: [UInt8]) {
        self.type = type
        self.value = value
    }

    /// USERNAME with the UTF-8 bytes of `name` (already SASLprep'd or OpaqueString-prepared).
    public static func username(_ name: String) -> StunAttribute {
        StunAttribute(type: .username, value: Array(name.utf8))
    }

    /// REALM with the UTF-8 bytes of `realm`.
    public static func realm(_ realm: String) -> StunAttribute {
        StunAttribute(type: .realm, value: Array(realm.utf8))
    }

    /// NONCE with the bytes the server sent.
    public static func nonce(_ nonce: [UInt8]) -> StunAttribute {
        StunAttribute(type: .nonce, value: nonce)
    }

    /// SOFTWARE with the UTF-8 bytes of `text`.
    public static func software(_ text: String) -> StunAttribute {
        StunAttribute(type: .software, value: Array(text.utf8))
    }

    /// LIFETIME in seconds.
    public static func lifetime(_ seconds: UInt32) -> StunAttribute {
        StunAttribute(type: .lifetime, value: bigEndianBytes(seconds))
    }

    /// REQUESTED-TRANSPORT: the IP protocol number (17 for UDP) and three reserved zero bytes.
    public static func requestedTransport(_ protocolNumber: UInt8 = 17) -> StunAttribute {
        StunAttribute(type: .requestedTransport, value: [protocolNumber, 0, 0, 0])
    }

    /// CHANNEL-NUMBER: the channel and two reserved zero bytes.
    public static func channelNumber(_ channel: UInt16) -> StunAttribute {
        StunAttribute(type: .channelNumber, value: [UInt8(channel >> 8), UInt8(channel & 0xFF), 0, 0])
    }

    /// DATA carrying `bytes`.
    public static func data(_ bytes: [UInt8]) -> StunAttribute {
        StunAttribute(type: .data, value: bytes)
    }

    /// ERROR-CODE: class (hundreds) and number (0…99) after two reserved bytes, then the reason.
    public static func errorCode(_ error: StunErrorCode) -> StunAttribute {
        let code = max(300, min(699, error.code))
        return StunAttribute(type: .errorCode, value: [0, 0, UInt8(code / 100), UInt8(code % 100)] + Array(error.reason.utf8))
    }

    /// The value as UTF-8 text (USERNAME, REALM, NONCE, SOFTWARE); invalid bytes are replaced.
    public var stringValue: String {
        String(decoding: value, as: UTF8.self)
    }

    /// The value as a 32-bit big-endian integer (LIFETIME); `nil` unless exactly 4 bytes.
    public var uint32Value: UInt32? {
        guard value.count == 4 else { return nil }
        return value.reduce(0) { $0 << 8 | UInt32($1) }
    }

    /// The channel of a CHANNEL-NUMBER value; `nil` unless 4 bytes.
    public var channelNumberValue: UInt16? {
        guard value.count == 4 else { return nil }
        return UInt16(value[0]) << 8 | UInt16(value[1])
    }

    /// The ERROR-CODE value; `nil` when shorter than 4 bytes.
    public var errorCodeValue: StunErrorCode? {
        guard value.count >= 4 else { return nil }
        let code = Int(value[2] & 0x07) * 100 + Int(value[3])
        return StunErrorCode(code: code, reason: String(decoding: value[4...], as: UTF8.self))
    }

    static func bigEndianBytes(_ value: UInt32) -> [UInt8] {
        [UInt8(value >> 24), UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)]
    }
}
