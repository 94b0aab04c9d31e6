/// The raw figures of one benchmark run, as the load generator collected them.
///
/// Counters cover the measured window only (after warm-up). ``BenchSummary`` derives the
/// reported figures from these; nothing here is computed.
public struct BenchMeasurements: Sendable {
    /// The number of relay sessions the generator opened.
    public var sessions: Int
    /// The number of members per session.
    public var members: Int
    /// The application payload per datagram, in bytes (without relay or UDP headers); the
    /// smallest when sizes vary per datagram.
    public var payloadBytes: Int
    /// The largest payload, in bytes, when sizes vary per datagram; nil when all are ``payloadBytes``.
    public var payloadBytesMax: Int? = nil
    /// The traffic profile the members followed, e.g. `"positions"` or `"voice"`.
    public var profile: String = "positions"
    /// The planned send rate of each member, in datagrams per second.
    public var ratePerMember: Double
    /// The number of receivers each datagram is forwarded to.
    public var fanout: Int
    /// The length of the measured window, in seconds, as measured.
    public var durationSeconds: Double
    /// The warm-up excluded before the measured window, in seconds.
    public var warmupSeconds: Double
    /// Where the relay ran: `"in-process"` or the address it was reached at.
    public var target: String
    /// The protocol spoken, e.g. `"gamerelay"`.
    public var protocolName: String
    /// Datagrams sent in the measured window.
    public var sent: UInt64
    /// Deliveries expected in the window: every sent datagram times its receivers.
    public var expected: UInt64
    /// Distinct deliveries received (duplicates excluded): one per DATA datagram, and in a
    /// tick session one per AGGREGATE entry (an *update*).
    public var delivered: UInt64
    /// Deliveries received more than once.
    public var duplicates: UInt64
    /// Deliveries received after a later sequence of the same sender.
    public var reordered: UInt64
    /// Sends the kernel refused (e.g. `ENOBUFS`, `EAGAIN`).
    public var sendFailures: UInt64
    /// One-way latency, corrected for coordinated omission.
    public var latency: LatencyRecorder
    /// Actual minus planned send time.
    public var sendLag: LatencyRecorder
    /// CPU time (user + system) the load generator used in the window, in nanoseconds.
    public var generatorCPUNanos: UInt64
    /// CPU time the relay used in the window, in nanoseconds, when known.
    public var relayCPUNanos: UInt64?
    /// The relay's peak resident set size, in bytes, when known.
    public var relayPeakRSSBytes: UInt64?
    /// Datagrams the relay dropped for its per-member rate limit; known only in-process.
    public var relayRateLimitDrops: UInt64?
    /// The relay's per-member packet rate limit, in datagrams per second, when known.
    public var memberPacketRateLimit: Double?
    /// Datagrams the kernel dropped at the relay's full receive queues in the window, when known.
    public var relaySocketDrops: UInt64? = nil
    /// Datagrams the kernel dropped at the generator's full receive queues in the window, when known.
    public var generatorSocketDrops: UInt64? = nil
    /// The final RFC 3550 interarrival jitter `J` of every stream (sender → receiver pair)
    /// that received at least two datagrams in the window, in nanoseconds (``InterarrivalJitter``).
    public var streamJitterNanos: [Double] = []
    /// How much the host's UDP receive-error counters rose over the window (every socket of
    /// the host, not only the run's), when `/proc/net/snmp` could be read.
    public var hostUDPErrors: UDPCounters? = nil
    /// The relay's resident set size before the members connected, in bytes, when known.
    public var relayRSSBeforeSetupBytes: UInt64? = nil
    /// The relay's resident set size once every member was joined and bound, in bytes, when known.
    public var relayRSSAfterSetupBytes: UInt64? = nil
    /// The sessions' tick rate in Hz when they were tick sessions (PROTOCOL.md §8), else nil.
    public var tick: Int? = nil
    /// Whether every DATA carried the LATEST flag (always in tick runs).
    public var latest: Bool = false
    /// In a tick run, the datagrams that carried the deliveries: AGGREGATEs (each holding
    /// several updates) plus any DATA forwarded at once; nil otherwise (one datagram each).
    public var datagramsReceived: UInt64? = nil
    /// In a tick run, the pending states the relay replaced with a newer one before a tick sent
    /// them (its `statesSuperseded` counter over the window), when known. Each is one update
    /// that none of its ``fanout`` receivers gets, by design rather than by loss.
    public var superseded: UInt64? = nil
    /// Outside tick runs, the datagrams the relay itself says it forwarded over the window (its
    /// `datagramsForwarded` counter), when known: what its CPU bought, whether or not the
    /// generator kept up with receiving them.
    public var relayForwarded: UInt64? = nil
    /// The members of each session that joined over a WebSocket (PROTOCOL.md §7), when any did.
    public var webSocketMembers: Int? = nil
    /// With ``webSocketMembers``: the deliveries to the WebSocket members.
    public var deliveredToWebSocket: BenchPathMeasurements? = nil
    /// With ``webSocketMembers``: the deliveries to the UDP members.
    public var deliveredToUDP: BenchPathMeasurements? = nil
    /// When the run started, as an ISO 8601 date.
    public var startedAt: String
    /// Free text describing the machine (CPU, cores, kernel).
    public var hardware: String

