/// The reported figures of one benchmark run, derived from ``BenchMeasurements``.
///
/// Latencies are in microseconds, rates in datagrams per second. Optional figures are `nil`
/// when the generator could not know them (e.g. relay CPU for a remote target); the JSON
/// form omits their keys. ``BenchReport`` formats a summary as a table or JSON.
public struct BenchSummary: Codable, Sendable, Equatable {
    // MARK: Workload

    /// The number of relay sessions.
    public var sessions: Int
    /// The number of members per session.
    public var members: Int
    /// The payload per datagram, in bytes; the smallest when sizes vary per datagram.
    public var payloadBytes: Int
    /// The largest payload, in bytes, when sizes vary per datagram.
    public var payloadBytesMax: Int?
    /// The traffic profile: `"positions"` or `"voice"`.
    public var profile: String
    /// The planned send rate of each member, in datagrams per second.
    public var ratePerMember: Double
    /// The number of receivers each datagram is forwarded to.
    public var fanout: Int
    /// The measured window, in seconds.
    public var durationSeconds: Double
    /// The warm-up before the window, in seconds.
    public var warmupSeconds: Double
    /// Where the relay ran: `"in-process"` or an address.
    public var target: String
    /// The protocol spoken.
    public var protocolName: String
    /// When the run started (ISO 8601).
    public var startedAt: String
    /// Free text describing the machine.
    public var hardware: String
    /// The relay's per-member packet rate limit, in datagrams per second, when known.
    public var memberPacketRateLimit: Double?
    /// The sessions' tick rate in Hz in a tick run (PROTOCOL.md §8); nil (and absent from the
    /// JSON) for ordinary sessions, as are the other tick figures below.
    public var tick: Int?
    /// `true` when every DATA carried the LATEST flag (always in tick runs); nil (and absent
    /// from the JSON) otherwise.
    public var latest: Bool?

    // MARK: Delivery

    /// Datagrams sent in the window.
    public var sent: UInt64
    /// Deliveries expected in the window.
    public var expected: UInt64
    /// Distinct deliveries received.
    public var delivered: UInt64
    /// Deliveries received more than once.
    public var duplicates: UInt64
    /// Deliveries received out of order.
    public var reordered: UInt64
    /// Sends the kernel refused.
    public var sendFailures: UInt64
    /// Datagrams the relay dropped for its per-member rate limit, when known.
    public var relayRateLimitDrops: UInt64?
    /// Datagrams the kernel dropped at the relay's full receive queues, when known: the relay fell behind.
    public var relaySocketDrops: UInt64?
    /// Datagrams the kernel dropped at the generator's full receive queues, when known: the generator fell behind.
    public var generatorSocketDrops: UInt64?
    /// `lost / expected × 100`, with `lost = expected − delivered` outside tick runs and
    /// ``lost`` in them; in a tick run whose ``superseded`` is unknown, ``notDelivered`` takes
    /// its place (an upper bound, with a warning). `0` when nothing was expected, never negative.
    public var lossPercent: Double
    /// Tick runs: pending states the relay replaced before a tick sent them, when known.
    /// Superseding is what aggregation is for, not a failure; each one is an update that none
    /// of the ``fanout`` receivers gets.
    public var superseded: UInt64?
    /// Tick runs: `superseded × fanout`, the deliveries superseding accounts for, when known.
    public var supersededDeliveries: UInt64?
    /// Tick runs: `expected − delivered`, every delivery not made: superseded or lost.
    public var notDelivered: UInt64?
    /// Tick runs: `expected − delivered − superseded × fanout` (never below 0), when
    /// ``superseded`` is known: the deliveries lost.
    public var lost: UInt64?
    /// The rise of the host's UDP `RcvbufErrors` (IPv4 + IPv6) over the window, when known.
    /// Host-wide: every process's sockets count, not only the relay's and the generator's.
    public var hostUDPRcvbufErrors: UInt64?
    /// The rise of the host's UDP `InErrors` (IPv4 + IPv6) over the window, when known;
    /// includes ``hostUDPRcvbufErrors``. Host-wide, like it.
    public var hostUDPInErrors: UInt64?

