import RelayWire
import UVNet

/// The relay's traffic counters: each loop counts its own, and ``RelayServer/counters`` adds them up.
///
/// Plain integers with fixed-size storage, so counting and publishing never allocate.
public struct RelayCounters: Sendable {
    /// Datagrams received on the UDP socket, or as WebSocket members' binary messages.
    public var datagramsReceived: UInt64 = 0
    /// Bytes received on the UDP socket, or as WebSocket members' binary messages.
    public var bytesReceived: UInt64 = 0
    /// DATA datagrams sent to members (one per target), over UDP or as binary messages.
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
    /// AGGREGATE datagrams sent to members of tick sessions (PROTOCOL.md §8).
    public var aggregatesSent: UInt64 = 0
    /// Bytes of those AGGREGATEs, headers included.
    public var aggregateBytesSent: UInt64 = 0
    /// Pending states of tick sessions replaced by a newer one before a tick sent them (not a drop).
    public var statesSuperseded: UInt64 = 0
    /// Drops by reason, indexed by ``DropReason/index``.
    private var dropCounts: InlineArray<10, UInt64> = .init(repeating: 0)
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
    /// Times a control connection spent its per-turn frame budget and yielded to the others.
    public var controlTurnsYielded: UInt64 = 0
    /// Times a control connection's reading paused because its peer left replies unread.
    public var controlReadPauses: UInt64 = 0
    /// Control connections dropped for leaving more than the unread-output cap.
    public var controlConnectionsOverBacklog: UInt64 = 0
    /// `closing` events sent before the relay closed a connection on its own.
    public var closingSent: UInt64 = 0
    /// Failed accepts on the control or metrics port (`EMFILE` among them).
    public var acceptErrors: UInt64 = 0
    /// Errors receiving on a UDP socket.
    public var udpReceiveErrors: UInt64 = 0
    /// Datagrams the kernel dropped because a relay UDP socket's receive queue was full.
    public var udpReceiveQueueDrops: UInt64 = 0
    /// TLS handshakes completed on the control port.
    public var tlsHandshakes: UInt64 = 0
    /// Plain connections answered `tls_required` (PROTOCOL.md §6).
    public var tlsRequiredRefusals: UInt64 = 0
    /// Certificate reloads (SIGHUP) that took effect.
    public var tlsReloads: UInt64 = 0
    /// Certificate reloads that failed, keeping the old pair.
    public var tlsReloadFailures: UInt64 = 0
    private var tlsFailureCounts: InlineArray<7, UInt64> = .init(repeating: 0)
    /// WebSocket upgrades answered `101` (PROTOCOL.md §7).
    public var webSocketUpgrades: UInt64 = 0
    /// WebSocket upgrade requests refused, indexed like ``WebSocketHandshake/Status/allCases``.
    private var webSocketRefusalCounts: InlineArray<7, UInt64> = .init(repeating: 0)

    /// HTTP requests on the control port answered with `status` instead of an upgrade.
    public func webSocketRefusals(_ status: WebSocketHandshake.Status) -> UInt64 {
        WebSocketHandshake.Status.allCases.firstIndex(of: status).map { webSocketRefusalCounts[$0] } ?? 0
    }

    /// The close codes the relay sends for a client's error (PROTOCOL.md §7), in counter order.
    public static let webSocketErrorCodes: [WebSocketCloseCode] = [.protocolError, .invalidPayload, .messageTooBig]
    private var webSocketErrorCloseCounts: InlineArray<3, UInt64> = .init(repeating: 0)

    /// WebSocket connections the relay closed with `code` for what the client sent (1002, 1007, 1009).
    public func webSocketClosesForError(_ code: WebSocketCloseCode) -> UInt64 {
        Self.webSocketErrorCodes.firstIndex(of: code).map { webSocketErrorCloseCounts[$0] } ?? 0
    }

    mutating func webSocketClosedForError(_ code: WebSocketCloseCode) {
        if let index = Self.webSocketErrorCodes.firstIndex(of: code) { webSocketErrorCloseCounts[index] &+= 1 }
    }

