import CoreMetrics
import Prometheus
import RelayWire
import UVNet

/// The relay's Prometheus metrics (swift-metrics on swift-prometheus), one registry per relay.
///
/// The data plane counts in plain integers (``RelayCounters``); ``update(control:loops:gauges:)``
/// adds what changed since the last update to the swift-metrics counters, on a timer and before
/// each scrape, so the forwarding path never takes a metrics lock per datagram. Counters of the
/// data-plane loops carry a `loop` label (1, 2, …), so skew between loops shows; the control
/// loop's have none.
final class RelayMetrics {
    /// The registry the endpoint renders.
    let registry = PrometheusCollectorRegistry()
    private let factory: PrometheusMetricsFactory
    private var lastControl = RelayCounters()
    private var lastLoops: [RelayCounters]

    /// The counters each data-plane loop keeps: their Prometheus names and where ``RelayCounters`` keeps them.
    private static let loopCounters: [(name: String, value: KeyPath<RelayCounters, UInt64> & Sendable)] = [
        ("gamerelay_datagrams_received_total", \.datagramsReceived),
        ("gamerelay_bytes_received_total", \.bytesReceived),
        ("gamerelay_datagrams_forwarded_total", \.datagramsForwarded),
        ("gamerelay_bytes_forwarded_total", \.bytesForwarded),
        ("gamerelay_pongs_sent_total", \.pongsSent),
        ("gamerelay_bind_acks_sent_total", \.bindAcksSent),
        ("gamerelay_binds_total", \.binds),
        ("gamerelay_rebinds_total", \.rebinds),
        ("gamerelay_idle_unbinds_total", \.idleUnbinds),
        ("gamerelay_send_failures_total", \.sendFailures),
        ("gamerelay_aggregates_sent_total", \.aggregatesSent),
        ("gamerelay_aggregate_bytes_sent_total", \.aggregateBytesSent),
        ("gamerelay_states_superseded_total", \.statesSuperseded),
        ("gamerelay_udp_receive_errors_total", \.udpReceiveErrors),
        ("gamerelay_udp_receive_queue_drops_total", \.udpReceiveQueueDrops),
    ]
    /// The control loop's counters.
    private static let controlCounters: [(name: String, value: KeyPath<RelayCounters, UInt64> & Sendable)] = [
        ("gamerelay_control_connections_accepted_total", \.controlConnectionsAccepted),
        ("gamerelay_sessions_created_total", \.sessionsCreated),
        ("gamerelay_sessions_closed_total", \.sessionsClosed),
        ("gamerelay_joins_total", \.joins),
        ("gamerelay_leaves_total", \.leaves),
        ("gamerelay_control_turns_yielded_total", \.controlTurnsYielded),
        ("gamerelay_control_read_pauses_total", \.controlReadPauses),
        ("gamerelay_control_connections_over_backlog_total", \.controlConnectionsOverBacklog),
        ("gamerelay_closing_sent_total", \.closingSent),
        ("gamerelay_accept_errors_total", \.acceptErrors),
        ("gamerelay_tls_handshakes_total", \.tlsHandshakes),
        ("gamerelay_tls_required_refusals_total", \.tlsRequiredRefusals),
    ]
    private let control: [CoreMetrics.Counter]
    /// Per data-plane loop: its counters, then its drops by reason.
    private let loops: [(counters: [CoreMetrics.Counter], drops: [CoreMetrics.Counter])]
    private let refusals: [CoreMetrics.Counter]
    private let sources: CoreMetrics.Gauge
    private let sessions: CoreMetrics.Gauge
    private let members: CoreMetrics.Gauge
    private let boundMembers: CoreMetrics.Gauge
    private let tickSessions: CoreMetrics.Gauge
    private let controlConnections: CoreMetrics.Gauge
    private let controlConnectionLimit: CoreMetrics.Gauge
    private let draining: CoreMetrics.Gauge
    private let tlsFailures: [CoreMetrics.Counter]
    private let tlsReloads: (ok: CoreMetrics.Counter, error: CoreMetrics.Counter)
    private let tlsConnections: CoreMetrics.Gauge
    private let tlsExpiry: CoreMetrics.Gauge
    /// How long the relay spends on one receive batch, from its first datagram to its last send.
    let batchDuration: CoreMetrics.Timer

