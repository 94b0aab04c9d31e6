/// The reading half of flash.utils.IDataInput, shared by ``ByteArray`` and the TCP `Socket`.
///
/// Conforming types supply only ``endian``, ``bytesAvailable`` and
/// ``readRawBytes(count:_:)``; every typed read (`readInt`, `readUTF`, …) is a protocol extension
/// built on them, so a `Socket` and a ``ByteArray`` decode bytes identically.
///
/// Every read is all or nothing: when fewer bytes are available than the read needs, it throws
/// ``SocketError/Code/endOfFile`` and consumes nothing, so a stream reader can simply retry once
/// more bytes have arrived. flash.net consumes the length prefix of a failed `readUTF`; here it
/// does not, for the same reason.
///
/// Not rendered: `readMultiByte` (character sets other than UTF-8) and `readObject` (AMF).
public protocol DataInput {
    /// The byte order of multi-byte reads.
    var endian: Endian { get }

    /// The number of bytes that can be read now without an end-of-file error.
    var bytesAvailable: Int { get }

    /// Lends the next `count` bytes to `body` and consumes them once `body` returns.
    ///
    /// This is the one primitive every typed read goes through, so conformers choose how their
    /// bytes are stored while the decoding stays in one place.
    ///
    /// - Parameters:
    ///   - count: How many bytes to read; must not be negative.
    ///   - body: Receives exactly `count` bytes, valid only during the call.
    /// - Returns: Whatever `body` returns.
    /// - Throws: ``SocketError/Code/endOfFile`` without consuming anything when fewer than `count`
    ///   bytes are available, ``SocketError/Code/invalidArgument`` for a negative `count`, or the
    ///   error `body` throws — in which case nothing is consumed either.
    mutating func readRawBytes<R>(
        count: Int,
        _ body: (UnsafeRawBufferPointer) throws(SocketError) -> R
    ) throws(SocketError) -> R
}

extension DataInput {
    /// Reads one byte; any non-zero value is `true`, as in flash.utils.
    /// - Throws: ``SocketError/Code/endOfFile`` when no byte is available.
    public mutating func readBoolean() throws(SocketError) -> Bool {
        try readInteger(UInt8.self, operation: "readBoolean") != 0
    }

    /// Reads a signed byte.
    /// - Throws: ``SocketError/Code/endOfFile`` when no byte is available.
    public mutating func readByte() throws(SocketError) -> Int8 {
        try readInteger(Int8.self, operation: "readByte")
    }

    /// Reads an unsigned byte.
    /// - Throws: ``SocketError/Code/endOfFile`` when no byte is available.
    public mutating func readUnsignedByte() throws(SocketError) -> UInt8 {
        try readInteger(UInt8.self, operation: "readUnsignedByte")
    }

    /// Reads a signed 16-bit integer in ``endian`` order.
    /// - Throws: ``SocketError/Code/endOfFile`` when fewer than 2 bytes are available.
    public mutating func readShort() throws(SocketError) -> Int16 {
        try readInteger(Int16.self, operation: "readShort")
    }

    /// Reads an unsigned 16-bit integer in ``endian`` order.
    /// - Throws: ``SocketError/Code/endOfFile`` when fewer than 2 bytes are available.
    public mutating func readUnsignedShort() throws(SocketError) -> UInt16 {
        try readInteger(UInt16.self, operation: "readUnsignedShort")
    }

    /// Reads a signed 32-bit integer in ``endian`` order.
    /// - Throws: ``SocketError/Code/endOfFile`` when fewer than 4 bytes are available.
    public mutating func readInt() throws(SocketError) -> Int32 {
        try readInteger(Int32.self, operation: "readInt")
    }

    /// Reads an unsigned 32-bit integer in ``endian`` order.
    /// - Throws: ``SocketError/Code/endOfFile`` when fewer than 4 bytes are available.
    public mutating func readUnsignedInt() throws(SocketError) -> UInt32 {
        try readInteger(UInt32.self, operation: "readUnsignedInt")
    }

