extension PacketHeader {
    /// The largest PING payload the relay answers (PROTOCOL.md §2.1).
    public static let maxPingPayload = 64
    /// The member token's length at the start of a BIND payload.
    public static let tokenSize = 16
    /// The address cookie's length after the token in a BIND, and in a BIND_ACK.
    public static let cookieSize = 8

    /// Applies the stateless checks of PROTOCOL.md §2.3 (rows 1–2) and §2.2 step 2
    /// to a received datagram, in the protocol's order.
    ///
    /// - Parameters:
    ///   - bytes: The whole UDP payload, header included.
    ///   - maxDatagram: The configured `maxDatagram`.
    /// - Returns: The parsed header, or ``DropReason/oversize`` when the datagram is
    ///   over `maxDatagram`, else ``DropReason/malformed`` when it is shorter than the
    ///   header, has the wrong magic or version, a type other than BIND, DATA or
    ///   PING, a PING payload over 64 bytes, or a BIND payload other than 16 or 24 bytes.
    public static func classify(
        _ bytes: UnsafeRawBufferPointer,
        maxDatagram: Int
    ) -> Result<PacketHeader, DropReason> {
        guard bytes.count <= maxDatagram else { return .failure(.oversize) }
        guard let header = PacketHeader(parsing: bytes),
            header.magic == magic,
            header.version == version
        else { return .failure(.malformed) }
        let payload = bytes.count - size
        switch header.type {
        case PacketType.data:
            return .success(header)
        case PacketType.ping:
            return payload <= maxPingPayload ? .success(header) : .failure(.malformed)
        case PacketType.bind:
            return payload == tokenSize || payload == tokenSize + cookieSize ? .success(header) : .failure(.malformed)
        default:
            // BIND_ACK and PONG only travel relay → client; from a client they are noise.
            return .failure(.malformed)
        }
    }

    /// Classifies a datagram held in an array, as the raw-buffer overload does.
    public static func classify(_ bytes: [UInt8], maxDatagram: Int) -> Result<PacketHeader, DropReason> {
        bytes.withUnsafeBytes { classify($0, maxDatagram: maxDatagram) }
    }
}
