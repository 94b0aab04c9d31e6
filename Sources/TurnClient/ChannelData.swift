/// TURN's ChannelData framing (RFC 8656 §12.4): a 4-byte header — channel number, then payload
/// length — in front of the application bytes, with no STUN header at all.
///
/// Over UDP the padding to a multiple of 4 is optional (and not counted in the length); this type
/// can add it and accepts it. Loop-free and allocation-free on the receive side.
public enum ChannelData {
    /// The header size.
    public static let headerSize = 4
    /// The channels a client may bind (RFC 8656 §12: 0x4000…0x4FFF).
    public static let bindableChannels: ClosedRange<UInt16> = 0x4000...0x4FFF
    /// The channels a receiver accepts as ChannelData (RFC 5766 allowed up to 0x7FFF).
    public static let acceptedChannels: ClosedRange<UInt16> = 0x4000...0x7FFF

    /// Writes the header for `length` payload bytes on `channel` into the first 4 bytes of `buffer`.
    ///
    /// - Precondition: `buffer` has at least 4 bytes and `length` fits in 16 bits.
    @inline(__always)
    public static func writeHeader(channel: UInt16, length: Int, into buffer: UnsafeMutableRawBufferPointer) {
        precondition(buffer.count >= headerSize && length <= 0xFFFF)
        buffer.storeBytes(of: channel.bigEndian, toByteOffset: 0, as: UInt16.self)
        buffer.storeBytes(of: UInt16(truncatingIfNeeded: length).bigEndian, toByteOffset: 2, as: UInt16.self)
    }

    /// One frame: header, payload, and zero padding to a multiple of 4 when `padded`.
    ///
    /// - Precondition: `payload.count <= 65535`.
    public static func encode(channel: UInt16, payload: [UInt8], padded: Bool = false) -> [UInt8] {
        let padding = padded ? (4 - payload.count % 4) % 4 : 0
        var frame = [UInt8](repeating: 0, count: headerSize + payload.count + padding)
        frame.withUnsafeMutableBytes { writeHeader(channel: channel, length: payload.count, into: $0) }
        frame.replaceSubrange(headerSize..<(headerSize + payload.count), with: payload)
        return frame
    }

    /// Reads a frame: the channel and a view of its payload (padding excluded).
    ///
    /// - Returns: `nil` when the channel lies outside ``acceptedChannels``, or the length field
    ///   claims more bytes than the buffer holds.
    @inline(__always)
    public static func parse(_ bytes: UnsafeRawBufferPointer) -> (channel: UInt16, payload: UnsafeRawBufferPointer)? {
        guard bytes.count >= headerSize else { return nil }
        let channel = UInt16(bigEndian: bytes.loadUnaligned(as: UInt16.self))
        let length = Int(UInt16(bigEndian: bytes.loadUnaligned(fromByteOffset: 2, as: UInt16.self)))
        guard acceptedChannels.contains(channel), headerSize + length <= bytes.count else { return nil }
        return (channel, UnsafeRawBufferPointer(rebasing: bytes[headerSize..<(headerSize + length)]))
    }
}