    // MARK: Latency

    /// One-way latency, median, in microseconds.
    public var latencyP50Micros: Double
    /// One-way latency, 90th percentile, in microseconds.
    public var latencyP90Micros: Double
    /// One-way latency, 99th percentile, in microseconds.
    public var latencyP99Micros: Double
    /// One-way latency, 99.9th percentile, in microseconds.
    public var latencyP999Micros: Double
    /// The highest one-way latency, in microseconds.
    public var latencyMaxMicros: Double
    /// The mean one-way latency, in microseconds.
    public var latencyMeanMicros: Double
    /// Latency samples, including those added by coordinated-omission correction.
    public var latencySamples: UInt64
    /// Latency samples above 60 s, recorded as 60 s.
    public var latencyClampedSamples: UInt64
    /// Send lag (actual minus planned send time), 99th percentile, in microseconds.
    public var sendLagP99Micros: Double

    // MARK: Jitter

    /// The streams (sender → receiver pairs) with a jitter figure: those that received at
    /// least two datagrams in the window.
    public var jitterStreams: Int
    /// The median over the streams of the final RFC 3550 interarrival jitter, in
    /// microseconds; nil without a stream.
    public var jitterP50Micros: Double?
    /// The 99th percentile over the streams of the final RFC 3550 interarrival jitter, in
    /// microseconds; nil without a stream.
    public var jitterP99Micros: Double?

    // MARK: Throughput and cost

    /// `sent / durationSeconds`; `0` for an empty window.
    public var offeredPacketsPerSecond: Double
    /// `delivered / durationSeconds`; `0` for an empty window. In a tick run, updates per
    /// second (AGGREGATE entries), not datagrams: see ``datagramsReceivedPerSecond``.
    public var deliveredPacketsPerSecond: Double
    /// Relay CPU microseconds per delivery (``delivered``: a datagram, or in a tick run an
    /// update); `nil` when unknown or nothing was delivered.
    public var relayCPUMicrosPerForwarded: Double?
    /// Tick runs: the same figure named for what a tick run delivers: relay CPU microseconds per
    /// delivered update, however many updates shared an AGGREGATE.
    public var relayCPUMicrosPerUpdate: Double?
    /// Outside tick runs: the datagrams the relay says it forwarded over the window, when read
    /// from it (an in-process relay, or `--relay-metrics`).
    public var relayForwarded: UInt64?
    /// Relay CPU microseconds per datagram the relay forwarded (``relayForwarded``): unlike
    /// ``relayCPUMicrosPerForwarded``, not inflated when the generator falls behind receiving.
    public var relayCPUMicrosPerRelayForwarded: Double?
    /// Tick runs: the datagrams that carried the updates (AGGREGATEs, and any DATA forwarded at once).
    public var datagramsReceived: UInt64?
    /// Tick runs: `datagramsReceived / durationSeconds`, beside ``deliveredPacketsPerSecond``,
    /// which counts updates.
    public var datagramsReceivedPerSecond: Double?
    /// Generator CPU time over the window, in percent of one core (may exceed 100).
    public var generatorCPUPercent: Double
    /// The relay's peak resident set size in bytes, when known.
    public var relayPeakRSSBytes: UInt64?
    /// How much the relay's resident set grew while the members connected, joined and bound,
    /// in bytes, when known; negative if it shrank.
    public var relaySetupRSSGrowthBytes: Int64?
    /// ``relayPeakRSSBytes`` in MiB (2²⁰ bytes).
    ///
    /// - Note: Deprecated, kept one release for scripts that read the JSON: despite its name the
    ///   value is in MiB. Use ``relayPeakRSSBytes``.
    public var relayPeakRSSMB: Double?
    /// ``relaySetupRSSGrowthBytes`` in MB (10⁶ bytes).
    ///
    /// - Note: Deprecated, kept one release for scripts that read the JSON; the report shows
    ///   MiB. Use ``relaySetupRSSGrowthBytes``.
    public var relaySetupRSSGrowthMB: Double?

