import Testing
import UVNet

@Suite struct ByteArrayTests {
    /// One typed value with its big-endian bytes; little-endian is the same bytes reversed.
    struct Width: Sendable, CustomTestStringConvertible {
        let name: String
        let bigEndianBytes: [UInt8]
        let write: @Sendable (inout ByteArray) -> Void
        let readsBack: @Sendable (inout ByteArray) throws -> Bool
        var testDescription: String { name }
    }

    static let widths: [Width] = [
        Width(name: "boolean true", bigEndianBytes: [0x01],
              write: { $0.writeBoolean(true) }, readsBack: { try $0.readBoolean() == true }),
        Width(name: "boolean false", bigEndianBytes: [0x00],
              write: { $0.writeBoolean(false) }, readsBack: { try $0.readBoolean() == false }),
        Width(name: "byte", bigEndianBytes: [0xFE],
              write: { $0.writeByte(-2) }, readsBack: { try $0.readByte() == -2 }),
        Width(name: "unsigned byte", bigEndianBytes: [0xAB],
              write: { $0.writeUnsignedByte(0xAB) }, readsBack: { try $0.readUnsignedByte() == 0xAB }),
        Width(name: "short", bigEndianBytes: [0x12, 0x34],
              write: { $0.writeShort(0x1234) }, readsBack: { try $0.readShort() == 0x1234 }),
        Width(name: "negative short", bigEndianBytes: [0xFF, 0xFE],
              write: { $0.writeShort(-2) }, readsBack: { try $0.readShort() == -2 }),
        Width(name: "unsigned short", bigEndianBytes: [0xAB, 0xCD],
              write: { $0.writeUnsignedShort(0xABCD) }, readsBack: { try $0.readUnsignedShort() == 0xABCD }),
        Width(name: "int", bigEndianBytes: [0x01, 0x02, 0x03, 0x04],
              write: { $0.writeInt(0x0102_0304) }, readsBack: { try $0.readInt() == 0x0102_0304 }),
        Width(name: "negative int", bigEndianBytes: [0xFF, 0xFF, 0xFF, 0xFE],
              write: { $0.writeInt(-2) }, readsBack: { try $0.readInt() == -2 }),
        Width(name: "unsigned int", bigEndianBytes: [0xDE, 0xAD, 0xBE, 0xEF],
              write: { $0.writeUnsignedInt(0xDEAD_BEEF) }, readsBack: { try $0.readUnsignedInt() == 0xDEAD_BEEF }),
        Width(name: "float", bigEndianBytes: [0x3F, 0x80, 0x00, 0x00],
              write: { $0.writeFloat(1.0) }, readsBack: { try $0.readFloat() == 1.0 }),
        Width(name: "double", bigEndianBytes: [0x40, 0x09, 0x21, 0xFB, 0x54, 0x44, 0x2D, 0x18],
              write: { $0.writeDouble(Double.pi) }, readsBack: { try $0.readDouble() == Double.pi }),
    ]

    @Test(arguments: widths, [Endian.bigEndian, .littleEndian])
    func everyWidthHasExactBytesInBothOrders(width: Width, endian: Endian) throws {
        let expected = endian == .bigEndian ? width.bigEndianBytes : width.bigEndianBytes.reversed()
        var array = ByteArray()
        array.endian = endian
        width.write(&array)
        #expect(array.bytes == expected)
        #expect(array.position == expected.count)
        #expect(array.bytesAvailable == 0)

        array.position = 0
        #expect(try width.readsBack(&array))
        #expect(array.position == expected.count)
    }

    @Test func endianDefaultsToBigAndReadsHonourIt() throws {
        var array: ByteArray = [0x01, 0x02, 0x01, 0x02]
        #expect(array.endian == .bigEndian)
        #expect(try array.readUnsignedShort() == 0x0102)
        array.endian = .littleEndian
        #expect(try array.readUnsignedShort() == 0x0201)
    }

    @Test func anyNonZeroByteReadsAsTrue() throws {
        var array: ByteArray = [0x02, 0xFF, 0x00]
        #expect(try array.readBoolean())
        #expect(try array.readBoolean())
        #expect(try !array.readBoolean())
    }

