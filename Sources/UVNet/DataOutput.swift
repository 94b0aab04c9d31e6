/// The writing half of flash.utils.IDataOutput, shared by ``ByteArray`` and the TCP `Socket`.
///
/// Conforming types supply only ``endian`` and ``writeRawBytes(_:)``; every typed write is a
/// protocol extension built on them, so a `Socket` and a ``ByteArray`` encode bytes identically.
///
/// Not rendered: `writeMultiByte` (character sets other than UTF-8) and `writeObject` (AMF).
public protocol DataOutput {
    /// The byte order of multi-byte writes.
    var endian: Endian { get }

    /// Appends (or, for a ``ByteArray``, writes at its position) the given bytes.
    ///
    /// This is the one primitive every typed write goes through; the bytes are only valid during
    /// the call, so conformers copy what they keep.
    mutating func writeRawBytes(_ bytes: UnsafeRawBufferPointer)
}

extension DataOutput {
    /// Writes one byte: 1 for `true`, 0 for `false`.
    public mutating func writeBoolean(_ value: Bool) {
        writeInteger(UInt8(value ? 1 : 0))
    }

    /// Writes a signed byte.
    public mutating func writeByte(_ value: Int8) {
        writeInteger(value)
    }

    /// Writes an unsigned byte.
    ///
    /// flash.utils has only `writeByte(int)`, keeping the low 8 bits; Swift's typed integers
    /// make the signed and unsigned forms separate methods instead.
    public mutating func writeUnsignedByte(_ value: UInt8) {
        writeInteger(value)
    }

    /// Writes a signed 16-bit integer in ``endian`` order.
    public mutating func writeShort(_ value: Int16) {
        writeInteger(value)
    }

    /// Writes an unsigned 16-bit integer in ``endian`` order.
    public mutating func writeUnsignedShort(_ value: UInt16) {
        writeInteger(value)
    }

    /// Writes a signed 32-bit integer in ``endian`` order.
    public mutating func writeInt(_ value: Int32) {
        writeInteger(value)
    }

    /// Writes an unsigned 32-bit integer in ``endian`` order.
    public mutating func writeUnsignedInt(_ value: UInt32) {
        writeInteger(value)
    }

    /// Writes an IEEE 754 single-precision number in ``endian`` order, keeping NaN payloads bit for bit.
    public mutating func writeFloat(_ value: Float) {
        writeInteger(value.bitPattern)
    }

    /// Writes an IEEE 754 double-precision number in ``endian`` order, keeping NaN payloads bit for bit.
    public mutating func writeDouble(_ value: Double) {
        writeInteger(value.bitPattern)
    }

    /// Writes `string` as an unsigned 16-bit byte count in ``endian`` order followed by its UTF-8.
    /// - Throws: ``SocketError/Code/invalidArgument`` when the UTF-8 is longer than 65535 bytes
    ///   (flash.net throws a `RangeError`); nothing is written then.
    public mutating func writeUTF(_ string: String) throws(SocketError) {
        let count = string.utf8.count
        guard count <= Int(UInt16.max) else {
            throw SocketError(.invalidArgument, operation: "writeUTF",
                              message: "string is \(count) bytes of UTF-8, at most 65535 fit the length prefix")
        }
        writeInteger(UInt16(count))
        writeUTFBytes(string)
    }

    /// Writes the UTF-8 of `string` with no length prefix and no terminator.
    public mutating func writeUTFBytes(_ string: String) {
        var string = string
        string.withUTF8 { writeRawBytes(UnsafeRawBufferPointer($0)) }
    }

    /// Writes every byte of `bytes`.
    ///
    /// Contiguous collections such as `[UInt8]` are written in one copy.
    public mutating func writeBytes(_ bytes: some Sequence<UInt8>) {
        let written: Void? = bytes.withContiguousStorageIfAvailable { buffer in
            writeRawBytes(UnsafeRawBufferPointer(buffer))
        }
        if written == nil {
            [UInt8](bytes).withUnsafeBytes { writeRawBytes($0) }
        }
    }

    /// Writes all the bytes of `bytes`, whatever its ``ByteArray/position``, as flash.utils does.
    public mutating func writeBytes(_ bytes: ByteArray) {
        bytes.withUnsafeBytes { writeRawBytes($0) }
    }

    /// Writes `length` bytes of `bytes` starting at `offset`, as flash.utils'
    /// `writeBytes(bytes, offset, length)`.
    ///
    /// - Parameters:
    ///   - bytes: The source.
    ///   - offset: The first byte to write.
    ///   - length: How many bytes to write; 0 means all the bytes after `offset`, as in flash.utils.
    /// - Throws: ``SocketError/Code/invalidArgument`` when the range is negative or extends past
    ///   the end of `bytes` (flash.net throws a `RangeError`); nothing is written then.
    public mutating func writeBytes(_ bytes: [UInt8], offset: Int, length: Int = 0) throws(SocketError) {
        try bytes.withUnsafeBufferPointer { buffer throws(SocketError) in
            try writeRawBytes(UnsafeRawBufferPointer(buffer), offset: offset, length: length)
        }
    }

    /// Writes `length` bytes of `bytes` starting at `offset`, whatever its ``ByteArray/position``,
    /// as flash.utils' `writeBytes(bytes, offset, length)`.
    ///
    /// - Parameters:
    ///   - bytes: The source.
    ///   - offset: The first byte to write.
    ///   - length: How many bytes to write; 0 means all the bytes after `offset`, as in flash.utils.
    /// - Throws: ``SocketError/Code/invalidArgument`` when the range is negative or extends past
    ///   the end of `bytes` (flash.net throws a `RangeError`); nothing is written then.
    public mutating func writeBytes(_ bytes: ByteArray, offset: Int, length: Int = 0) throws(SocketError) {
        try bytes.withUnsafeBytes { raw throws(SocketError) in
            try writeRawBytes(raw, offset: offset, length: length)
        }
    }
}

extension DataOutput {
    /// Writes a fixed-width integer from a stack copy, without allocating.
    @inline(__always)
    mutating func writeInteger<T: FixedWidthInteger>(_ value: T) {
        var ordered = endian == .bigEndian ? value.bigEndian : value.littleEndian
        withUnsafeBytes(of: &ordered) { writeRawBytes($0) }
    }

    /// The flash.utils range rules shared by both `writeBytes(_:offset:length:)` overloads.
    private mutating func writeRawBytes(_ raw: UnsafeRawBufferPointer, offset: Int, length: Int) throws(SocketError) {
        let count = length == 0 ? raw.count - offset : length
        guard offset >= 0, count >= 0, offset <= raw.count, count <= raw.count - offset else {
            throw SocketError(.invalidArgument, operation: "writeBytes",
                              message: "offset \(offset) and length \(length) are outside the \(raw.count) source bytes")
        }
        writeRawBytes(UnsafeRawBufferPointer(rebasing: raw[offset..<(offset + count)]))
    }
}
