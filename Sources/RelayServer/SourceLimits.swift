import RelayWire
import UVNet

/// What the relay keeps per source address for the limits of PROTOCOL.md §1.5: its open control
/// connections, the live sessions it created, and its failed-join budget.
///
/// Loop-bound to the control loop. A source is an IP address (the port set to 0), and an IPv4
/// address and its IPv4-mapped form are one source, as ``SocketAddress`` equality has it. An
/// entry lives while its source has a connection or a live session, or a failed-join budget that
/// has not refilled yet (so reconnecting buys no new budget); ``prune(nowNanos:)`` drops the
/// rest, so the table is bounded by what the other limits allow.
final class SourceLimits {
    private struct Entry {
        var connections = 0
        var sessions = 0
        var joinFailures: TokenBucket
    }

    private let config: RelayConfig
    private var entries: [SocketAddress: Entry] = [:]
    /// Sources that may have become prunable: they lost a connection, a session, or budget.
    private var candidates: Set<SocketAddress> = []

    init(config: RelayConfig) {
        self.config = config
    }

    /// The source of a peer: its address without the port.
    static func source(of address: SocketAddress) -> SocketAddress {
        var source = address
        source.port = 0
        return source
    }

    /// The number of sources tracked, for the metrics.
    var count: Int { entries.count }

    private func newEntry(_ nowNanos: UInt64) -> Entry {
        Entry(joinFailures: TokenBucket(ratePerSecond: config.joinFailureRate, burst: config.joinFailureBurst, nowNanos: nowNanos))
    }

    /// Counts a new connection from `source`, or refuses it when the source has its fill.
    func admitConnection(from source: SocketAddress, nowNanos: UInt64) -> Bool {
        if let entry = entries[source], entry.connections >= config.maxConnectionsPerSource { return false }
        entries[source, default: newEntry(nowNanos)].connections += 1
        return true
    }

    /// A connection from `source` closed.
    func connectionClosed(from source: SocketAddress) {
        entries[source]?.connections -= 1
        candidates.insert(source)
    }

    /// The limit a new session from `source` would break, with `liveSessions` sessions live in
    /// all; nil when it may be created.
    func sessionLimit(for source: SocketAddress?, liveSessions: Int) -> RelayLimit? {
        if liveSessions >= config.maxSessions { return .sessions }
        if let source, let entry = entries[source], entry.sessions >= config.maxSessionsPerSource { return .sessionsPerSource }
        return nil
    }

    /// `source` created a session; it counts against the source until it is deleted.
    func sessionCreated(by source: SocketAddress?, nowNanos: UInt64) {
        guard let source else { return }
        entries[source, default: newEntry(nowNanos)].sessions += 1
    }

    /// A session `source` created was deleted.
    func sessionDeleted(by source: SocketAddress?) {
        guard let source else { return }
        entries[source]?.sessions -= 1
        candidates.insert(source)
    }

    /// Whether `source` may still have a join looked up (its failed-join budget is not spent).
    func mayLookUpJoin(from source: SocketAddress?, nowNanos: UInt64) -> Bool {
        guard let source, let entry = entries[source] else { return true }
        return entry.joinFailures.hasRoom(for: 1, nowNanos: nowNanos)
    }

    /// Spends one failed join of `source`'s budget: a join it asked for was `not_found`.
    func joinFailed(from source: SocketAddress?, nowNanos: UInt64) {
        guard let source else { return }
        entries[source, default: newEntry(nowNanos)].joinFailures.take(1, nowNanos: nowNanos)
        candidates.insert(source)
    }

    /// Drops the entries of sources with nothing left to count. Called by the sweep; looks only
    /// at sources that changed since, so it costs nothing while nobody comes or goes.
    func prune(nowNanos: UInt64) {
        guard !candidates.isEmpty else { return }
        for source in candidates {
            guard let entry = entries[source] else {
                candidates.remove(source)
                continue
            }
            // Still counting something: looked at again when that changes.
            guard entry.connections == 0, entry.sessions == 0 else {
                candidates.remove(source)
                continue
            }
            // A budget not yet refilled stays, or reconnecting would refill it.
            if entry.joinFailures.hasRoom(for: entry.joinFailures.burst, nowNanos: nowNanos) {
                entries[source] = nil
                candidates.remove(source)
            }
        }
    }
}