    /// Reads an IEEE 754 single-precision number in ``endian`` order, keeping NaN payloads bit for bit.
    /// - Throws: ``SocketError/Code/endOfFile`` when fewer than 4 bytes are available.
    public mutating func readFloat() throws(SocketError) -> Float {
        Float(bitPattern: try readInteger(UInt32.self, operation: "readFloat"))
    }

    /// Reads an IEEE 754 double-precision number in ``endian`` order, keeping NaN payloads bit for bit.
    /// - Throws: ``SocketError/Code/endOfFile`` when fewer than 8 bytes are available.
    public mutating func readDouble() throws(SocketError) -> Double {
        Double(bitPattern: try readInteger(UInt64.self, operation: "readDouble"))
    }

    /// Reads a string written by ``DataOutput/writeUTF(_:)``: an unsigned 16-bit length in
    /// ``endian`` order, then that many bytes of UTF-8 decoded as by ``readUTFBytes(_:)``.
    ///
    /// Unlike flash.net, a failure consumes nothing, not even the length prefix, so a stream
    /// reader can retry the whole string once more bytes have arrived.
    /// - Throws: ``SocketError/Code/endOfFile`` when the prefix or the string is incomplete;
    ///   ``SocketError/Code/invalidArgument`` when the bytes are not valid UTF-8.
    public mutating func readUTF() throws(SocketError) -> String {
        let operation = "readUTF"
        let before = bytesAvailable
        guard before >= 2 else {
            throw SocketError.endOfFile(operation, needed: 2, available: before)
        }
        let length = Int(try peekUnsignedShort())
        guard bytesAvailable == before else {
            // A conformer that consumed while peeking broke the all-or-nothing contract; the
            // prefix is gone, so at least read the string that follows it, as flash.net would.
            return try readUTFBytes(length, operation: operation)
        }
        return try read(count: 2 + length, operation: operation) { raw throws(SocketError) in
            try Self.decodeUTF8(UnsafeRawBufferPointer(rebasing: raw[2...]), operation: operation)
        }
    }

    /// Reads `length` bytes and decodes them as UTF-8, with the flash.net quirks: a leading
    /// UTF-8 byte order mark is skipped and the string ends at the first NUL byte, though all
    /// `length` bytes are consumed.
    ///
    /// flash.net decodes malformed UTF-8 leniently; here it is an error, so a peer cannot smuggle
    /// bytes that re-encode differently.
    /// - Throws: ``SocketError/Code/endOfFile`` when fewer than `length` bytes are available;
    ///   ``SocketError/Code/invalidArgument`` for a negative `length` or bytes that are not
    ///   valid UTF-8 (nothing is consumed then).
    public mutating func readUTFBytes(_ length: Int) throws(SocketError) -> String {
        try readUTFBytes(length, operation: "readUTFBytes")
    }

    private mutating func readUTFBytes(_ length: Int, operation: String) throws(SocketError) -> String {
        try read(count: length, operation: operation) { raw throws(SocketError) in
            try Self.decodeUTF8(raw, operation: operation)
        }
    }

    /// Reads `count` bytes into a new array.
    /// - Throws: ``SocketError/Code/endOfFile`` when fewer than `count` bytes are available;
    ///   ``SocketError/Code/invalidArgument`` for a negative `count`.
    public mutating func readBytes(_ count: Int) throws(SocketError) -> [UInt8] {
        try read(count: count, operation: "readBytes") { raw in [UInt8](raw) }
    }

