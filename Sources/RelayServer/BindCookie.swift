import Crypto
import RelayWire
import UVNet

/// The address-validation cookies of PROTOCOL.md §2.2: HMAC-SHA256 over the membership, the
/// source address and a 10-second epoch, truncated to 8 bytes, under a key drawn at start.
///
/// A cookie made in epoch *e* is accepted in epochs *e* and *e*+1, so it is valid for at least
/// 10 s and at most 20 s after it was issued; no state is kept per cookie.
struct BindCookie: Sendable {
    /// The key's bytes; `SymmetricKey` itself is not `Sendable`, and the data-plane loops share this.
    private let keyBytes: [UInt8]
    /// The epoch length in nanoseconds.
    static let epochNanos: UInt64 = 10_000_000_000

    /// Creates a cookie maker with a fresh random key (from the system's cryptographic source).
    init() {
        keyBytes = SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) }
    }

    /// The cookie for `member` of `session` at `address` in the epoch containing `nowNanos`.
    func make(session: SessionID, member: UInt16, address: SocketAddress, nowNanos: UInt64) -> UInt64 {
        mac(session: session, member: member, address: address, epoch: nowNanos / Self.epochNanos)
    }

    /// Whether `cookie` was made for this membership and address in this epoch or the one before.
    func verify(_ cookie: UInt64, session: SessionID, member: UInt16, address: SocketAddress, nowNanos: UInt64) -> Bool {
        let epoch = nowNanos / Self.epochNanos
        if mac(session: session, member: member, address: address, epoch: epoch) == cookie { return true }
        return epoch > 0 && mac(session: session, member: member, address: address, epoch: epoch - 1) == cookie
    }

    private func mac(session: SessionID, member: UInt16, address: SocketAddress, epoch: UInt64) -> UInt64 {
        var hmac = HMAC<SHA256>(key: SymmetricKey(data: keyBytes))
        var fields = (session.rawValue.bigEndian, UInt64(member).bigEndian, epoch.bigEndian)
        withUnsafeBytes(of: &fields) { hmac.update(data: $0) }
        // The IPv4-mapped form of an IPv4 address must yield the same cookie, as it is the same address.
        var endpoint = (address.normalizedBytes.high.bigEndian, address.normalizedBytes.low.bigEndian, address.normalizedBytes.port.bigEndian)
        withUnsafeBytes(of: &endpoint) { hmac.update(data: $0) }
        let tag = hmac.finalize()
        return tag.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
    }
}