    // MARK: Transports

    /// The members of each session that joined over a WebSocket (PROTOCOL.md §7); nil (and
    /// absent from the JSON, with the two figures below) when every member used UDP.
    public var webSocketMembers: Int?
    /// Deliveries to the WebSocket members and their one-way latency; nil when there were none.
    public var deliveredToWebSocket: BenchPathSummary?
    /// Deliveries to the UDP members and their one-way latency, beside
    /// ``deliveredToWebSocket``; nil when every member used a WebSocket or none did.
    public var deliveredToUDP: BenchPathSummary?

    /// Reasons not to take the figures at face value, one sentence each; empty when none apply.
    ///
    /// See ``BenchSummary/init(_:)`` for the conditions.
    public var warnings: [String]

    /// Derives the summary of a run.
    ///
    /// Warnings are added, in this order, when:
    /// - the send lag p99 exceeds the planned send interval `1 / ratePerMember`
    ///   ("generator-bound: send lag p99 X µs exceeds the send interval Y µs"), or, for
    ///   intervals under 5 ms, exceeds 5 ms ("generator-bound: send lag p99 X µs exceeds 5000.0 µs,
    ///   five ticks of the generator's 1 ms clock"): the generator sends on a 1 ms tick, so a lag
    ///   of a tick or two is its schedule, a longer one a backlog;
    /// - the generator used more than 90 % of a core
    ///   ("generator-bound: the load generator used Z % of a core");
    /// - the kernel dropped datagrams at the generator's receive queues
    ///   ("generator-bound: N datagrams dropped at the generator's full receive queues");
    /// - the relay dropped datagrams for its per-member rate limit
    ///   ("rate-limited: N datagrams dropped by the relay's per-member rate limit");
    /// - the offered per-member rate exceeds the relay's known per-member limit
    ///   ("rate-limited?: the offered per-member rate R/s exceeds the relay's per-member
    ///   limit L/s; losses are the limit, not capacity");
    /// - the kernel refused sends ("send failures: N datagrams the kernel refused");
    /// - latency samples exceeded 60 s and were clamped
    ///   ("clamped: N latency samples exceeded 60 s and were recorded as 60 s");
    /// - a tick run could not read the relay's superseded count ("superseded unknown: …"):
    ///   its loss then counts superseded states as well.
    ///
    /// - Parameter m: The raw figures of the run.
    public init(_ m: BenchMeasurements) {
        sessions = m.sessions
        members = m.members
        payloadBytes = m.payloadBytes
        payloadBytesMax = m.payloadBytesMax
        profile = m.profile
        ratePerMember = m.ratePerMember
        fanout = m.fanout
        durationSeconds = m.durationSeconds
        warmupSeconds = m.warmupSeconds
        target = m.target
        protocolName = m.protocolName
        startedAt = m.startedAt
        hardware = m.hardware
        memberPacketRateLimit = m.memberPacketRateLimit
        tick = m.tick
        latest = m.latest || m.tick != nil ? true : nil

        sent = m.sent
        expected = m.expected
        delivered = m.delivered
        duplicates = m.duplicates
        reordered = m.reordered
        sendFailures = m.sendFailures
        relayRateLimitDrops = m.relayRateLimitDrops
        relaySocketDrops = m.relaySocketDrops
        generatorSocketDrops = m.generatorSocketDrops
        hostUDPRcvbufErrors = m.hostUDPErrors?.receiveBufferErrors
        hostUDPInErrors = m.hostUDPErrors?.inErrors
        let missing = m.expected > m.delivered ? m.expected - m.delivered : 0
        if m.tick != nil {
            let accounted = m.superseded.map { $0.multipliedReportingOverflow(by: UInt64(Swift.max(m.fanout, 0))).partialValue }
            superseded = m.superseded
            supersededDeliveries = accounted
            notDelivered = missing
            lost = accounted.map { missing > $0 ? missing - $0 : 0 }
        } else {
            superseded = nil
            supersededDeliveries = nil
            notDelivered = nil
            lost = nil
        }
        let lossCount = lost ?? missing
        lossPercent = m.expected == 0 ? 0 : Double(lossCount) / Double(m.expected) * 100

        latencyP50Micros = Self.micros(m.latency.percentile(50))
        latencyP90Micros = Self.micros(m.latency.percentile(90))
        latencyP99Micros = Self.micros(m.latency.percentile(99))
        latencyP999Micros = Self.micros(m.latency.percentile(99.9))
        latencyMaxMicros = Self.micros(m.latency.max)
        latencyMeanMicros = m.latency.mean / 1_000
        latencySamples = m.latency.count
        latencyClampedSamples = m.latency.clampedCount
        sendLagP99Micros = Self.micros(m.sendLag.percentile(99))

        let jitters = m.streamJitterNanos.sorted()
        jitterStreams = jitters.count
        jitterP50Micros = Self.nearestRank(50, of: jitters).map { $0 / 1_000 }
        jitterP99Micros = Self.nearestRank(99, of: jitters).map { $0 / 1_000 }

        let window = m.durationSeconds > 0 ? m.durationSeconds : 0
        offeredPacketsPerSecond = window > 0 ? Double(m.sent) / window : 0
        deliveredPacketsPerSecond = window > 0 ? Double(m.delivered) / window : 0
        if let cpu = m.relayCPUNanos, m.delivered > 0 {
            relayCPUMicrosPerForwarded = Double(cpu) / 1_000 / Double(m.delivered)
        } else {
            relayCPUMicrosPerForwarded = nil
        }
        relayCPUMicrosPerUpdate = m.tick != nil ? relayCPUMicrosPerForwarded : nil
        relayForwarded = m.tick == nil ? m.relayForwarded : nil
        if let cpu = m.relayCPUNanos, let forwarded = relayForwarded, forwarded > 0 {
            relayCPUMicrosPerRelayForwarded = Double(cpu) / 1_000 / Double(forwarded)
        } else {
            relayCPUMicrosPerRelayForwarded = nil
        }
        datagramsReceived = m.tick != nil ? m.datagramsReceived : nil
        datagramsReceivedPerSecond = datagramsReceived.map { window > 0 ? Double($0) / window : 0 }
        generatorCPUPercent = window > 0 ? Double(m.generatorCPUNanos) / (window * 1e7) : 0
        relayPeakRSSBytes = m.relayPeakRSSBytes
        relayPeakRSSMB = m.relayPeakRSSBytes.map { Double($0) / 1_048_576 }
        if let before = m.relayRSSBeforeSetupBytes, let after = m.relayRSSAfterSetupBytes {
            relaySetupRSSGrowthBytes = Int64(clamping: after) &- Int64(clamping: before)
            relaySetupRSSGrowthMB = (Double(after) - Double(before)) / 1e6
        } else {
            relaySetupRSSGrowthBytes = nil
            relaySetupRSSGrowthMB = nil
        }

        webSocketMembers = m.webSocketMembers.flatMap { $0 > 0 ? $0 : nil }
        deliveredToWebSocket = webSocketMembers == nil ? nil : m.deliveredToWebSocket.flatMap { $0.membersPerSession > 0 ? BenchPathSummary($0) : nil }
        deliveredToUDP = webSocketMembers == nil ? nil : m.deliveredToUDP.flatMap { $0.membersPerSession > 0 ? BenchPathSummary($0) : nil }

        warnings = []
        warnings = computeWarnings()
    }

    /// The nearest-rank percentile of `sorted`: the smallest value that at least `p` % of the
    /// values are at or below; nil when empty.
    static func nearestRank(_ p: Double, of sorted: [Double]) -> Double? {
        guard !sorted.isEmpty else { return nil }
        let rank = Int((p / 100 * Double(sorted.count)).rounded(.up))
        return sorted[Swift.min(Swift.max(rank, 1), sorted.count) - 1]
    }

    private static func micros(_ nanoseconds: UInt64) -> Double {
        Double(nanoseconds) / 1_000
    }
}
