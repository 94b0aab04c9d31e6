/// The deliveries to one kind of receiving member (UDP or WebSocket) in a run whose sessions
/// mix both, as the load generator counted them; ``BenchPathSummary`` reports them.
///
/// A delivery belongs to the path of the member that received it, whoever sent it: a
/// WebSocket receiver's latency is the relay's forwarding plus its write to a TCP connection,
/// a UDP receiver's the same plus a datagram.
public struct BenchPathMeasurements: Sendable, Equatable {
    /// The members per session that receive over this path.
    public var membersPerSession: Int
    /// Deliveries to these members expected in the window: every sent message times the
    /// receivers of this kind it goes to.
    public var expected: UInt64
    /// Distinct deliveries these members received in the window.
    public var delivered: UInt64
    /// One-way latency of those deliveries, recorded as the run's overall latency is.
    public var latency: LatencyRecorder

    /// Creates the figures of one path; every property is set from the parameter of the same name.
    public init(membersPerSession: Int, expected: UInt64 = 0, delivered: UInt64 = 0, latency: LatencyRecorder = LatencyRecorder()) {
        self.membersPerSession = membersPerSession
        self.expected = expected
        self.delivered = delivered
        self.latency = latency
    }
}
