import CLibUV

extension SocketAddress {
    /// Parses an IPv4 dotted quad or IPv6 text, as flash.net's `bind` and `send` accept them.
    ///
    /// IPv6 may use `::`, an embedded IPv4 tail, surrounding brackets (`[::1]`) and a numeric
    /// scope (`fe80::1%2`); interface names as scopes are refused, since resolving them depends
    /// on the machine. Host names are refused too: resolution belongs to `Socket.connect`.
    /// The address itself is parsed by `inet_pton`, so what is accepted is exactly what the C
    /// library accepts (glibc refuses IPv4 parts with leading zeros, which other parsers read as octal).
    ///
    /// - Parameters:
    ///   - ipAddress: The address text, without a port.
    ///   - port: 0…65535.
    /// - Throws: ``SocketError/Code/portOutOfRange`` for a port outside 0…65535 (checked first,
    ///   as flash.net does), ``SocketError/Code/invalidAddress`` for text that is not an address.
    public init(ipAddress: String, port: Int) throws(SocketError) {
        guard let port = UInt16(exactly: port) else {
            throw SocketError(.portOutOfRange, operation: "SocketAddress",
                              message: "port \(port) is outside 0...65535")
        }
        guard let parsed = Self.parse(ipAddress, port: port) else {
            throw SocketError(.invalidAddress, operation: "SocketAddress",
                              message: "\"\(ipAddress)\" is not an IPv4 or IPv6 address")
        }
        self = parsed
    }

    /// The address text without brackets, port or scope: `1.2.3.4`, or IPv6 by PROTOCOL.md §3.
    ///
    /// IPv6 uses the flash.net long form — eight groups, lowercase hex, no leading zeros, never
    /// `::` — except `::`, `::1`, `::ffff:a.b.c.d` (IPv4-mapped) and `::a.b.c.d` (IPv4-compatible:
    /// the first 96 bits zero, so `::2` is `::0.0.0.2`).
    public var ipAddress: String {
        let ipv4 = Self.dottedQuad(UInt32(truncatingIfNeeded: low))
        if family == .ipv4 {
            return ipv4
        }
        if high == 0 {
            switch low {
            case 0: return "::"
            case 1: return "::1"
            case _ where low >> 32 == 0xffff: return "::ffff:" + ipv4
            case _ where low >> 32 == 0: return "::" + ipv4
            default: break
            }
        }
        let groups = (0..<8).map { index in
            let word = index < 4 ? high >> (48 - 16 * index) : low >> (48 - 16 * (index - 4))
            return String(UInt16(truncatingIfNeeded: word), radix: 16)
        }
        return groups.joined(separator: ":")
    }

    /// `1.2.3.4:80` for IPv4, `[2001:db8:0:0:0:0:0:1]:80` for IPv6 (PROTOCOL.md §3).
    public var description: String {
        switch family {
        case .ipv4: return "\(ipAddress):\(storedPort)"
        case .ipv6: return "[\(ipAddress)]:\(storedPort)"
        }
    }

    private static func dottedQuad(_ value: UInt32) -> String {
        "\(value >> 24).\(value >> 16 & 0xff).\(value >> 8 & 0xff).\(value & 0xff)"
    }

    /// Splits off brackets and scope, then leaves the address to `inet_pton`; `nil` for anything
    /// that is not an address.
    private static func parse(_ text: String, port: UInt16) -> SocketAddress? {
        // withCString would stop at an embedded NUL and accept "1.2.3.4\0junk".
        guard !text.utf8.contains(0) else { return nil }
        var address = Substring(text)
        var bracketed = false
        if address.hasPrefix("[") {
            guard address.hasSuffix("]"), address.count >= 2 else { return nil }
            address = address.dropFirst().dropLast()
            bracketed = true
        }
        let isIPv6 = address.contains(":")
        guard isIPv6 || !bracketed else { return nil }

        var scopeID: UInt32 = 0
        if let percent = address.firstIndex(of: "%") {
            let scope = address[address.index(after: percent)...]
            guard isIPv6, !scope.isEmpty, scope.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
                  let value = UInt32(scope) else { return nil }
            scopeID = value
            address = address[..<percent]
        }

        if isIPv6 {
            var in6 = in6_addr()
            let ok = String(address).withCString { inet_pton(AF_INET6, $0, &in6) } == 1
            guard ok else { return nil }
            let (high, low) = withUnsafeBytes(of: in6) { bytes in
                (UInt64(bigEndian: bytes.loadUnaligned(as: UInt64.self)),
                 UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: 8, as: UInt64.self)))
            }
            return SocketAddress(high: high, low: low, port: port, family: .ipv6, scopeID: scopeID)
        } else {
            var in4 = in_addr()
            let ok = String(address).withCString { inet_pton(AF_INET, $0, &in4) } == 1
            guard ok else { return nil }
            return SocketAddress(ipv4: UInt32(bigEndian: in4.s_addr), port: port)
        }
    }
}
