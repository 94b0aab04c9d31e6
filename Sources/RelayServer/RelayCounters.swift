import RelayWire

/// The relay's traffic counters, owned by its loop; read by tests and, later, by the metrics endpoint.
public struct RelayCounters: Sendable, Hashable {
    /// Datagrams received on the UDP socket.
    public var datagramsReceived: UInt64 = 0
    /// Bytes received on the UDP socket.
    public var bytesReceived: UInt64 = 0
    /// DATA datagrams sent to members (one per target).
    public var datagramsForwarded: UInt64 = 0
    /// Bytes of forwarded DATA.
    public var bytesForwarded: UInt64 = 0
    /// PONGs sent.
    public var pongsSent: UInt64 = 0
    /// BIND_ACKs sent, with or without a cookie.
    public var bindAcksSent: UInt64 = 0
    /// Members bound to an address for the first time (or again after an idle unbind).
    public var binds: UInt64 = 0
    /// Members that moved an existing binding to a new address.
    public var rebinds: UInt64 = 0
    /// Bindings removed after idling.
    public var idleUnbinds: UInt64 = 0
    /// Sends the kernel refused (its buffer was full); the datagram was dropped.
    public var sendFailures: UInt64 = 0
    /// Drops by reason, indexed by ``DropReason/index``.
    public var drops: [UInt64] = Array(repeating: 0, count: DropReason.all.count)
    /// Control connections accepted.
    public var controlConnectionsAccepted: UInt64 = 0
    /// Sessions created.
    public var sessionsCreated: UInt64 = 0
    /// Sessions deleted.
    public var sessionsClosed: UInt64 = 0
    /// Successful joins.
    public var joins: UInt64 = 0
    /// Memberships ended, whatever the reason.
    public var leaves: UInt64 = 0

    /// Creates zeroed counters.
    public init() {}

    /// Drops counted for `reason`.
    public func drops(_ reason: DropReason) -> UInt64 { drops[reason.index] }

    /// Counts one drop.
    @inline(__always)
    mutating func drop(_ reason: DropReason) { drops[reason.index] &+= 1 }
}
