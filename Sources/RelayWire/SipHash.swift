/// SipHash-2-4 (Aumasson and Bernstein, 2012): a keyed pseudorandom function with a 128-bit
/// key and a 64-bit output, built for short inputs.
///
/// The relay uses it for its address-validation cookies, as Linux does for TCP SYN cookies:
/// a cookie is one 64-bit tag over about forty bytes, which SipHash computes in a few dozen
/// instructions, with no allocation and no state beyond the key.
public struct SipHash: Sendable {
    private let k0: UInt64
    private let k1: UInt64

    /// Creates a hasher with the key `(k0, k1)`: the key's bytes 0–7 and 8–15, read little-endian.
    public init(k0: UInt64, k1: UInt64) {
        self.k0 = k0
        self.k1 = k1
    }

    /// Creates a hasher with a key drawn from `generator`, which must be a cryptographic source
    /// for the tags to be unforgeable.
    public init(randomKeyUsing generator: inout some RandomNumberGenerator) {
        self.init(k0: generator.next(), k1: generator.next())
    }

    /// The 64-bit SipHash-2-4 tag of `bytes`.
    public func hash(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        var state = State(k0: k0, k1: k1)
        let whole = bytes.count & ~7
        var offset = 0
        while offset < whole {
            state.compress(UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self)))
            offset += 8
        }
        // The last block: the remaining bytes, little-endian, and the length's low byte on top.
        var last = UInt64(truncatingIfNeeded: bytes.count) << 56
        var shift: UInt64 = 0
        while offset < bytes.count {
            last |= UInt64(bytes[offset]) << shift
            offset += 1
            shift += 8
        }
        state.compress(last)
        return state.finalize()
    }

    private struct State {
        var v0: UInt64
        var v1: UInt64
        var v2: UInt64
        var v3: UInt64

        init(k0: UInt64, k1: UInt64) {
            v0 = k0 ^ 0x736f_6d65_7073_6575
            v1 = k1 ^ 0x646f_7261_6e64_6f6d
            v2 = k0 ^ 0x6c79_6765_6e65_7261
            v3 = k1 ^ 0x7465_6462_7974_6573
        }

        mutating func compress(_ word: UInt64) {
            v3 ^= word
            round()
            round()
            v0 ^= word
        }

        mutating func finalize() -> UInt64 {
            v2 ^= 0xff
            round()
            round()
            round()
            round()
            return v0 ^ v1 ^ v2 ^ v3
        }

        @inline(__always)
        private mutating func round() {
            v0 &+= v1; v1 = v1.rotatedLeft(13); v1 ^= v0; v0 = v0.rotatedLeft(32)
            v2 &+= v3; v3 = v3.rotatedLeft(16); v3 ^= v2
            v0 &+= v3; v3 = v3.rotatedLeft(21); v3 ^= v0
            v2 &+= v1; v1 = v1.rotatedLeft(17); v1 ^= v2; v2 = v2.rotatedLeft(32)
        }
    }
}

extension UInt64 {
    @inline(__always)
    fileprivate func rotatedLeft(_ count: UInt64) -> UInt64 {
        self << count | self >> (64 - count)
    }
}
