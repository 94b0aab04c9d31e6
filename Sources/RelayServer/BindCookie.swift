import RelayWire
import UVNet

/// The address-validation cookies of PROTOCOL.md §2.2: SipHash-2-4 over the membership, the
/// source address and a 10-second epoch, under a 128-bit key drawn at start.
///
/// A cookie made in epoch *e* is accepted in epochs *e* and *e*+1, so it is valid for at least
/// 10 s and at most 20 s after it was issued; no state is kept per cookie.
///
/// SipHash rather than HMAC-SHA256: the cookie is one 64-bit tag over 42 bytes, the job SipHash
/// was designed for (Linux's TCP SYN cookies use it the same way). HMAC-SHA256 truncated to 64
/// bits is no stronger here, costs four SHA-256 blocks and several heap allocations per cookie,
/// and its first use faults in about 0.7 MB of crypto and Foundation code.
struct BindCookie: Sendable {
    private let mac: SipHash
    /// The epoch length in nanoseconds.
    static let epochNanos: UInt64 = 10_000_000_000

    /// Creates a cookie maker with a fresh random key from the system's cryptographic source.
    init() {
        var random = SystemRandomNumberGenerator()
        mac = SipHash(randomKeyUsing: &random)
    }

    /// The cookie for `member` of `session` at `address` in the epoch containing `nowNanos`.
    func make(session: SessionID, member: UInt16, address: SocketAddress, nowNanos: UInt64) -> UInt64 {
        tag(session: session, member: member, address: address, epoch: nowNanos / Self.epochNanos)
    }

    /// Whether `cookie` was made for this membership and address in this epoch or the one before.
    func verify(_ cookie: UInt64, session: SessionID, member: UInt16, address: SocketAddress, nowNanos: UInt64) -> Bool {
        let epoch = nowNanos / Self.epochNanos
        if tag(session: session, member: member, address: address, epoch: epoch) == cookie { return true }
        return epoch > 0 && tag(session: session, member: member, address: address, epoch: epoch - 1) == cookie
    }

    private func tag(session: SessionID, member: UInt16, address: SocketAddress, epoch: UInt64) -> UInt64 {
        // The IPv4-mapped form of an IPv4 address must yield the same cookie, as it is the same address.
        let endpoint = address.normalizedBytes
        var fields = (session.rawValue.bigEndian, UInt64(member).bigEndian, epoch.bigEndian,
                      endpoint.high.bigEndian, endpoint.low.bigEndian, endpoint.port.bigEndian)
        // The tuple is packed (8 × 5 + 2 bytes); its tail padding is left out of the tag.
        let length = 5 * MemoryLayout<UInt64>.size + MemoryLayout<UInt16>.size
        return withUnsafeBytes(of: &fields) { mac.hash(UnsafeRawBufferPointer(rebasing: $0[..<length])) }
    }
}
