import CoreMetrics
import Prometheus
import RelayWire
import UVNet

/// The relay's Prometheus metrics (a swift-prometheus registry), one registry per relay.
///
/// Every family is registered with its `# HELP` text; `gamerelay_build_info` carries the
/// version, and the standard `process_*` families follow the registry's (``ProcessMetrics``).
/// The data plane counts in plain integers (``RelayCounters``); ``update(control:loops:gauges:)``
/// adds what changed since the last update to the registry's counters, on a timer and before
/// each scrape, so the forwarding path never takes a metrics lock per datagram. Counters of the
/// data-plane loops carry a `loop` label (1, 2, …), so skew between loops shows; the control
/// loop's own have none, except its datagram counters (WebSocket members' datagrams, PROTOCOL.md
/// §7), which carry `loop="0"`.
final class RelayMetrics {
    /// The registry the endpoint renders.
    let registry = PrometheusCollectorRegistry()
    private var lastControl = RelayCounters()
    private var lastLoops: [RelayCounters]

    /// A counter: its Prometheus name, its `# HELP` text and where ``RelayCounters`` keeps it.
    typealias CounterEntry = (name: String, help: String, value: KeyPath<RelayCounters, UInt64> & Sendable)

    /// The counters each data-plane loop keeps. Byte counters follow Prometheus' unit-suffix
    /// convention (`…_bytes_total`); their earlier names stay one release as exact duplicates.
    static let loopCounters: [CounterEntry] = [
        ("gamerelay_datagrams_received_total", "UDP datagrams received on the relay's data sockets.", \.datagramsReceived),
        ("gamerelay_received_bytes_total", "UDP payload bytes received on the relay's data sockets.", \.bytesReceived),
        ("gamerelay_bytes_received_total", deprecated("gamerelay_received_bytes_total"), \.bytesReceived),
        ("gamerelay_datagrams_forwarded_total", "DATA datagrams forwarded to members, one per target.", \.datagramsForwarded),
        ("gamerelay_forwarded_bytes_total", "Bytes of DATA forwarded to members, one copy per target.", \.bytesForwarded),
        ("gamerelay_bytes_forwarded_total", deprecated("gamerelay_forwarded_bytes_total"), \.bytesForwarded),
        ("gamerelay_pongs_sent_total", "PONG datagrams sent in answer to PING.", \.pongsSent),
        ("gamerelay_bind_acks_sent_total", "BIND_ACK datagrams sent, with or without a cookie.", \.bindAcksSent),
        ("gamerelay_binds_total", "Members bound to a UDP address for the first time, or again after an idle unbind.", \.binds),
        ("gamerelay_rebinds_total", "Members that moved their UDP binding to a new address.", \.rebinds),
        ("gamerelay_idle_unbinds_total", "UDP bindings removed after idling.", \.idleUnbinds),
        ("gamerelay_send_failures_total", "Datagrams the kernel refused to send (buffer full); each was dropped.", \.sendFailures),
        ("gamerelay_aggregates_sent_total", "AGGREGATE datagrams sent to members of tick sessions.", \.aggregatesSent),
        ("gamerelay_aggregate_sent_bytes_total", "Bytes of AGGREGATE datagrams sent to members of tick sessions, headers included.", \.aggregateBytesSent),
        ("gamerelay_aggregate_bytes_sent_total", deprecated("gamerelay_aggregate_sent_bytes_total"), \.aggregateBytesSent),
        ("gamerelay_states_superseded_total", "Pending states of tick sessions replaced by a newer one before a tick sent them (not a drop).", \.statesSuperseded),
        ("gamerelay_udp_receive_errors_total", "Errors receiving on a relay UDP socket.", \.udpReceiveErrors),
        ("gamerelay_udp_receive_queue_drops_total", "Datagrams the kernel dropped at a relay UDP socket whose receive queue was full (SO_MEMINFO, read every second).", \.udpReceiveQueueDrops),
    ]
    /// The control loop's counters.
    static let controlCounters: [CounterEntry] = [
        ("gamerelay_control_connections_accepted_total", "TCP control connections accepted.", \.controlConnectionsAccepted),
        ("gamerelay_sessions_created_total", "Sessions created.", \.sessionsCreated),
        ("gamerelay_sessions_closed_total", "Sessions deleted.", \.sessionsClosed),
        ("gamerelay_joins_total", "Successful joins.", \.joins),
        ("gamerelay_leaves_total", "Memberships ended, whatever the reason.", \.leaves),
        ("gamerelay_control_turns_yielded_total", "Times a control connection used its per-turn message budget and yielded to the others.", \.controlTurnsYielded),
        ("gamerelay_control_read_pauses_total", "Times a control connection's reading paused because its peer left replies unread.", \.controlReadPauses),
        ("gamerelay_control_connections_over_backlog_total", "Control connections dropped for leaving more than the unread-output cap.", \.controlConnectionsOverBacklog),
        ("gamerelay_closing_sent_total", "closing events sent before the relay closed a connection on its own.", \.closingSent),
        ("gamerelay_accept_errors_total", "Failed accepts on the control or metrics port (EMFILE among them).", \.acceptErrors),
        ("gamerelay_tls_handshakes_total", "TLS handshakes completed on the control port.", \.tlsHandshakes),
        ("gamerelay_tls_required_refusals_total", "Plain control connections (and plain WebSocket upgrades) refused for TLS.", \.tlsRequiredRefusals),
        ("gamerelay_websocket_upgrades_total", "WebSocket upgrades answered 101 on the control port.", \.webSocketUpgrades),
    ]

