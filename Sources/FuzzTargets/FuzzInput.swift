/// A fuzzer's input read front to back, so one byte string can say both what to do (a few
/// selector bytes) and with what (the rest); reads past the end yield nothing rather than trap.
struct FuzzInput {
    private let bytes: [UInt8]
    private var position = 0

    init(_ bytes: [UInt8]) {
        self.bytes = bytes
    }

    /// Whether every byte has been read.
    var isEmpty: Bool { position >= bytes.count }

    /// The next byte, or `nil` at the end.
    mutating func byte() -> UInt8? {
        guard position < bytes.count else { return nil }
        defer { position += 1 }
        return bytes[position]
    }

    /// The next two bytes as a big-endian number, or `nil` when fewer are left.
    mutating func uint16() -> UInt16? {
        guard bytes.count - position >= 2 else { return nil }
        defer { position += 2 }
        return UInt16(bytes[position]) << 8 | UInt16(bytes[position + 1])
    }

    /// The next `count` bytes, or all that are left when fewer.
    mutating func take(_ count: Int) -> ArraySlice<UInt8> {
        let end = min(bytes.count, position + max(0, count))
        defer { position = end }
        return bytes[position..<end]
    }

    /// Every byte not read yet.
    mutating func rest() -> ArraySlice<UInt8> {
        take(bytes.count - position)
    }
}
