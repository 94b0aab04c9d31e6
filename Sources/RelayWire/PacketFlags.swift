/// The bits of the header's `flags` byte (PROTOCOL.md §2.1).
///
/// Reserved bits are ignored on receipt, so callers test single bits with `&`.
public enum PacketFlags {
    /// Drop this DATA packet if a newer LATEST packet from the same sender was
    /// already forwarded; see ``LatestFilter``.
    public static let latest: UInt8 = 0x01
}