    /// Creates a set of measurements; every property is set from the parameter of the same name.
    public init(
        sessions: Int,
        members: Int,
        payloadBytes: Int,
        payloadBytesMax: Int? = nil,
        profile: String = "positions",
        ratePerMember: Double,
        fanout: Int,
        durationSeconds: Double,
        warmupSeconds: Double,
        target: String,
        protocolName: String = "gamerelay",
        sent: UInt64,
        expected: UInt64,
        delivered: UInt64,
        duplicates: UInt64,
        reordered: UInt64,
        sendFailures: UInt64,
        latency: LatencyRecorder,
        sendLag: LatencyRecorder,
        generatorCPUNanos: UInt64,
        relayCPUNanos: UInt64? = nil,
        relayPeakRSSBytes: UInt64? = nil,
        relayRateLimitDrops: UInt64? = nil,
        memberPacketRateLimit: Double? = nil,
        relaySocketDrops: UInt64? = nil,
        generatorSocketDrops: UInt64? = nil,
        streamJitterNanos: [Double] = [],
        hostUDPErrors: UDPCounters? = nil,
        relayRSSBeforeSetupBytes: UInt64? = nil,
        relayRSSAfterSetupBytes: UInt64? = nil,
        tick: Int? = nil,
        latest: Bool = false,
        datagramsReceived: UInt64? = nil,
        superseded: UInt64? = nil,
        relayForwarded: UInt64? = nil,
        webSocketMembers: Int? = nil,
        deliveredToWebSocket: BenchPathMeasurements? = nil,
        deliveredToUDP: BenchPathMeasurements? = nil,
        startedAt: String,
        hardware: String
    ) {
        self.sessions = sessions
        self.members = members
        self.payloadBytes = payloadBytes
        self.payloadBytesMax = payloadBytesMax
        self.profile = profile
        self.ratePerMember = ratePerMember
        self.fanout = fanout
        self.durationSeconds = durationSeconds
        self.warmupSeconds = warmupSeconds
        self.target = target
        self.protocolName = protocolName
        self.sent = sent
        self.expected = expected
        self.delivered = delivered
        self.duplicates = duplicates
        self.reordered = reordered
        self.sendFailures = sendFailures
        self.latency = latency
        self.sendLag = sendLag
        self.generatorCPUNanos = generatorCPUNanos
        self.relayCPUNanos = relayCPUNanos
        self.relayPeakRSSBytes = relayPeakRSSBytes
        self.relayRateLimitDrops = relayRateLimitDrops
        self.memberPacketRateLimit = memberPacketRateLimit
        self.relaySocketDrops = relaySocketDrops
        self.generatorSocketDrops = generatorSocketDrops
        self.streamJitterNanos = streamJitterNanos
        self.hostUDPErrors = hostUDPErrors
        self.relayRSSBeforeSetupBytes = relayRSSBeforeSetupBytes
        self.relayRSSAfterSetupBytes = relayRSSAfterSetupBytes
        self.tick = tick
        self.latest = latest
        self.datagramsReceived = datagramsReceived
        self.superseded = superseded
        self.relayForwarded = relayForwarded
        self.webSocketMembers = webSocketMembers
        self.deliveredToWebSocket = deliveredToWebSocket
        self.deliveredToUDP = deliveredToUDP
        self.startedAt = startedAt
        self.hardware = hardware
    }
}