    /// The `# HELP` text of a name kept one release after its rename.
    private static func deprecated(_ replacement: String) -> String {
        "Deprecated name of \(replacement), the same value; removed in the next release."
    }

    /// `# HELP` texts of the families that are not plain per-loop or control counters.
    static let help: [String: String] = [
        "gamerelay_datagrams_dropped_total": "Datagrams the relay dropped, by reason.",
        "gamerelay_limit_refusals_total": "Connections closed at accept and requests answered rate_limited, by limit.",
        "gamerelay_sources": "IP addresses the per-source limits are tracking.",
        "gamerelay_sessions": "Live sessions.",
        "gamerelay_members": "Members of live sessions.",
        "gamerelay_bound_members": "Members with a bound UDP address.",
        "gamerelay_tick_sessions": "Tick sessions with their tick timer running.",
        "gamerelay_control_connections": "Open control connections.",
        "gamerelay_control_connection_limit": "The most control connections at once: --max-connections, or fewer if the descriptor limit is lower.",
        "gamerelay_draining": "1 while the relay drains (after SIGTERM or SIGINT), else 0.",
        "gamerelay_tls_handshake_failures_total": "Failed TLS handshakes on the control port, by reason.",
        "gamerelay_tls_reloads_total": "Certificate reloads on SIGHUP, by result.",
        "gamerelay_tls_connections": "Open control connections inside TLS.",
        "gamerelay_tls_certificate_expiry_timestamp_seconds": "The served leaf certificate's notAfter, in seconds since 1970; 0 without TLS.",
        "gamerelay_receive_batch_duration_seconds": "Time the relay spends on one receive batch, from its first datagram to its last send.",
        "gamerelay_build_info": "Always 1; the version label is the relay's version.",
        "gamerelay_websocket_connections": "Open control connections upgraded to a WebSocket.",
        "gamerelay_websocket_unsent_bytes": "Output written to WebSocket connections and not yet taken by the kernel, all together.",
        "gamerelay_websocket_upgrades_refused_total": "HTTP requests on the control port answered with a refusal instead of an upgrade, by status.",
        "gamerelay_websocket_error_closes_total": "WebSocket connections the relay closed for what the client sent, by close code (1002 protocol error, 1007 invalid UTF-8, 1009 message too large).",
    ]