    static let floatPatterns: [UInt32] = [
        0x7FC0_0000, // quiet NaN
        0x7FC0_1234, // quiet NaN with payload
        0xFFC0_0001, // negative quiet NaN with payload
        0x7F80_0001, // signalling NaN
        0x8000_0000, // -0
        0x7F80_0000, // +infinity
        0x0000_0001, // smallest subnormal
    ]

    @Test(arguments: floatPatterns, [Endian.bigEndian, .littleEndian])
    func floatRoundTripsBitForBit(pattern: UInt32, endian: Endian) throws {
        var array = ByteArray()
        array.endian = endian
        array.writeFloat(Float(bitPattern: pattern))
        array.position = 0
        #expect(try array.readFloat().bitPattern == pattern)
    }

    static let doublePatterns: [UInt64] = [
        0x7FF8_0000_0000_0000, // quiet NaN
        0xFFF8_0000_DEAD_BEEF, // negative quiet NaN with payload
        0x7FF0_0000_0000_0001, // signalling NaN
        0x8000_0000_0000_0000, // -0
        0xFFF0_0000_0000_0000, // -infinity
        0x0000_0000_0000_0001, // smallest subnormal
    ]

    @Test(arguments: doublePatterns, [Endian.bigEndian, .littleEndian])
    func doubleRoundTripsBitForBit(pattern: UInt64, endian: Endian) throws {
        var array = ByteArray()
        array.endian = endian
        array.writeDouble(Double(bitPattern: pattern))
        array.position = 0
        #expect(try array.readDouble().bitPattern == pattern)
    }

    // MARK: UTF

    @Test(arguments: ["", "hello", "héllo wörld", "日本語", "🎮 relay ✓"])
    func utfRoundTripsWithALengthPrefix(text: String) throws {
        var array = ByteArray()
        try array.writeUTF(text)
        let utf8 = Array(text.utf8)
        #expect(array.bytes == [UInt8(utf8.count >> 8), UInt8(utf8.count & 0xFF)] + utf8)
        array.position = 0
        #expect(try array.readUTF() == text)
        #expect(array.bytesAvailable == 0)
    }

    @Test func utfLengthPrefixFollowsEndian() throws {
        var array = ByteArray()
        array.endian = .littleEndian
        try array.writeUTF("é")
        #expect(array.bytes == [0x02, 0x00, 0xC3, 0xA9])
        array.position = 0
        #expect(try array.readUTF() == "é")
    }

    @Test func utfOfExactly65535BytesFits() throws {
        var array = ByteArray()
        try array.writeUTF(String(repeating: "a", count: 65535))
        #expect(array.length == 65537)
        #expect(Array(array.bytes.prefix(2)) == [0xFF, 0xFF])
    }

