/// One received datagram, lent to ``DatagramSocket/onData`` for the duration of the call.
///
/// The bytes live in the loop's shared receive buffer, which the next `recvmmsg` overwrites: read
/// them in the callback, or copy them with ``copyData()``. This is the flash.net
/// `DatagramSocketDataEvent`, made zero-copy.
public struct Datagram {
    /// The payload, valid only during the callback that received it.
    public let bytes: UnsafeRawBufferPointer
    /// Where the datagram came from.
    public let source: SocketAddress

    /// Creates a datagram view; used by the socket layer and by tests that inject datagrams.
    public init(bytes: UnsafeRawBufferPointer, source: SocketAddress) {
        self.bytes = bytes
        self.source = source
    }

    /// The sender's IP address, as text (flash.net `srcAddress`).
    public var srcAddress: String { source.ipAddress }
    /// The sender's port (flash.net `srcPort`).
    public var srcPort: Int { source.port }

    /// Copies the payload out of the receive buffer into a ``ByteArray`` that outlives the callback.
    public func copyData() -> ByteArray {
        ByteArray(Array(bytes))
    }
}
