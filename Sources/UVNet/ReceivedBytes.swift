/// Bytes received and not yet read: the input of a ``Socket`` or a ``TLSStream``, lent to readers
/// and consumed only when a read succeeds.
struct ReceivedBytes {
    private var bytes: [UInt8] = []
    private var readIndex = 0

    /// The bytes not yet read.
    var count: Int { bytes.count - readIndex }

    /// The first byte not yet read.
    var first: UInt8? { readIndex < bytes.count ? bytes[readIndex] : nil }

    /// Appends received bytes, first dropping the read half of the buffer once it is that large,
    /// so a reader that keeps up never makes the buffer grow.
    mutating func append(_ raw: UnsafeRawBufferPointer) {
        compact()
        bytes.append(contentsOf: raw)
    }

    /// Lets `body` append to the buffer in place (a decrypter writing plaintext).
    mutating func append<R>(with body: (inout [UInt8]) -> R) -> R {
        compact()
        return body(&bytes)
    }

    private mutating func compact() {
        if readIndex > 0, readIndex >= bytes.count / 2 {
            bytes.removeFirst(readIndex)
            readIndex = 0
        }
    }

    /// Consumes `count` bytes and lends them to `body`; throws `.endOfFile`, consuming nothing,
    /// when fewer are available, and consumes nothing when `body` throws (so a reader such as
    /// `readUTF` can retry once more has arrived).
    mutating func read<R>(count: Int, _ body: (UnsafeRawBufferPointer) throws(SocketError) -> R) throws(SocketError) -> R {
        guard count >= 0, count <= self.count else {
            throw SocketError(.endOfFile, operation: "read", message: "\(count) bytes requested, \(self.count) available")
        }
        let start = readIndex
        // Array.withUnsafeBytes rethrows untyped errors, so the typed error travels in a Result.
        let result = bytes.withUnsafeBytes { raw in
            Result { () throws(SocketError) -> R in try body(UnsafeRawBufferPointer(rebasing: raw[start..<(start + count)])) }
        }
        guard case .success = result else { return try result.get() }
        readIndex += count
        if readIndex == bytes.count {
            // Released rather than kept: thousands of mostly idle connections should hold no buffers.
            bytes.removeAll()
            readIndex = 0
        }
        return try result.get()
    }
}