    mutating func webSocketRefused(_ status: WebSocketHandshake.Status) {
        if let index = WebSocketHandshake.Status.allCases.firstIndex(of: status) { webSocketRefusalCounts[index] &+= 1 }
    }

    /// TLS handshakes on the control port that failed for `reason`.
    public func tlsHandshakeFailures(_ reason: TLSFailure.Reason) -> UInt64 {
        TLSFailure.Reason.all.firstIndex(of: reason).map { tlsFailureCounts[$0] } ?? 0
    }

    mutating func tlsHandshakeFailed(_ reason: TLSFailure.Reason) {
        if let index = TLSFailure.Reason.all.firstIndex(of: reason) { tlsFailureCounts[index] &+= 1 }
    }

    /// Creates zeroed counters.
    public init() {}

    /// Refusals by limit, indexed by ``RelayLimit/rawValue``.
    private var refusalCounts: InlineArray<6, UInt64> = .init(repeating: 0)

    /// Requests and connections refused for `limit` (PROTOCOL.md §1.5).
    public func refusals(_ limit: RelayLimit) -> UInt64 { refusalCounts[limit.rawValue] }

    /// Counts one refusal.
    mutating func refuse(_ limit: RelayLimit) { refusalCounts[limit.rawValue] &+= 1 }

    /// Drops counted for `reason`.
    public func drops(_ reason: DropReason) -> UInt64 { dropCounts[reason.index] }

    /// Counts one drop.
    @inline(__always)
    mutating func drop(_ reason: DropReason) { dropCounts[reason.index] &+= 1 }

    /// Counts `count` drops for one reason (the copies of one datagram).
    mutating func drop(_ reason: DropReason, count: Int) { dropCounts[reason.index] &+= UInt64(count) }

    /// Adds another loop's counters to these.
    mutating func add(_ other: RelayCounters) {
        datagramsReceived &+= other.datagramsReceived
        bytesReceived &+= other.bytesReceived
        datagramsForwarded &+= other.datagramsForwarded
        bytesForwarded &+= other.bytesForwarded
        pongsSent &+= other.pongsSent
        bindAcksSent &+= other.bindAcksSent
        binds &+= other.binds
        rebinds &+= other.rebinds
        idleUnbinds &+= other.idleUnbinds
        sendFailures &+= other.sendFailures
        aggregatesSent &+= other.aggregatesSent
        aggregateBytesSent &+= other.aggregateBytesSent
        statesSuperseded &+= other.statesSuperseded
        for index in 0..<DropReason.all.count { dropCounts[index] &+= other.dropCounts[index] }
        controlConnectionsAccepted &+= other.controlConnectionsAccepted
        sessionsCreated &+= other.sessionsCreated
        sessionsClosed &+= other.sessionsClosed
        joins &+= other.joins
        leaves &+= other.leaves
        controlTurnsYielded &+= other.controlTurnsYielded
        controlReadPauses &+= other.controlReadPauses
        controlConnectionsOverBacklog &+= other.controlConnectionsOverBacklog
        closingSent &+= other.closingSent
        for index in 0..<RelayLimit.allCases.count { refusalCounts[index] &+= other.refusalCounts[index] }
        acceptErrors &+= other.acceptErrors
        udpReceiveErrors &+= other.udpReceiveErrors
        udpReceiveQueueDrops &+= other.udpReceiveQueueDrops
        tlsHandshakes &+= other.tlsHandshakes
        tlsRequiredRefusals &+= other.tlsRequiredRefusals
        tlsReloads &+= other.tlsReloads
        tlsReloadFailures &+= other.tlsReloadFailures
        for index in 0..<TLSFailure.Reason.all.count { tlsFailureCounts[index] &+= other.tlsFailureCounts[index] }
        webSocketUpgrades &+= other.webSocketUpgrades
        for index in 0..<Self.webSocketErrorCodes.count { webSocketErrorCloseCounts[index] &+= other.webSocketErrorCloseCounts[index] }
        for index in 0..<WebSocketHandshake.Status.allCases.count { webSocketRefusalCounts[index] &+= other.webSocketRefusalCounts[index] }
    }
}
