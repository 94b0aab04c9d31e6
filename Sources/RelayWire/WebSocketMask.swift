/// XOR masking of frame payloads (RFC 6455 §5.3), which is its own inverse: the same call masks
/// and unmasks.
public enum WebSocketMask {
    /// XORs `bytes` in place with the masking key, starting at key byte `offset % 4`.
    ///
    /// Eight bytes at a time, since the relay unmasks every byte a browser sends.
    ///
    /// - Parameters:
    ///   - key: The 4-byte masking key as it appears on the wire, read as a big-endian number.
    ///   - offset: How many payload bytes of the frame came before `bytes`.
    ///   - bytes: The payload bytes to mask or unmask.
    public static func apply(key: UInt32, offset: Int, to bytes: UnsafeMutableRawBufferPointer) {
        let count = bytes.count
        guard count > 0 else { return }
        let shift = UInt32((offset & 3) * 8)
        let rotated = shift == 0 ? key : key << shift | key >> (32 - shift)
        // In memory, the word is the rotated key's bytes in wire order, twice, on any endianness.
        let word = (UInt64(rotated) << 32 | UInt64(rotated)).bigEndian
        var index = 0
        while index + 8 <= count {
            let value = bytes.loadUnaligned(fromByteOffset: index, as: UInt64.self)
            bytes.storeBytes(of: value ^ word, toByteOffset: index, as: UInt64.self)
            index += 8
        }
        while index < count {
            bytes[index] ^= UInt8(truncatingIfNeeded: rotated >> (24 - UInt32(index & 3) * 8))
            index += 1
        }
    }

    /// XORs the bytes of an array from `start` on, as the raw-buffer overload does.
    public static func apply(key: UInt32, offset: Int, to bytes: inout [UInt8], from start: Int = 0) {
        bytes.withUnsafeMutableBytes { buffer in
            apply(key: key, offset: offset, to: UnsafeMutableRawBufferPointer(rebasing: buffer[start...]))
        }
    }
}
