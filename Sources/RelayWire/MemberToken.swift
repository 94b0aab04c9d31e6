/// The 16-byte secret that authorises one membership on the data channel,
/// shown to its member as 32 lowercase hex characters.
///
/// Equality and ``matches(_:)`` take the same time whatever the bytes, so a
/// sender of forged BINDs learns nothing from how fast they are rejected.
public struct MemberToken: Hashable, Sendable, CustomStringConvertible {
    /// The token length in bytes.
    public static let size = 16

    // Bytes 0–7 and 8–15, big-endian, so `hex` prints them in wire order.
    private let high: UInt64
    private let low: UInt64

    private init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    /// Wraps 16 token bytes.
    ///
    /// - Returns: `nil` unless `bytes` has exactly 16 elements.
    public init?(bytes: [UInt8]) {
        guard bytes.count == Self.size else { return nil }
        let (high, low) = bytes.withUnsafeBytes { Self.load($0) }
        self.init(high: high, low: low)
    }

    /// Parses 32 hex characters in any case.
    public init?(hex: some StringProtocol) {
        let digits = Array(hex.utf8)
        guard digits.count == 2 * Self.size,
            let high = Hex.uint64(digits[..<16]),
            let low = Hex.uint64(digits[16...])
        else { return nil }
        self.init(high: high, low: low)
    }

    /// Draws a token from `generator`, which must be cryptographically secure in
    /// production since the token is the membership's only credential.
    public static func random(using generator: inout some RandomNumberGenerator) -> MemberToken {
        MemberToken(high: generator.next(), low: generator.next())
    }

    /// The 16 token bytes in order.
    public var bytes: [UInt8] {
        [UInt8](unsafeUninitializedCapacity: Self.size) { buffer, initialized in
            let raw = UnsafeMutableRawBufferPointer(buffer)
            raw.storeBytes(of: high.bigEndian, toByteOffset: 0, as: UInt64.self)
            raw.storeBytes(of: low.bigEndian, toByteOffset: 8, as: UInt64.self)
            initialized = Self.size
        }
    }

    /// The token as 32 lowercase hex characters.
    public var hex: String {
        var digits: [UInt8] = []
        digits.reserveCapacity(2 * Self.size)
        Hex.append(high, to: &digits)
        Hex.append(low, to: &digits)
        return String(decoding: digits, as: UTF8.self)
    }

    /// Compares the token with the first 16 bytes of `bytes`, e.g. a BIND payload,
    /// in constant time.
    ///
    /// - Returns: `false` if `bytes` holds fewer than 16 bytes.
    public func matches(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard bytes.count >= Self.size else { return false }
        let (high, low) = Self.load(bytes)
        return (self.high ^ high) | (self.low ^ low) == 0
    }

    /// Constant-time equality.
    public static func == (lhs: MemberToken, rhs: MemberToken) -> Bool {
        (lhs.high ^ rhs.high) | (lhs.low ^ rhs.low) == 0
    }

    /// Hashes both halves, consistently with `==`.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(high)
        hasher.combine(low)
    }

    /// Redacted: a token must never reach a log.
    public var description: String { "MemberToken(redacted)" }

    private static func load(_ bytes: UnsafeRawBufferPointer) -> (UInt64, UInt64) {
        (
            UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: 0, as: UInt64.self)),
            UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
        )
    }
}
