import CLibUV

/// An IPv4 or IPv6 address and a port, printed with the flash.net text rules of PROTOCOL.md §3.
///
/// The address lives in fixed inline storage (the 16 bytes of its IPv6 form, the port, the family
/// and the scope id), so converting a received `sockaddr` with ``init(_:)`` and back with
/// ``withSockAddr(_:)`` never allocates: it runs once per datagram on the relay's hot path.
///
/// Equality and hashing: an IPv4 address is stored as its IPv4-mapped IPv6 form
/// (`::ffff:a.b.c.d`), and only those 16 bytes and the port are compared and hashed. So
/// `1.2.3.4:80` and `[::ffff:1.2.3.4]:80` are equal and hash alike — a relay listening on `::`
/// receives IPv4 peers in the mapped form and must match bindings made from either — while
/// ``family`` and ``scopeID`` are not part of equality. Equal addresses can therefore print
/// differently: ``description`` follows ``family``.
public struct SocketAddress: Hashable, Sendable, CustomStringConvertible {
    /// The address family, which decides the `sockaddr` type and the text form.
    public enum Family: Sendable {
        /// IPv4 (`AF_INET`), printed as `a.b.c.d:port`.
        case ipv4
        /// IPv6 (`AF_INET6`), printed as `[text]:port`.
        case ipv6
    }

    /// Bytes 0–7 of the IPv6 form, read as a big-endian integer.
    let high: UInt64
    /// Bytes 8–15 of the IPv6 form, read as a big-endian integer; an IPv4 address `a.b.c.d` is
    /// `0x0000_ffff_aabb_ccdd` here, with ``high`` zero.
    let low: UInt64
    var storedPort: UInt16

    /// Whether this came from, and converts back to, a `sockaddr_in` or a `sockaddr_in6`.
    public let family: Family

    /// The IPv6 scope (interface index) of a link-local address; 0 for none and for IPv4.
    ///
    /// Kept for ``withSockAddr(_:)``, since a link-local address is unreachable without it, but
    /// left out of the text (PROTOCOL.md §3) and of equality.
    public let scopeID: UInt32

    /// The port, 0…65535; settable so a resolved address can take the port the caller asked for.
    ///
    /// - Precondition: A new value is within 0…65535; validate untrusted ports with
    ///   ``init(ipAddress:port:)`` or `UInt16(exactly:)` first.
    public var port: Int {
        get { Int(storedPort) }
        set {
            guard let value = UInt16(exactly: newValue) else {
                preconditionFailure("SocketAddress.port \(newValue) is outside 0...65535")
            }
            storedPort = value
        }
    }

    /// Whether this is an IPv4 address, in either family: true for `1.2.3.4` and for
    /// `::ffff:1.2.3.4`.
    public var isIPv4MappedOrIPv4: Bool {
        high == 0 && low >> 32 == 0xffff
    }

    init(high: UInt64, low: UInt64, port: UInt16, family: Family, scopeID: UInt32) {
        self.high = high
        self.low = low
        self.storedPort = port
        self.family = family
        self.scopeID = scopeID
    }

    /// Creates an IPv4 address from its four bytes in network order, for code and tests that
    /// know the address statically.
    public init(ipv4 bytes: (UInt8, UInt8, UInt8, UInt8), port: UInt16) {
        let value = UInt32(bytes.0) << 24 | UInt32(bytes.1) << 16 | UInt32(bytes.2) << 8 | UInt32(bytes.3)
        self.init(ipv4: value, port: port)
    }

    /// Creates an IPv4 address from its 32-bit value (`a.b.c.d` is `0xaabbccdd`).
    init(ipv4 value: UInt32, port: UInt16) {
        self.init(high: 0, low: 0xffff_0000_0000 | UInt64(value), port: port, family: .ipv4, scopeID: 0)
    }

    /// `0.0.0.0`: bind to every IPv4 interface.
    public static func ipv4Any(port: UInt16) -> SocketAddress {
        SocketAddress(ipv4: 0, port: port)
    }

    /// `::`: bind to every IPv6 interface (and, unless the socket is IPv6-only, every IPv4 one).
    public static func ipv6Any(port: UInt16) -> SocketAddress {
        SocketAddress(high: 0, low: 0, port: port, family: .ipv6, scopeID: 0)
    }

