import RelayWire

/// An event the relay pushed on the control channel (PROTOCOL.md §1.4), or the end of the connection.
public enum RelayEvent: Hashable, Sendable {
    /// Another member joined the session.
    case joined(member: UInt16, name: String)
    /// A member left; `reason` is `leave`, `disconnect`, `kick` or `timeout`.
    case left(member: UInt16, reason: String)
    /// Ownership of the session moved to `member`.
    case owner(member: UInt16)
    /// This member's UDP address is bound (the relay's text of it).
    case bound(address: String)
    /// This member's UDP binding idled out; ``RelayClient/bind(_:)`` again to receive.
    case unbound(reason: String)
    /// The owner kicked this member; the relay closes the connection next.
    case kicked
    /// The relay is draining and will close within `drainMs` milliseconds.
    case shutdown(drainMs: Int)
    /// The relay is about to close the connection: `reason` is `idle` (no message for its control
    /// idle timeout) or `drain` (its drain timeout passed). ``closed`` follows.
    case closing(reason: String)
    /// The control connection closed.
    case closed
}

/// One update another member sent, lent to ``RelayClient/onData`` for the duration of the call:
/// a DATA datagram, or one entry of an AGGREGATE in a tick session (PROTOCOL.md §8).
public struct ReceivedData {
    /// The header as sent: `member` is the sender, `sequence` its sequence number. For an
    /// AGGREGATE entry, the header of the DATA datagram the state came from as far as the entry
    /// tells it: a LATEST broadcast from the entry's member with its sequence.
    public let header: PacketHeader
    /// The application bytes, valid only during the callback.
    public let payload: UnsafeRawBufferPointer
    /// The session's tick number when the update came in an AGGREGATE; nil for a DATA datagram
    /// forwarded at once.
    public let tick: UInt32?

    init(header: PacketHeader, payload: UnsafeRawBufferPointer, tick: UInt32? = nil) {
        self.header = header
        self.payload = payload
        self.tick = tick
    }

    /// The sender's member id.
    public var sender: UInt16 { header.member }
    /// The sender's sequence number.
    public var sequence: UInt32 { header.sequence }
}

/// The relay's answer to `hello`.
public struct RelayHello: Hashable, Sendable {
    /// The relay's `server` text, such as `gamerelay/0.1.0`.
    public var server: String
    /// The UDP port to send datagrams to.
    public var udpPort: Int
    /// The largest datagram the relay accepts, header included, as advertised; the client sends
    /// no more than ``RelayClient/maxDatagram``, which may be smaller.
    public var maxDatagram: Int
    /// How long a UDP binding lives without traffic, in milliseconds.
    public var idleTimeoutMs: Int
    /// The extensions the relay offers (PROTOCOL.md §1.3), such as `"tls"`.
    public var features: [String] = []
    /// Whether this control connection runs inside TLS.
    public var tls = false
}

/// A session the relay created.
public struct CreatedSession: Hashable, Sendable {
    /// The 16-hex-digit session id.
    public var session: String
    /// The 6-character join code.
    public var code: String
    /// The session's capacity.
    public var capacity: Int
    /// The session's tick rate in Hz when it is a tick session (PROTOCOL.md §8), else nil.
    public var tick: Int?

    /// A created session as the `create` reply describes it.
    public init(session: String, code: String, capacity: Int, tick: Int? = nil) {
        self.session = session
        self.code = code
        self.capacity = capacity
        self.tick = tick
    }
}

/// This client's membership, from the `join` reply.
public struct Membership: Hashable, Sendable {
    /// The 16-hex-digit session id.
    public var session: String
    /// The low 32 bits of the session id, as datagram headers carry it.
    public var sessionLow: UInt32
    /// This member's id.
    public var member: UInt16
    /// The 16-byte token that authorises BINDs.
    public var token: [UInt8]
    /// The relay's UDP port.
    public var udpPort: Int
    /// The other members at join time, in join order.
    public var members: [(member: UInt16, name: String)]
    /// The owner's member id at join time.
    public var owner: UInt16

    public static func == (lhs: Membership, rhs: Membership) -> Bool {
        lhs.session == rhs.session && lhs.member == rhs.member && lhs.token == rhs.token
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(session)
        hasher.combine(member)
    }
}
