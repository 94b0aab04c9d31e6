#if canImport(Glibc)
import Glibc
#endif

/// The masking keys of a WebSocket client's frames (RFC 6455 §5.3), one fresh key per frame.
///
/// RFC 6455 wants each key unpredictable to anyone who has seen the earlier ones, so that
/// script in a browser can't choose the bytes an intermediary sees. A fast generator seeded
/// once (xoshiro, say) gives its state away in the keys it sends; so the keys come from the
/// system's cryptographic generator instead, fetched 256 at a time (1 KiB per refill), which
/// makes a refill one `getrandom` system call per 256 frames rather than one per frame.
///
/// The source of the random bytes is injected, so the order and the refills are tested
/// without the system generator.
struct MaskingKeys {
    /// Keys fetched per refill.
    static let batch = 256

    private var keys: [UInt32]
    private var index: Int
    private let fill: (UnsafeMutableRawBufferPointer) -> Void

    /// Creates a source of keys drawing on `fill`, which must fill a buffer with random bytes.
    init(fill: @escaping (UnsafeMutableRawBufferPointer) -> Void = MaskingKeys.systemRandom) {
        self.fill = fill
        keys = [UInt32](repeating: 0, count: Self.batch)
        index = Self.batch
    }

    /// The next key: four bytes no earlier key tells anything about.
    mutating func next() -> UInt32 {
        if index == keys.count {
            keys.withUnsafeMutableBytes { fill($0) }
            index = 0
        }
        defer { index += 1 }
        return keys[index]
    }

    /// Fills `buffer` from the system's cryptographic generator: `arc4random_buf`, which glibc
    /// (2.36 and later) serves with `getrandom`, else the standard library's generator.
    static func systemRandom(_ buffer: UnsafeMutableRawBufferPointer) {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return }
        #if canImport(Glibc)
        arc4random_buf(base, buffer.count)
        #else
        var generator = SystemRandomNumberGenerator()
        for offset in 0..<buffer.count { buffer[offset] = generator.next() }
        _ = base
        #endif
    }
}