    /// The state the gauges show.
    struct Gauges {
        var sessions: Int
        var members: Int
        var boundMembers: Int
        /// Tick sessions with their tick timer open.
        var tickSessions = 0
        var controlConnections: Int
        var controlConnectionLimit: Int
        var sources: Int
        var draining: Bool
        /// Open control connections inside TLS.
        var tlsConnections = 0
        /// The served leaf certificate's notAfter (seconds since 1970); 0 without TLS.
        var tlsCertificateExpiry: Int64 = 0
    }

    /// Metrics for a relay with `loops` data-plane loops.
    init(loops loopCount: Int) {
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
        control = Self.controlCounters.map { counter($0.name) }
        loops = (1...max(1, loopCount)).map { index in
            let loop = ("loop", "\(index)")
            return (Self.loopCounters.map { counter($0.name, [loop]) },
                    DropReason.all.map { counter("gamerelay_datagrams_dropped_total", [loop, ("reason", $0.name)]) })
        }
        lastLoops = Array(repeating: RelayCounters(), count: max(1, loopCount))
        refusals = RelayLimit.allCases.map { counter("gamerelay_limit_refusals_total", [("limit", $0.name)]) }
        sources = gauge("gamerelay_sources")
        sessions = gauge("gamerelay_sessions")
        members = gauge("gamerelay_members")
        boundMembers = gauge("gamerelay_bound_members")
        tickSessions = gauge("gamerelay_tick_sessions")
        controlConnections = gauge("gamerelay_control_connections")
        controlConnectionLimit = gauge("gamerelay_control_connection_limit")
        draining = gauge("gamerelay_draining")
        tlsFailures = TLSFailure.Reason.all.map { counter("gamerelay_tls_handshake_failures_total", [("reason", $0.name)]) }
        tlsReloads = (counter("gamerelay_tls_reloads_total", [("result", "ok")]), counter("gamerelay_tls_reloads_total", [("result", "error")]))
        tlsConnections = gauge("gamerelay_tls_connections")
        tlsExpiry = gauge("gamerelay_tls_certificate_expiry_timestamp_seconds")
        batchDuration = CoreMetrics.Timer(label: "gamerelay_receive_batch_duration_seconds", dimensions: [], factory: factory)
    }

    /// Adds the growth of the control loop's and each data-plane loop's counters since the last
    /// update, and sets the gauges.
    func update(control counters: RelayCounters, loops loopCounters: [RelayCounters], gauges: Gauges) {
        func add(_ counter: CoreMetrics.Counter, _ now: UInt64, _ before: UInt64) {
            if now > before { counter.increment(by: Int64(clamping: now - before)) }
        }
        for (entry, counter) in zip(Self.controlCounters, control) { add(counter, counters[keyPath: entry.value], lastControl[keyPath: entry.value]) }
        for (limit, counter) in zip(RelayLimit.allCases, refusals) { add(counter, counters.refusals(limit), lastControl.refusals(limit)) }
        for (reason, counter) in zip(TLSFailure.Reason.all, tlsFailures) {
            add(counter, counters.tlsHandshakeFailures(reason), lastControl.tlsHandshakeFailures(reason))
        }
        add(tlsReloads.ok, counters.tlsReloads, lastControl.tlsReloads)
        add(tlsReloads.error, counters.tlsReloadFailures, lastControl.tlsReloadFailures)
        lastControl = counters
        for (index, (now, metrics)) in zip(loopCounters, loops).enumerated() {
            let before = lastLoops[index]
            for (entry, counter) in zip(Self.loopCounters, metrics.counters) { add(counter, now[keyPath: entry.value], before[keyPath: entry.value]) }
            for (reason, counter) in zip(DropReason.all, metrics.drops) { add(counter, now.drops(reason), before.drops(reason)) }
            lastLoops[index] = now
        }
        sessions.record(gauges.sessions)
        members.record(gauges.members)
        boundMembers.record(gauges.boundMembers)
        tickSessions.record(gauges.tickSessions)
        controlConnections.record(gauges.controlConnections)
        controlConnectionLimit.record(gauges.controlConnectionLimit)
        sources.record(gauges.sources)
        draining.record(gauges.draining ? 1 : 0)
        tlsConnections.record(gauges.tlsConnections)
        tlsExpiry.record(gauges.tlsCertificateExpiry)
    }

    /// The Prometheus text exposition of every metric.
    func render() -> [UInt8] {
        registry.emitToBuffer()
    }
}
