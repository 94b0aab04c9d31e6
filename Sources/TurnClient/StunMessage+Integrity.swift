extension StunMessage {
    /// Checks the MESSAGE-INTEGRITY of an encoded message against `key` (RFC 8489 §14.5): the
    /// HMAC-SHA1 of the bytes before the attribute, with the header length counting up to its end.
    ///
    /// - Parameters:
    ///   - bytes: The message exactly as received.
    ///   - key: The long-term key (``TurnCredentials/longTermKey(username:realm:password:)``) or
    ///     the short-term password's bytes.
    /// - Returns: `nil` when the message has no MESSAGE-INTEGRITY or is malformed; otherwise whether it matches.
    public static func verifyIntegrity(_ bytes: [UInt8], key: [UInt8]) -> Bool? {
        guard bytes.count >= headerSize else { return nil }
        var offset = headerSize
        while offset + 4 <= bytes.count {
            let type = UInt16(bytes[offset]) << 8 | UInt16(bytes[offset + 1])
            let length = Int(bytes[offset + 2]) << 8 | Int(bytes[offset + 3])
            if type == StunAttributeType.messageIntegrity.rawValue {
                guard length == 20, offset + 24 <= bytes.count else { return nil }
                var covered = Array(bytes[..<offset])
                setLength(offset - headerSize + 24, in: &covered)
                let mac = HMACSHA1.authenticationCode(for: covered, key: key)
                return mac.elementsEqual(bytes[(offset + 4)..<(offset + 24)])
            }
            offset += 4 + (length + 3) & ~3
        }
        return nil
    }
}