    /// `127.0.0.1`.
    public static func loopbackIPv4(port: UInt16) -> SocketAddress {
        SocketAddress(ipv4: 0x7f00_0001, port: port)
    }

    /// `::1`.
    public static func loopbackIPv6(port: UInt16) -> SocketAddress {
        SocketAddress(high: 0, low: 1, port: port, family: .ipv6, scopeID: 0)
    }

    /// Equal when the IPv6 forms and the ports are; ``family`` and ``scopeID`` do not count
    /// (see the type's discussion).
    public static func == (lhs: SocketAddress, rhs: SocketAddress) -> Bool {
        lhs.high == rhs.high && lhs.low == rhs.low && lhs.storedPort == rhs.storedPort
    }

    /// Hashes exactly what ``==(_:_:)`` compares.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(high)
        hasher.combine(low)
        hasher.combine(storedPort)
    }
}

extension SocketAddress {
    /// Reads an `AF_INET` or `AF_INET6` socket address, as libuv hands out per received datagram.
    ///
    /// Allocation-free: the bytes are copied into inline storage.
    /// - Parameter address: Points at a `sockaddr_in` or `sockaddr_in6`, as its family says.
    /// - Returns: `nil` for any other family (such as `AF_UNIX`, or `AF_UNSPEC` for an empty address).
    public init?(_ address: UnsafePointer<sockaddr>) {
        let raw = UnsafeRawPointer(address)
        switch Int32(address.pointee.sa_family) {
        case AF_INET:
            let sin = raw.loadUnaligned(as: sockaddr_in.self)
            self.init(ipv4: UInt32(bigEndian: sin.sin_addr.s_addr), port: UInt16(bigEndian: sin.sin_port))
        case AF_INET6:
            let sin6 = raw.loadUnaligned(as: sockaddr_in6.self)
            let (high, low) = withUnsafeBytes(of: sin6.sin6_addr) { bytes in
                (UInt64(bigEndian: bytes.loadUnaligned(as: UInt64.self)),
                 UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: 8, as: UInt64.self)))
            }
            self.init(high: high, low: low, port: UInt16(bigEndian: sin6.sin6_port),
                      family: .ipv6, scopeID: sin6.sin6_scope_id)
        default:
            return nil
        }
    }

    /// Lends this address as a `sockaddr_in` (for ``Family/ipv4``) or a `sockaddr_in6` (for
    /// ``Family/ipv6``, with ``scopeID``), built on the stack, for `uv_udp_send`, `bind` and the like.
    ///
    /// - Parameter body: Receives the address and its length, valid only during the call.
    /// - Returns: Whatever `body` returns.
    /// - Throws: Only what `body` throws; typed, so a `throws(SocketError)` body stays typed.
    /// - Note: The result is discardable because the usual body is a checked libuv call whose
    ///   return code only matters when it is an error.
    @discardableResult
    public func withSockAddr<R, E: Error>(_ body: (UnsafePointer<sockaddr>, socklen_t) throws(E) -> R) throws(E) -> R {
        switch family {
        case .ipv4:
            var sin = sockaddr_in()
            sin.sin_family = sa_family_t(AF_INET)
            sin.sin_port = storedPort.bigEndian
            sin.sin_addr.s_addr = UInt32(truncatingIfNeeded: low).bigEndian
            return try withUnsafePointer(to: &sin) { pointer throws(E) in
                try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { address throws(E) in
                    try body(address, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
        case .ipv6:
            var sin6 = sockaddr_in6()
            sin6.sin6_family = sa_family_t(AF_INET6)
            sin6.sin6_port = storedPort.bigEndian
            sin6.sin6_scope_id = scopeID
            withUnsafeMutableBytes(of: &sin6.sin6_addr) { bytes in
                bytes.storeBytes(of: high.bigEndian, toByteOffset: 0, as: UInt64.self)
                bytes.storeBytes(of: low.bigEndian, toByteOffset: 8, as: UInt64.self)
            }
            return try withUnsafePointer(to: &sin6) { pointer throws(E) in
                try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { address throws(E) in
                    try body(address, socklen_t(MemoryLayout<sockaddr_in6>.size))
                }
            }
        }
    }
}
