/// Read sizes for feeding a byte stream in pieces, drawn from a seed the input chose, so the
/// fuzzer explores how a stream is split without spending input bytes on every boundary.
///
/// xorshift64*: not for secrets, only to be cheap and reproducible.
struct ChunkSizes {
    private var state: UInt64
    private let largest: Int

    /// Sizes from 0 to a largest size the seed's low bits pick (1, 2, 7, 16, 64, 1024 or any).
    init(seed: UInt8) {
        state = 0x9E37_79B9_7F4A_7C15 ^ UInt64(seed) &* 0x1000_0000_01B3
        largest = [1, 2, 7, 64, 1024, 1, 16, Int.max >> 1][Int(seed & 7)]
    }

    /// The next read size; 0 stands for an empty read, which must change nothing.
    mutating func next() -> Int {
        state ^= state >> 12
        state ^= state << 25
        state ^= state >> 27
        let value = state &* 0x2545_F491_4F6C_DD1D
        return Int(truncatingIfNeeded: value >> 33) % (min(largest, 1 << 30) + 1)
    }
}