    @Test func utfOver65535BytesThrowsAndWritesNothing() {
        var array = ByteArray()
        // 32768 two-byte characters: 65536 bytes of UTF-8 though only 32768 characters.
        let error = #expect(throws: SocketError.self) {
            try array.writeUTF(String(repeating: "é", count: 32768))
        }
        #expect(error?.code == .invalidArgument)
        #expect(error?.operation == "writeUTF")
        #expect(array.length == 0)
        #expect(array.position == 0)
    }

    @Test func invalidUTF8ThrowsInvalidArgumentAndConsumesNothing() {
        var array: ByteArray = [0x00, 0x02, 0xC3, 0x28]
        let error = #expect(throws: SocketError.self) { try array.readUTF() }
        #expect(error?.code == .invalidArgument)
        #expect(error?.operation == "readUTF")
        #expect(array.position == 0)

        var unprefixed: ByteArray = [0x61, 0xC3, 0x28, 0x62]
        let bytesError = #expect(throws: SocketError.self) { try unprefixed.readUTFBytes(4) }
        #expect(bytesError?.code == .invalidArgument)
        #expect(bytesError?.operation == "readUTFBytes")
        #expect(unprefixed.position == 0)
    }

    @Test func utfBytesHasNoPrefixAndDecodesNonASCII() throws {
        var array = ByteArray()
        array.writeUTFBytes("naïve 🎮")
        #expect(array.bytes == Array("naïve 🎮".utf8))
        array.position = 0
        #expect(try array.readUTFBytes(array.length) == "naïve 🎮")
    }

    @Test func utfBytesStopsAtNULButConsumesTheWholeLength() throws {
        var array: ByteArray = [0x61, 0x62, 0x00, 0x63, 0x64, 0x65]
        #expect(try array.readUTFBytes(5) == "ab")
        #expect(array.position == 5)
        #expect(try array.readUTFBytes(1) == "e")
    }

    @Test func utfBytesSkipsALeadingByteOrderMark() throws {
        var array: ByteArray = [0xEF, 0xBB, 0xBF, 0x68, 0x69]
        #expect(try array.readUTFBytes(5) == "hi")
        #expect(array.position == 5)
    }

    @Test func utfBytesOfZeroLengthIsEmpty() throws {
        var array: ByteArray = []
        #expect(try array.readUTFBytes(0) == "")
    }

    // MARK: End of file

    /// A read with the number of bytes it needs, named as its error's operation.
    struct Read: Sendable, CustomTestStringConvertible {
        let operation: String
        let needs: Int
        let body: @Sendable (inout ByteArray) throws -> Void
        var testDescription: String { operation }
    }

    static let reads: [Read] = [
        Read(operation: "readBoolean", needs: 1) { _ = try $0.readBoolean() },
        Read(operation: "readByte", needs: 1) { _ = try $0.readByte() },
        Read(operation: "readUnsignedByte", needs: 1) { _ = try $0.readUnsignedByte() },
        Read(operation: "readShort", needs: 2) { _ = try $0.readShort() },
        Read(operation: "readUnsignedShort", needs: 2) { _ = try $0.readUnsignedShort() },
        Read(operation: "readInt", needs: 4) { _ = try $0.readInt() },
        Read(operation: "readUnsignedInt", needs: 4) { _ = try $0.readUnsignedInt() },
        Read(operation: "readFloat", needs: 4) { _ = try $0.readFloat() },
        Read(operation: "readDouble", needs: 8) { _ = try $0.readDouble() },
        Read(operation: "readUTFBytes", needs: 3) { _ = try $0.readUTFBytes(3) },
        Read(operation: "readBytes", needs: 3) { _ = try $0.readBytes(3) },
        Read(operation: "readBytes", needs: 3) { array in
            var target = ByteArray()
            try array.readBytes(into: &target, length: 3)
        },
    ]

    @Test(arguments: reads)
    func shortReadThrowsEndOfFileAndKeepsPosition(read: Read) throws {
        // One byte before the position, so "unchanged" is not simply "still zero".
        var array = ByteArray([0x7F] + [UInt8](repeating: 0x41, count: read.needs - 1))
        array.position = 1
        let error = #expect(throws: SocketError.self) { try read.body(&array) }
        #expect(error?.code == .endOfFile)
        #expect(error?.operation == read.operation)
        #expect(array.position == 1)

        array.position = array.length
        array.writeUnsignedByte(0x41)
        array.position = 1
        try read.body(&array)
        #expect(array.position == 1 + read.needs)
    }

    @Test(arguments: [[], [0x00], [0x00, 0x03], [0x00, 0x03, 0x61, 0x62]] as [[UInt8]])
    func shortReadUTFConsumesNotEvenThePrefix(bytes: [UInt8]) {
        var array = ByteArray(bytes)
        let error = #expect(throws: SocketError.self) { try array.readUTF() }
        #expect(error?.code == .endOfFile)
        #expect(error?.operation == "readUTF")
        #expect(array.position == 0)
    }

    @Test func readsPastAPositionBeyondTheEndThrowEndOfFile() {
        var array: ByteArray = [1, 2]
        array.position = 10
        #expect(array.bytesAvailable == 0)
        let error = #expect(throws: SocketError.self) { try array.readUnsignedByte() }
        #expect(error?.code == .endOfFile)
        #expect(array.position == 10)
    }

    @Test func negativeCountsAreInvalidArguments() {
        var array: ByteArray = [1, 2, 3]
        let error = #expect(throws: SocketError.self) { try array.readBytes(-1) }
        #expect(error?.code == .invalidArgument)
        #expect(error?.operation == "readBytes")
        let utfError = #expect(throws: SocketError.self) { try array.readUTFBytes(-1) }
        #expect(utfError?.code == .invalidArgument)
        #expect(array.position == 0)
    }

    // MARK: Position and length

    @Test func writesOverwriteAtPositionThenExtend() throws {
        var array: ByteArray = [1, 2, 3, 4, 5]
        array.position = 1
        array.writeUnsignedShort(0xAABB)
        #expect(array.bytes == [1, 0xAA, 0xBB, 4, 5])
        #expect(array.position == 3)
        #expect(array.length == 5)

        array.writeUnsignedInt(0xCCDD_EEFF)
        #expect(array.bytes == [1, 0xAA, 0xBB, 0xCC, 0xDD, 0xEE, 0xFF])
        #expect(array.position == 7)
        #expect(array.length == 7)
    }

    @Test func writingPastTheEndZeroFillsTheGap() {
        var array: ByteArray = [1, 2]
        array.position = 5
        array.writeUnsignedByte(9)
        #expect(array.bytes == [1, 2, 0, 0, 0, 9])
        #expect(array.position == 6)
    }

    @Test func shorteningLengthTruncatesAndPullsPositionBack() {
        var array: ByteArray = [1, 2, 3, 4, 5]
        array.position = 4
        array.length = 2
        #expect(array.bytes == [1, 2])
        #expect(array.position == 2)
        #expect(array.bytesAvailable == 0)
    }

    @Test func lengtheningZeroExtendsAndKeepsPosition() {
        var array: ByteArray = [1, 2]
        array.position = 1
        array.length = 5
        #expect(array.bytes == [1, 2, 0, 0, 0])
        #expect(array.position == 1)
        #expect(array.bytesAvailable == 4)
    }

    @Test func clearEmptiesAndRewindsButKeepsEndian() {
        var array: ByteArray = [1, 2, 3]
        array.endian = .littleEndian
        array.position = 2
        array.clear()
        #expect(array.length == 0)
        #expect(array.position == 0)
        #expect(array.endian == .littleEndian)
    }

    @Test func newArraysReadFromTheStart() throws {
        var fromArray = ByteArray([0x00, 0x2A])
        var fromLiteral: ByteArray = [0x00, 0x2A]
        #expect(fromArray.position == 0)
        #expect(fromArray.bytesAvailable == 2)
        #expect(try fromArray.readShort() == 42)
        #expect(try fromLiteral.readShort() == 42)
        #expect(ByteArray().length == 0)
    }

    @Test func subscriptIgnoresPosition() {
        var array: ByteArray = [1, 2, 3]
        array.position = 3
        #expect(array[0] == 1)
        array[1] = 9
        #expect(array.bytes == [1, 9, 3])
        #expect(array.position == 3)
    }

    @Test func withUnsafeBytesLendsEverythingRegardlessOfPosition() {
        var array: ByteArray = [1, 2, 3]
        array.position = 2
        let sum = array.withUnsafeBytes { $0.reduce(0) { $0 + Int($1) } }
        #expect(sum == 6)
    }

    @Test func equalityCoversBytesPositionAndEndian() {
        let array: ByteArray = [1, 2, 3]
        var moved = array
        moved.position = 1
        var swapped = array
        swapped.endian = .littleEndian
        #expect(array == ByteArray([1, 2, 3]))
        #expect(array.hashValue == ByteArray([1, 2, 3]).hashValue)
        #expect(array != moved)
        #expect(array != swapped)
        #expect(array.bytes == moved.bytes)
    }

    @Test func copiesDoNotShareACursor() throws {
        var original: ByteArray = [1, 2]
        var copy = original
        _ = try copy.readUnsignedByte()
        copy.writeUnsignedByte(7)
        #expect(original.position == 0)
        #expect(original.bytes == [1, 2])
        #expect(try original.readUnsignedByte() == 1)
    }

    // MARK: Bulk bytes

    @Test func readBytesReturnsTheNextBytes() throws {
        var array: ByteArray = [1, 2, 3, 4]
        array.position = 1
        #expect(try array.readBytes(2) == [2, 3])
        #expect(array.position == 3)
        #expect(try array.readBytes(0) == [])
    }

    @Test func readBytesIntoWritesAtOffsetAndLeavesTargetPosition() throws {
        var source: ByteArray = [1, 2, 3, 4]
        var target: ByteArray = [9, 9]
        target.position = 1
        try source.readBytes(into: &target, offset: 1, length: 2)
        #expect(target.bytes == [9, 1, 2])
        #expect(target.position == 1)
        #expect(source.position == 2)

        // Length 0 reads everything available; an offset past the end zero-fills.
        try source.readBytes(into: &target, offset: 4)
        #expect(target.bytes == [9, 1, 2, 0, 3, 4])
        #expect(source.bytesAvailable == 0)
    }

    @Test func writeBytesWritesWholeSequences() {
        var array = ByteArray()
        array.writeBytes([1, 2] as [UInt8])
        array.writeBytes(UInt8(3)...5) // not contiguous: takes the copying path
        array.writeBytes([6, 7][...])
        #expect(array.bytes == [1, 2, 3, 4, 5, 6, 7])
        #expect(array.position == 7)
    }

    @Test func writeBytesOfAByteArrayIgnoresItsPosition() {
        var source: ByteArray = [1, 2, 3]
        source.position = 3
        var array = ByteArray()
        array.writeBytes(source)
        #expect(array.bytes == [1, 2, 3])
    }

    struct Slice: Sendable {
        let offset: Int
        let length: Int
        let expected: [UInt8]?
    }

    static let slices: [Slice] = [
        Slice(offset: 0, length: 0, expected: [1, 2, 3, 4, 5]),
        Slice(offset: 1, length: 2, expected: [2, 3]),
        Slice(offset: 2, length: 0, expected: [3, 4, 5]),
        Slice(offset: 4, length: 1, expected: [5]),
        Slice(offset: 5, length: 0, expected: []),
        Slice(offset: 6, length: 0, expected: nil),
        Slice(offset: 1, length: 5, expected: nil),
        Slice(offset: -1, length: 1, expected: nil),
        Slice(offset: 0, length: -1, expected: nil),
    ]

    @Test(arguments: slices)
    func writeBytesOffsetAndLength(slice: Slice) throws {
        let source: [UInt8] = [1, 2, 3, 4, 5]
        for useByteArray in [false, true] {
            var array: ByteArray = [0xEE]
            array.position = 1
            if let expected = slice.expected {
                if useByteArray {
                    try array.writeBytes(ByteArray(source), offset: slice.offset, length: slice.length)
                } else {
                    try array.writeBytes(source, offset: slice.offset, length: slice.length)
                }
                #expect(array.bytes == [0xEE] + expected)
            } else {
                let error = #expect(throws: SocketError.self) {
                    if useByteArray {
                        try array.writeBytes(ByteArray(source), offset: slice.offset, length: slice.length)
                    } else {
                        try array.writeBytes(source, offset: slice.offset, length: slice.length)
                    }
                }
                #expect(error?.code == .invalidArgument)
                #expect(error?.operation == "writeBytes")
                #expect(array.bytes == [0xEE])
            }
        }
    }

    @Test func genericDataInputAndOutputCodeWorksOnByteArray() throws {
        func encode(_ output: inout some DataOutput) throws(SocketError) {
            output.writeUnsignedShort(7)
            try output.writeUTF("seven")
        }
        func decode(_ input: inout some DataInput) throws(SocketError) -> (UInt16, String) {
            (try input.readUnsignedShort(), try input.readUTF())
        }
        var array = ByteArray()
        try encode(&array)
        array.position = 0
        let (number, text) = try decode(&array)
        #expect(number == 7)
        #expect(text == "seven")
    }

    /// A conformer that consumes before lending, as a stream buffer might, breaking the
    /// all-or-nothing contract that `readUTF` peeks with.
    struct EagerInput: DataInput {
        var bytes: [UInt8]
        var index = 0
        var endian: Endian { .bigEndian }
        var bytesAvailable: Int { bytes.count - index }

        mutating func readRawBytes<R>(
            count: Int,
            _ body: (UnsafeRawBufferPointer) throws(SocketError) -> R
        ) throws(SocketError) -> R {
            guard count >= 0, count <= bytesAvailable else {
                throw SocketError(.endOfFile, operation: "read", message: "short")
            }
            let start = index
            index += count
            return try bytes.withUnsafeBufferPointer { buffer throws(SocketError) in
                try body(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(buffer)[start..<(start + count)]))
            }
        }
    }

    @Test func readUTFStillReadsFromAConformerThatConsumesEagerly() throws {
        var input = EagerInput(bytes: [0x00, 0x02, 0x68, 0x69, 0x00, 0x01, 0x21])
        #expect(try input.readUTF() == "hi")
        #expect(try input.readUTF() == "!")
        #expect(input.bytesAvailable == 0)
        let error = #expect(throws: SocketError.self) { try input.readInt() }
        #expect(error?.operation == "readInt")
    }
}