    /// Reads bytes into `target` starting at `offset` (not at its ``ByteArray/position``), as
    /// flash.utils' `readBytes(bytes, offset, length)` does; `target` grows as needed.
    ///
    /// - Parameters:
    ///   - target: The array to fill; its position is left unchanged.
    ///   - offset: Where in `target` the bytes go; may be past its end (the gap is zero-filled).
    ///   - length: How many bytes to read; 0 means all of ``bytesAvailable``, as in flash.utils.
    /// - Throws: ``SocketError/Code/endOfFile`` when fewer than `length` bytes are available;
    ///   ``SocketError/Code/invalidArgument`` for a negative `offset` or `length`.
    public mutating func readBytes(into target: inout ByteArray, offset: Int = 0, length: Int = 0) throws(SocketError) {
        let operation = "readBytes"
        guard offset >= 0, length >= 0 else {
            throw SocketError(.invalidArgument, operation: operation,
                              message: "offset \(offset) and length \(length) must not be negative")
        }
        let count = length == 0 ? bytesAvailable : length
        try read(count: count, operation: operation) { raw in
            target.replaceBytes(at: offset, with: raw)
        }
    }
}

extension DataInput {
    /// ``readRawBytes(count:_:)`` with errors renamed after the public read that failed, so a
    /// short read says `readInt` rather than the primitive's name.
    @inline(__always)
    mutating func read<R>(
        count: Int,
        operation: String,
        _ body: (UnsafeRawBufferPointer) throws(SocketError) -> R
    ) throws(SocketError) -> R {
        do {
            return try readRawBytes(count: count, body)
        } catch {
            var renamed = error
            renamed.operation = operation
            throw renamed
        }
    }

    /// Reads a fixed-width integer without allocating: `loadUnaligned` straight from the lent bytes.
    @inline(__always)
    mutating func readInteger<T: FixedWidthInteger & BitwiseCopyable>(
        _ type: T.Type,
        operation: String
    ) throws(SocketError) -> T {
        let order = endian
        return try read(count: MemoryLayout<T>.size, operation: operation) { raw in
            let value = raw.loadUnaligned(as: T.self)
            return order == .bigEndian ? T(bigEndian: value) : T(littleEndian: value)
        }
    }

    /// Reads the next unsigned 16-bit integer without consuming it.
    ///
    /// The protocol has no peek, but ``readRawBytes(count:_:)`` consumes nothing when its body
    /// throws; ``readUTF()`` relies on that to stay all or nothing, and checks ``bytesAvailable``
    /// afterwards in case a conformer does not. Callers check ``bytesAvailable`` first, so the
    /// only error here is the one thrown on purpose.
    private mutating func peekUnsignedShort() throws(SocketError) -> UInt16 {
        let order = endian
        var value: UInt16 = 0
        do {
            try readRawBytes(count: 2) { raw throws(SocketError) in
                let raw16 = raw.loadUnaligned(as: UInt16.self)
                value = order == .bigEndian ? UInt16(bigEndian: raw16) : UInt16(littleEndian: raw16)
                throw SocketError.peeked
            }
        } catch where error == SocketError.peeked {
            return value
        }
        // Only a conformer that returned without calling the body gets here.
        throw SocketError(.io, operation: "readUTF", message: "readRawBytes returned without lending the bytes")
    }

    /// Decodes UTF-8 the way flash.net's `readUTFBytes` slices it (BOM skipped, stop at NUL),
    /// but strictly.
    static func decodeUTF8(_ raw: UnsafeRawBufferPointer, operation: String) throws(SocketError) -> String {
        var start = 0
        if raw.count >= 3, raw[0] == 0xEF, raw[1] == 0xBB, raw[2] == 0xBF {
            start = 3
        }
        let end = raw[start...].firstIndex(of: 0) ?? raw.count
        guard let text = String(validating: raw[start..<end], as: UTF8.self) else {
            throw SocketError(.invalidArgument, operation: operation, message: "bytes are not valid UTF-8")
        }
        return text
    }
}

extension SocketError {
    /// The error conformers of ``DataInput`` throw for a short read.
    static func endOfFile(_ operation: String, needed: Int, available: Int) -> SocketError {
        SocketError(.endOfFile, operation: operation,
                    message: "needs \(needed) bytes, \(available) available")
    }

    /// The sentinel that makes ``DataInput/readRawBytes(count:_:)`` give bytes back unconsumed;
    /// string literals only, so throwing it does not allocate.
    fileprivate static let peeked = SocketError(.endOfFile, operation: "peek", message: "peek")
}
