import UVNet

/// A STUN message (RFC 8489 §5–6): type, transaction id and attributes, with the binary encoding
/// and decoding that TURN shares.
///
/// Pure value type: no sockets, no clock. ``encode(integrityKey:fingerprint:)`` appends
/// MESSAGE-INTEGRITY and FINGERPRINT itself, with the header length adjusted as RFC 8489 §14.5
/// and §14.7 require; ``init(decoding:)`` checks the header, the attribute bounds and a
/// FINGERPRINT if present, while MESSAGE-INTEGRITY needs the key and is checked with
/// ``verifyIntegrity(_:key:)``.
public struct StunMessage: Hashable, Sendable {
    /// The size of the fixed header: type, length, magic cookie, transaction id.
    public static let headerSize = 20

    /// Method and class.
    public var type: StunMessageType
    /// The transaction id.
    public var transactionID: StunTransactionID
    /// The attributes in order; after decoding, MESSAGE-INTEGRITY and FINGERPRINT are included as received.
    public var attributes: [StunAttribute]

    /// Creates a message.
    public init(type: StunMessageType, transactionID: StunTransactionID = .random(), attributes: [StunAttribute] = []) {
        self.type = type
        self.transactionID = transactionID
        self.attributes = attributes
    }

    /// The first attribute of `type`, if any.
    public func attribute(_ type: StunAttributeType) -> StunAttribute? {
        attributes.first { $0.type == type }
    }

    /// The XOR address attribute of `type`, decoded with this message's transaction id.
    public func address(_ type: StunAttributeType) -> SocketAddress? {
        attribute(type)?.xorAddress(transactionID: transactionID)
    }

    /// The ERROR-CODE of an error response.
    public var errorCode: StunErrorCode? { attribute(.errorCode)?.errorCodeValue }

