import UVNet

#if canImport(Glibc)
import Glibc
#endif

extension StunAttribute {
    /// The magic cookie (RFC 8489 §6), which every STUN message carries and XOR addresses mix in.
    public static let magicCookie: UInt32 = 0x2112_A442

    /// An XOR address attribute (XOR-MAPPED-ADDRESS, XOR-RELAYED-ADDRESS or XOR-PEER-ADDRESS):
    /// the port XOR the cookie's top 16 bits, an IPv4 address XOR the cookie, an IPv6 address XOR
    /// the cookie followed by the transaction id (RFC 8489 §14.2).
    ///
    /// - Parameters:
    ///   - type: Which address attribute.
    ///   - address: The address; an IPv4 one (also in IPv4-mapped form) is encoded as family 0x01.
    ///   - transactionID: The id of the message the attribute goes into.
    public static func xorAddress(_ type: StunAttributeType, _ address: SocketAddress,
                                  transactionID: StunTransactionID) -> StunAttribute {
        let mask = xorMask(transactionID)
        let port = UInt16(address.port) ^ UInt16(magicCookie >> 16)
        var value: [UInt8] = [0, 0, UInt8(port >> 8), UInt8(port & 0xFF)]
        let raw = address.stunAddressBytes
        if raw.count == 4 {
            value[1] = 0x01
        } else {
            value[1] = 0x02
        }
        for (index, byte) in raw.enumerated() { value.append(byte ^ mask[index]) }
        return StunAttribute(type: type, value: value)
    }

    /// Reads an XOR address attribute of a message with `transactionID`; `nil` for a malformed value.
    public func xorAddress(transactionID: StunTransactionID) -> SocketAddress? {
        guard value.count >= 4 else { return nil }
        let port = (UInt16(value[2]) << 8 | UInt16(value[3])) ^ UInt16(Self.magicCookie >> 16)
        let mask = Self.xorMask(transactionID)
        let length: Int
        switch value[1] {
        case 0x01: length = 4
        case 0x02: length = 16
        default: return nil
        }
        guard value.count == 4 + length else { return nil }
        let raw = (0..<length).map { value[4 + $0] ^ mask[$0] }
        return SocketAddress(stunAddressBytes: raw, port: port)
    }

    /// Reads a plain MAPPED-ADDRESS value (no XOR); `nil` for a malformed value.
    public var plainAddress: SocketAddress? {
        guard value.count >= 4 else { return nil }
        let port = UInt16(value[2]) << 8 | UInt16(value[3])
        switch (value[1], value.count) {
        case (0x01, 8), (0x02, 20): return SocketAddress(stunAddressBytes: Array(value[4...]), port: port)
        default: return nil
        }
    }

    /// The cookie's four bytes followed by the transaction id: the XOR mask of an IPv6 address
    /// (an IPv4 address uses its first four bytes).
    static func xorMask(_ transactionID: StunTransactionID) -> [UInt8] {
        bigEndianBytes(magicCookie) + transactionID.bytes
    }
}

extension SocketAddress {
    /// The raw address bytes in network order: 4 for IPv4 (also when stored IPv4-mapped), else 16.
    var stunAddressBytes: [UInt8] {
        withSockAddr { (sa: UnsafePointer<sockaddr>, _: socklen_t) -> [UInt8] in
            if Int32(sa.pointee.sa_family) == AF_INET {
                let sin = UnsafeRawPointer(sa).loadUnaligned(as: sockaddr_in.self)
                return withUnsafeBytes(of: sin.sin_addr) { Array($0) }
            }
            let sin6 = UnsafeRawPointer(sa).loadUnaligned(as: sockaddr_in6.self)
            let bytes = withUnsafeBytes(of: sin6.sin6_addr) { Array($0) }
            if bytes[0..<10].allSatisfy({ $0 == 0 }), bytes[10] == 0xFF, bytes[11] == 0xFF {
                return Array(bytes[12...])
            }
            return bytes
        }
    }

    /// Builds an address from 4 (IPv4) or 16 (IPv6) bytes in network order; `nil` for other lengths.
    init?(stunAddressBytes bytes: [UInt8], port: UInt16) {
        switch bytes.count {
        case 4:
            self.init(ipv4: (bytes[0], bytes[1], bytes[2], bytes[3]), port: port)
        case 16:
            var sin6 = sockaddr_in6()
            sin6.sin6_family = sa_family_t(AF_INET6)
            sin6.sin6_port = port.bigEndian
            withUnsafeMutableBytes(of: &sin6.sin6_addr) { $0.copyBytes(from: bytes) }
            let built = withUnsafePointer(to: &sin6) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { SocketAddress($0) }
            }
            guard let built else { return nil }
            self = built
        default:
            return nil
        }
    }
}
