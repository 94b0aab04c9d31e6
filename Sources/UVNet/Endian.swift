/// Byte order for the multi-byte reads and writes of ``ByteArray`` and ``Socket``,
/// as flash.utils.Endian; big-endian (network order) is the default, as in flash.net.
public enum Endian: Sendable, Hashable {
    /// Most significant byte first: network byte order, the flash.net default.
    case bigEndian
    /// Least significant byte first.
    case littleEndian
}
