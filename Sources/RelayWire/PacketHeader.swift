/// The 16-byte header that starts every data-channel datagram (PROTOCOL.md §2.1).
///
/// All multi-byte fields are big-endian on the wire. Parsing does no validation
/// beyond the length; ``classify(_:maxDatagram:)`` applies the protocol's checks.
public struct PacketHeader: Hashable, Sendable {
    /// The header length in bytes; the payload starts right after it.
    public static let size = 16
    /// The magic byte, ASCII `G`.
    public static let magic: UInt8 = 0x47
    /// The protocol version this module speaks.
    public static let version: UInt8 = 1
    /// The DATA `target` meaning "every other bound member of the session".
    public static let broadcastTarget: UInt16 = 0xFFFF

    /// Byte 0; ``PacketHeader/magic`` in every valid packet.
    public var magic: UInt8
    /// Byte 1; ``PacketHeader/version`` in every valid packet.
    public var version: UInt8
    /// Byte 2; one of the ``PacketType`` constants.
    public var type: UInt8
    /// Byte 3; a combination of ``PacketFlags`` bits.
    public var flags: UInt8
    /// The low 32 bits of the 64-bit session id.
    public var session: UInt32
    /// The sender's member id within the session.
    public var member: UInt16
    /// The receiving member for DATA, or ``broadcastTarget``; 0 in other types.
    public var target: UInt16
    /// The sender's per-packet sequence number, compared with RFC 1982 serial arithmetic.
    public var sequence: UInt32

    /// Creates a header with the current magic and version.
    public init(
        type: UInt8,
        flags: UInt8 = 0,
        session: UInt32,
        member: UInt16,
        target: UInt16 = 0,
        sequence: UInt32 = 0
    ) {
        self.magic = Self.magic
        self.version = Self.version
        self.type = type
        self.flags = flags
        self.session = session
        self.member = member
        self.target = target
        self.sequence = sequence
    }

    /// Reads the header from the first 16 bytes of a datagram without allocating.
    ///
    /// - Parameter bytes: The datagram; anything after the header is ignored.
    /// - Returns: `nil` if `bytes` is shorter than ``size``. Magic, version and type
    ///   are returned as found, not checked.
    public init?(parsing bytes: UnsafeRawBufferPointer) {
        guard bytes.count >= Self.size else { return nil }
        self.magic = bytes[0]
        self.version = bytes[1]
        self.type = bytes[2]
        self.flags = bytes[3]
        self.session = UInt32(bigEndian: bytes.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
        self.member = UInt16(bigEndian: bytes.loadUnaligned(fromByteOffset: 8, as: UInt16.self))
        self.target = UInt16(bigEndian: bytes.loadUnaligned(fromByteOffset: 10, as: UInt16.self))
        self.sequence = UInt32(bigEndian: bytes.loadUnaligned(fromByteOffset: 12, as: UInt32.self))
    }

    /// Reads the header from the first 16 bytes of an array, as the raw-buffer initialiser does.
    public init?(parsing bytes: [UInt8]) {
        guard let header = bytes.withUnsafeBytes({ PacketHeader(parsing: $0) }) else { return nil }
        self = header
    }

    /// Writes the 16 header bytes, big-endian, at the start of `buffer`.
    ///
    /// - Precondition: `buffer.count >= PacketHeader.size`.
    public func write(to buffer: UnsafeMutableRawBufferPointer) {
        precondition(buffer.count >= Self.size, "PacketHeader.write needs 16 bytes")
        buffer[0] = magic
        buffer[1] = version
        buffer[2] = type
        buffer[3] = flags
        buffer.storeBytes(of: session.bigEndian, toByteOffset: 4, as: UInt32.self)
        buffer.storeBytes(of: member.bigEndian, toByteOffset: 8, as: UInt16.self)
        buffer.storeBytes(of: target.bigEndian, toByteOffset: 10, as: UInt16.self)
        buffer.storeBytes(of: sequence.bigEndian, toByteOffset: 12, as: UInt32.self)
    }

    /// The 16 header bytes as they appear on the wire.
    public var bytes: [UInt8] {
        [UInt8](unsafeUninitializedCapacity: Self.size) { buffer, initialized in
            write(to: UnsafeMutableRawBufferPointer(buffer))
            initialized = Self.size
        }
    }

    /// Whether the LATEST flag is set.
    public var isLatest: Bool { flags & PacketFlags.latest != 0 }

    /// This header with another type and every other field kept, as BIND_ACK and
    /// PONG copy the header of the datagram they answer.
    public func replying(as type: UInt8) -> PacketHeader {
        var copy = self
        copy.type = type
        return copy
    }
}