    private let control: [Prometheus.Counter]
    /// Per data-plane loop: its counters, then its drops by reason.
    private let loops: [(counters: [Prometheus.Counter], drops: [Prometheus.Counter])]
    private let refusals: [Prometheus.Counter]
    private let sources: Prometheus.Gauge
    private let sessions: Prometheus.Gauge
    private let members: Prometheus.Gauge
    private let boundMembers: Prometheus.Gauge
    private let tickSessions: Prometheus.Gauge
    private let controlConnections: Prometheus.Gauge
    private let controlConnectionLimit: Prometheus.Gauge
    private let draining: Prometheus.Gauge
    private let tlsFailures: [Prometheus.Counter]
    private let tlsReloads: (ok: Prometheus.Counter, error: Prometheus.Counter)
    private let tlsConnections: Prometheus.Gauge
    private let tlsExpiry: Prometheus.Gauge
    private let webSocketConnections: Prometheus.Gauge
    private let webSocketUnsent: Prometheus.Gauge
    private let webSocketRefusals: [Prometheus.Counter]
    private let webSocketErrorCloses: [Prometheus.Counter]
    /// How long the relay spends on one receive batch, from its first datagram to its last send.
    let batchDuration: CoreMetrics.Timer
    /// The process' own figures (`process_*`), read from `/proc/self` on each render.
    private let process = ProcessMetrics()

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
        /// Open control connections upgraded to a WebSocket.
        var webSocketConnections = 0
        /// Their unsent output, all together.
        var webSocketUnsentBytes = 0
    }

    /// Metrics for a relay with `loops` data-plane loops.
    init(loops loopCount: Int) {
        let registry = self.registry
        // Names are written whole, so a family is easy to grep for; the descriptor only carries them.
        func name(_ name: String, _ help: String) -> MetricNameDescriptor {
            MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
        }
        func counter(_ full: String, _ help: String, _ labels: [(String, String)] = []) -> Prometheus.Counter {
            registry.makeCounter(descriptor: name(full, help), labels: labels)
        }
        func counter(_ name: String, _ labels: [(String, String)]) -> Prometheus.Counter {
            counter(name, Self.help[name]!, labels)
        }
        func gauge(_ name: String, _ labels: [(String, String)] = []) -> Prometheus.Gauge {
            registry.makeGauge(descriptor: MetricNameDescriptor(metricName: name, unitName: "", helpText: Self.help[name]!), labels: labels)
        }
        control = Self.controlCounters.map { counter($0.name, $0.help) }
        // Index 0 is the control loop, which counts WebSocket members' datagrams.
        loops = (0...max(1, loopCount)).map { index in
            let loop = ("loop", "\(index)")
            return (Self.loopCounters.map { counter($0.name, $0.help, [loop]) },
                    DropReason.all.map { counter("gamerelay_datagrams_dropped_total", [loop, ("reason", $0.name)]) })
        }
        lastLoops = Array(repeating: RelayCounters(), count: max(1, loopCount) + 1)
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
        webSocketConnections = gauge("gamerelay_websocket_connections")
        webSocketUnsent = gauge("gamerelay_websocket_unsent_bytes")
        webSocketRefusals = WebSocketHandshake.Status.allCases.filter { $0 != .switchingProtocols }.map {
            counter("gamerelay_websocket_upgrades_refused_total", [("status", "\($0.rawValue)")])
        }
        webSocketErrorCloses = RelayCounters.webSocketErrorCodes.map {
            counter("gamerelay_websocket_error_closes_total", [("code", "\($0.rawValue)")])
        }
        gauge("gamerelay_build_info", [("version", RelayConfig.version)]).set(to: 1)
        // Forwarding takes microseconds: the default buckets (5 ms and up) would put every batch in the first.
        let histogram = registry.makeDurationHistogram(
            descriptor: name("gamerelay_receive_batch_duration_seconds", Self.help["gamerelay_receive_batch_duration_seconds"]!),
            buckets: [
                .microseconds(5), .microseconds(10), .microseconds(25), .microseconds(50), .microseconds(100),
                .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5),
                .milliseconds(10), .milliseconds(50),
            ])
        batchDuration = CoreMetrics.Timer(label: "gamerelay_receive_batch_duration_seconds", dimensions: [], handler: histogram)
    }

    /// Adds the growth of the control loop's and each data-plane loop's counters since the last
    /// update, and sets the gauges.
    func update(control counters: RelayCounters, loops loopCounters: [RelayCounters], gauges: Gauges) {
        func add(_ counter: Prometheus.Counter, _ now: UInt64, _ before: UInt64) {
            if now > before { counter.increment(by: Int64(clamping: now - before)) }
        }
        for (entry, counter) in zip(Self.controlCounters, control) { add(counter, counters[keyPath: entry.value], lastControl[keyPath: entry.value]) }
        for (limit, counter) in zip(RelayLimit.allCases, refusals) { add(counter, counters.refusals(limit), lastControl.refusals(limit)) }
        for (reason, counter) in zip(TLSFailure.Reason.all, tlsFailures) {
            add(counter, counters.tlsHandshakeFailures(reason), lastControl.tlsHandshakeFailures(reason))
        }
        add(tlsReloads.ok, counters.tlsReloads, lastControl.tlsReloads)
        add(tlsReloads.error, counters.tlsReloadFailures, lastControl.tlsReloadFailures)
        for (status, counter) in zip(WebSocketHandshake.Status.allCases.filter({ $0 != .switchingProtocols }), webSocketRefusals) {
            add(counter, counters.webSocketRefusals(status), lastControl.webSocketRefusals(status))
        }
        for (code, counter) in zip(RelayCounters.webSocketErrorCodes, webSocketErrorCloses) {
            add(counter, counters.webSocketClosesForError(code), lastControl.webSocketClosesForError(code))
        }
        lastControl = counters
        for (index, (now, metrics)) in zip([counters] + loopCounters, loops).enumerated() {
            let before = lastLoops[index]
            for (entry, counter) in zip(Self.loopCounters, metrics.counters) { add(counter, now[keyPath: entry.value], before[keyPath: entry.value]) }
            for (reason, counter) in zip(DropReason.all, metrics.drops) { add(counter, now.drops(reason), before.drops(reason)) }
            lastLoops[index] = now
        }
        sessions.set(to: Double(gauges.sessions))
        members.set(to: Double(gauges.members))
        boundMembers.set(to: Double(gauges.boundMembers))
        tickSessions.set(to: Double(gauges.tickSessions))
        controlConnections.set(to: Double(gauges.controlConnections))
        controlConnectionLimit.set(to: Double(gauges.controlConnectionLimit))
        sources.set(to: Double(gauges.sources))
        draining.set(to: gauges.draining ? 1 : 0)
        tlsConnections.set(to: Double(gauges.tlsConnections))
        tlsExpiry.set(to: Double(gauges.tlsCertificateExpiry))
        webSocketConnections.set(to: Double(gauges.webSocketConnections))
        webSocketUnsent.set(to: Double(gauges.webSocketUnsentBytes))
    }

    /// The Prometheus text exposition of every metric: the relay's families, then the process'.
    func render() -> [UInt8] {
        var buffer = registry.emitToBuffer()
        process.render(into: &buffer)
        return buffer
    }
}
