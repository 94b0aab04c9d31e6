/// RFC 1982 serial number arithmetic on 32-bit sequence numbers.
///
/// Two sequences exactly 2^31 apart are incomparable in RFC 1982. Here neither is
/// newer than the other, which every caller in this module reads as "not fresh":
/// dropping one packet a sender could never legitimately produce is safe, whereas
/// treating it as newer would let a single datagram swing the window half-way
/// round and reject the sender's real traffic.
public enum SerialNumber {
    /// Whether `a` is strictly newer than `b`: `a` lies 1 … 2^31 − 1 steps ahead of `b`.
    @inline(__always)
    public static func isNewer(_ a: UInt32, than b: UInt32) -> Bool {
        let distance = a &- b
        return distance != 0 && distance < 0x8000_0000
    }
}
