import CoreMetrics
import Prometheus
import RelayWire

/// The relay's Prometheus metrics (swift-metrics on swift-prometheus), one registry per relay.
///
/// The data plane counts in plain integers (``RelayCounters``); ``update(from:gauges:)`` adds what
/// changed since the last update to the swift-metrics counters, on a timer and before each
/// scrape, so the forwarding path never takes a metrics lock per datagram.
final class RelayMetrics {
    /// The registry the endpoint renders.
    let registry = PrometheusCollectorRegistry()
    private let factory: PrometheusMetricsFactory
    private var last = RelayCounters()

    private let received: CoreMetrics.Counter
    private let receivedBytes: CoreMetrics.Counter
    private let forwarded: CoreMetrics.Counter
    private let forwardedBytes: CoreMetrics.Counter
    private let pongs: CoreMetrics.Counter
    private let bindAcks: CoreMetrics.Counter
    private let binds: CoreMetrics.Counter
    private let rebinds: CoreMetrics.Counter
    private let idleUnbinds: CoreMetrics.Counter
    private let sendFailures: CoreMetrics.Counter
    private let drops: [CoreMetrics.Counter]
    private let connectionsAccepted: CoreMetrics.Counter
    private let sessionsCreated: CoreMetrics.Counter
    private let sessionsClosed: CoreMetrics.Counter
    private let joins: CoreMetrics.Counter
    private let leaves: CoreMetrics.Counter
    private let sessions: CoreMetrics.Gauge
    private let members: CoreMetrics.Gauge
    private let boundMembers: CoreMetrics.Gauge
    private let controlConnections: CoreMetrics.Gauge
    private let draining: CoreMetrics.Gauge
    /// How long the relay spends on one receive batch, from its first datagram to its last send.
    let batchDuration: CoreMetrics.Timer

    /// The state the gauges show.
    struct Gauges {
        var sessions: Int
        var members: Int
        var boundMembers: Int
        var controlConnections: Int
        var draining: Bool
    }

    init() {
        var factory = PrometheusMetricsFactory(registry: registry)
        // Forwarding takes microseconds: the default buckets (5 ms and up) would put every batch in the first.
        factory.durationHistogramBuckets["gamerelay_receive_batch_duration_seconds"] = [
            .microseconds(5), .microseconds(10), .microseconds(25), .microseconds(50), .microseconds(100),
            .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5),
            .milliseconds(10), .milliseconds(50),
        ]
        self.factory = factory
        func counter(_ name: String, _ dimensions: [(String, String)] = []) -> CoreMetrics.Counter {
            CoreMetrics.Counter(label: name, dimensions: dimensions, factory: factory)
        }
        func gauge(_ name: String) -> CoreMetrics.Gauge {
            CoreMetrics.Gauge(label: name, dimensions: [], factory: factory)
        }
        received = counter("gamerelay_datagrams_received_total")
        receivedBytes = counter("gamerelay_bytes_received_total")
        forwarded = counter("gamerelay_datagrams_forwarded_total")
        forwardedBytes = counter("gamerelay_bytes_forwarded_total")
        pongs = counter("gamerelay_pongs_sent_total")
        bindAcks = counter("gamerelay_bind_acks_sent_total")
        binds = counter("gamerelay_binds_total")
        rebinds = counter("gamerelay_rebinds_total")
        idleUnbinds = counter("gamerelay_idle_unbinds_total")
        sendFailures = counter("gamerelay_send_failures_total")
        drops = DropReason.all.map { counter("gamerelay_datagrams_dropped_total", [("reason", $0.name)]) }
        connectionsAccepted = counter("gamerelay_control_connections_accepted_total")
        sessionsCreated = counter("gamerelay_sessions_created_total")
        sessionsClosed = counter("gamerelay_sessions_closed_total")
        joins = counter("gamerelay_joins_total")
        leaves = counter("gamerelay_leaves_total")
        sessions = gauge("gamerelay_sessions")
        members = gauge("gamerelay_members")
        boundMembers = gauge("gamerelay_bound_members")
        controlConnections = gauge("gamerelay_control_connections")
        draining = gauge("gamerelay_draining")
        batchDuration = CoreMetrics.Timer(label: "gamerelay_receive_batch_duration_seconds", dimensions: [], factory: factory)
    }

    /// Adds the counters' growth since the last update and sets the gauges.
    func update(from counters: RelayCounters, gauges: Gauges) {
        func add(_ counter: CoreMetrics.Counter, _ now: UInt64, _ before: UInt64) {
            if now > before { counter.increment(by: Int64(clamping: now - before)) }
        }
        add(received, counters.datagramsReceived, last.datagramsReceived)
        add(receivedBytes, counters.bytesReceived, last.bytesReceived)
        add(forwarded, counters.datagramsForwarded, last.datagramsForwarded)
        add(forwardedBytes, counters.bytesForwarded, last.bytesForwarded)
        add(pongs, counters.pongsSent, last.pongsSent)
        add(bindAcks, counters.bindAcksSent, last.bindAcksSent)
        add(binds, counters.binds, last.binds)
        add(rebinds, counters.rebinds, last.rebinds)
        add(idleUnbinds, counters.idleUnbinds, last.idleUnbinds)
        add(sendFailures, counters.sendFailures, last.sendFailures)
        for (reason, counter) in zip(DropReason.all, drops) { add(counter, counters.drops(reason), last.drops(reason)) }
        add(connectionsAccepted, counters.controlConnectionsAccepted, last.controlConnectionsAccepted)
        add(sessionsCreated, counters.sessionsCreated, last.sessionsCreated)
        add(sessionsClosed, counters.sessionsClosed, last.sessionsClosed)
        add(joins, counters.joins, last.joins)
        add(leaves, counters.leaves, last.leaves)
        last = counters
        sessions.record(gauges.sessions)
        members.record(gauges.members)
        boundMembers.record(gauges.boundMembers)
        controlConnections.record(gauges.controlConnections)
        draining.record(gauges.draining ? 1 : 0)
    }

    /// The Prometheus text exposition of every metric.
    func render() -> [UInt8] {
        registry.emitToBuffer()
    }
}
