/// Growable bytes with one cursor for reading and writing, as flash.utils.ByteArray.
///
/// ``position`` is both the read and the write cursor, as in flash: a write overwrites the bytes at
/// ``position`` (extending the array past its end) and advances it; a read consumes from
/// ``position``. Multi-byte values use ``endian``, big-endian by default. Reads past the end throw
/// ``SocketError/Code/endOfFile`` and leave ``position`` where it was.
///
/// Unlike flash's reference type, this is a value type (copy on write), so two copies never share
/// a cursor. Equality and hashing cover all observable state — the bytes, ``position`` and
/// ``endian`` — because two arrays that differ in any of them read differently; compare
/// ``bytes`` to compare contents alone.
public struct ByteArray: DataInput, DataOutput, Hashable, Sendable, ExpressibleByArrayLiteral {
    /// The contents, independent of ``position``.
    public private(set) var bytes: [UInt8]

    /// The read and write cursor; it may be set past ``length``, after which reads throw
    /// end-of-file and the next write zero-fills the gap, as in flash.
    ///
    /// - Precondition: Not negative (flash's `uint` cannot be).
    public var position: Int = 0 {
        willSet { precondition(newValue >= 0, "ByteArray.position must not be negative") }
    }

    /// The byte order of multi-byte reads and writes; big-endian (network order) by default.
    public var endian: Endian = .bigEndian

    /// Creates an empty array.
    public init() {
        bytes = []
    }

    /// Creates an array holding `bytes`, positioned at the start so they can be read.
    public init(_ bytes: [UInt8]) {
        self.bytes = bytes
    }

    /// Creates an array from a literal such as `[0x01, 0x02]`, positioned at the start.
    public init(arrayLiteral elements: UInt8...) {
        bytes = elements
    }

    /// The number of bytes; setting it truncates or zero-extends, and pulls ``position`` back to
    /// the new end if it was past it, as flash does.
    ///
    /// - Precondition: The new length is not negative.
    public var length: Int {
        get { bytes.count }
        set {
            precondition(newValue >= 0, "ByteArray.length must not be negative")
            if newValue < bytes.count {
                bytes.removeLast(bytes.count - newValue)
            } else if newValue > bytes.count {
                bytes.append(contentsOf: repeatElement(0, count: newValue - bytes.count))
            }
            position = min(position, newValue)
        }
    }

    /// The bytes between ``position`` and the end; 0, not negative, when the position is past the end.
    public var bytesAvailable: Int {
        max(0, bytes.count - position)
    }

    /// Empties the array and rewinds ``position``, keeping ``endian`` and the allocated capacity
    /// for reuse.
    public mutating func clear() {
        bytes.removeAll(keepingCapacity: true)
        position = 0
    }

    /// The byte at `index`, regardless of ``position``.
    ///
    /// Unlike flash, which reads `undefined` past the end and grows the array on such a write,
    /// an index outside `0..<length` is a programming error, as for a Swift `Array`.
    public subscript(index: Int) -> UInt8 {
        get { bytes[index] }
        set { bytes[index] = newValue }
    }

    /// Lends all the bytes, regardless of ``position``, without copying them.
    ///
    /// - Parameter body: Receives the bytes, valid only during the call.
    /// - Returns: Whatever `body` returns.
    public func withUnsafeBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        try bytes.withUnsafeBufferPointer { buffer throws(E) in
            try body(UnsafeRawBufferPointer(buffer))
        }
    }

    /// Lends the `count` bytes at ``position`` to `body` and advances past them when it returns.
    ///
    /// - Throws: ``SocketError/Code/endOfFile`` when fewer than `count` bytes are available,
    ///   ``SocketError/Code/invalidArgument`` for a negative `count`, or what `body` throws;
    ///   ``position`` is unchanged in every case.
    public mutating func readRawBytes<R>(
        count: Int,
        _ body: (UnsafeRawBufferPointer) throws(SocketError) -> R
    ) throws(SocketError) -> R {
        guard count >= 0 else {
            throw SocketError(.invalidArgument, operation: "readRawBytes", message: "count \(count) is negative")
        }
        guard count <= bytesAvailable else {
            throw SocketError.endOfFile("readRawBytes", needed: count, available: bytesAvailable)
        }
        let start = position
        let result = try withUnsafeBytes { raw throws(SocketError) in
            try body(UnsafeRawBufferPointer(rebasing: raw[start..<(start + count)]))
        }
        position = start + count
        return result
    }

    /// Writes `source` at ``position`` (overwriting, then extending) and advances past it.
    public mutating func writeRawBytes(_ source: UnsafeRawBufferPointer) {
        replaceBytes(at: position, with: source)
        position += source.count
    }

    /// Copies `source` over the bytes at `offset`, zero-filling any gap past the end and growing
    /// the array as needed; ``position`` is not touched.
    mutating func replaceBytes(at offset: Int, with source: UnsafeRawBufferPointer) {
        if offset > bytes.count {
            bytes.append(contentsOf: repeatElement(0, count: offset - bytes.count))
        }
        let overlap = min(source.count, bytes.count - offset)
        if overlap > 0 {
            bytes.withUnsafeMutableBytes { destination in
                UnsafeMutableRawBufferPointer(rebasing: destination[offset..<(offset + overlap)])
                    .copyMemory(from: UnsafeRawBufferPointer(rebasing: source[0..<overlap]))
            }
        }
        if overlap < source.count {
            bytes.append(contentsOf: source[overlap...])
        }
    }
}

extension ByteArray: CustomStringConvertible {
    /// A summary for logs and test failures; the bytes themselves can be long, so only the
    /// first 32 are shown, in hex.
    public var description: String {
        let shown = bytes.prefix(32).map { byte in
            let hex = String(byte, radix: 16)
            return hex.count == 1 ? "0" + hex : hex
        }
        let more = bytes.count > 32 ? " …" : ""
        return "ByteArray(length: \(length), position: \(position), [\(shown.joined(separator: " "))\(more)])"
    }
}