    /// Encodes the message: each attribute padded with zeros to a multiple of 4 bytes, then
    /// MESSAGE-INTEGRITY when `integrityKey` is given, then FINGERPRINT when asked for.
    ///
    /// MESSAGE-INTEGRITY and FINGERPRINT already in ``attributes`` are left out: they are computed.
    /// - Parameters:
    ///   - integrityKey: The HMAC-SHA1 key: for long-term credentials
    ///     ``TurnCredentials/longTermKey(username:realm:password:)``, for short-term ones the password's bytes.
    ///   - fingerprint: Whether to append FINGERPRINT.
    public func encode(integrityKey: [UInt8]? = nil, fingerprint: Bool = false) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(Self.headerSize + attributes.reduce(0) { $0 + 4 + ($1.value.count + 3) & ~3 } + 32)
        let type = self.type.rawValue
        bytes += [UInt8(type >> 8), UInt8(type & 0xFF), 0, 0]
        bytes += StunAttribute.bigEndianBytes(StunAttribute.magicCookie)
        bytes += transactionID.bytes
        for attribute in attributes where attribute.type != .messageIntegrity && attribute.type != .fingerprint {
            Self.append(attribute, to: &bytes)
        }
        if let integrityKey {
            // The length counts up to the end of MESSAGE-INTEGRITY, which is 24 bytes long.
            Self.setLength(bytes.count - Self.headerSize + 24, in: &bytes)
            let mac = HMACSHA1.authenticationCode(for: bytes, key: integrityKey)
            Self.append(StunAttribute(type: .messageIntegrity, value: mac), to: &bytes)
        }
        if fingerprint {
            Self.setLength(bytes.count - Self.headerSize + 8, in: &bytes)
            let crc = CRC32.checksum(bytes) ^ Self.fingerprintXor
            Self.append(StunAttribute(type: .fingerprint, value: StunAttribute.bigEndianBytes(crc)), to: &bytes)
        }
        Self.setLength(bytes.count - Self.headerSize, in: &bytes)
        return bytes
    }

    /// Decodes one message that fills `bytes` (a UDP datagram).
    ///
    /// - Throws: ``TurnError`` `.malformed` for a short or oversized buffer, the two top bits set,
    ///   a length that is not a multiple of 4 or disagrees with the buffer, a wrong magic cookie,
    ///   an attribute running past the end, anything but FINGERPRINT after MESSAGE-INTEGRITY, or
    ///   a FINGERPRINT that is not last or does not match.
    public init(decoding bytes: [UInt8]) throws(TurnError) {
        guard bytes.count >= Self.headerSize else {
            throw TurnError(.malformed, "\(bytes.count) bytes are shorter than a STUN header")
        }
        let rawType = UInt16(bytes[0]) << 8 | UInt16(bytes[1])
        guard let type = StunMessageType(rawValue: rawType) else {
            throw TurnError(.malformed, "the two top bits of the type are not zero")
        }
        let length = Int(bytes[2]) << 8 | Int(bytes[3])
        guard length % 4 == 0 else { throw TurnError(.malformed, "the length \(length) is not a multiple of 4") }
        guard Self.headerSize + length == bytes.count else {
            throw TurnError(.malformed, "the length \(length) disagrees with the \(bytes.count)-byte datagram")
        }
        guard bytes[4..<8].elementsEqual(StunAttribute.bigEndianBytes(StunAttribute.magicCookie)) else {
            throw TurnError(.malformed, "the magic cookie is wrong")
        }
        self.type = type
        transactionID = StunTransactionID(bytes: Array(bytes[8..<20]))
        attributes = []
        var offset = Self.headerSize
        var sawIntegrity = false
        while offset < bytes.count {
            guard offset + 4 <= bytes.count else { throw TurnError(.malformed, "a truncated attribute header") }
            let attributeType = StunAttributeType(rawValue: UInt16(bytes[offset]) << 8 | UInt16(bytes[offset + 1]))
            let valueLength = Int(bytes[offset + 2]) << 8 | Int(bytes[offset + 3])
            let valueStart = offset + 4
            let next = valueStart + (valueLength + 3) & ~3
            guard next <= bytes.count else {
                throw TurnError(.malformed, "attribute \(attributeType) runs past the end of the message")
            }
            let value = Array(bytes[valueStart..<(valueStart + valueLength)])
            if attributeType == .fingerprint {
                guard next == bytes.count, valueLength == 4 else {
                    throw TurnError(.malformed, "FINGERPRINT is not the last attribute or not 4 bytes")
                }
                var covered = Array(bytes[..<offset])
                Self.setLength(offset - Self.headerSize + 8, in: &covered)
                let expected = CRC32.checksum(covered) ^ Self.fingerprintXor
                guard StunAttribute(type: .fingerprint, value: value).uint32Value == expected else {
                    throw TurnError(.malformed, "FINGERPRINT does not match")
                }
            } else if sawIntegrity {
                throw TurnError(.malformed, "attribute \(attributeType) follows MESSAGE-INTEGRITY")
            }
            if attributeType == .messageIntegrity {
                guard valueLength == 20 else { throw TurnError(.malformed, "MESSAGE-INTEGRITY is not 20 bytes") }
                sawIntegrity = true
            }
            attributes.append(StunAttribute(type: attributeType, value: value))
            offset = next
        }
    }

    /// Whether `bytes` start like a STUN message: the two top bits zero and the magic cookie in place.
    ///
    /// Tells STUN from ChannelData (whose first byte is 0x40…0x7F) on a shared socket.
    public static func looksLikeStun(_ bytes: UnsafeRawBufferPointer) -> Bool {
        bytes.count >= headerSize && bytes[0] & 0xC0 == 0
            && bytes[4] == 0x21 && bytes[5] == 0x12 && bytes[6] == 0xA4 && bytes[7] == 0x42
    }

    static let fingerprintXor: UInt32 = 0x5354_554E

    static func append(_ attribute: StunAttribute, to bytes: inout [UInt8]) {
        let count = attribute.value.count
        bytes += [UInt8(attribute.type.rawValue >> 8), UInt8(attribute.type.rawValue & 0xFF), UInt8(count >> 8 & 0xFF), UInt8(count & 0xFF)]
        bytes += attribute.value
        let padding = (4 - count % 4) % 4
        if padding > 0 { bytes += repeatElement(0, count: padding) }
    }

    static func setLength(_ length: Int, in bytes: inout [UInt8]) {
        bytes[2] = UInt8(length >> 8 & 0xFF)
        bytes[3] = UInt8(length & 0xFF)
    }
}
