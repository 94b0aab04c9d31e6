extension SocketAddress {
    /// The bytes equality compares, as a fixed-size value: the 16-byte IPv6 form (IPv4 as
    /// IPv4-mapped) and the port. For keyed hashes, such as a MAC over an address, that must
    /// treat `1.2.3.4` and `::ffff:1.2.3.4` as the same endpoint.
    public var normalizedBytes: (high: UInt64, low: UInt64, port: UInt16) {
        (high, low, storedPort)
    }
}
