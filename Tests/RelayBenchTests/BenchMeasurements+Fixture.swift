import RelayBench

extension BenchMeasurements {
    /// A clean run: 50/s per member (20 ms interval), 10 µs send lag, 10 % generator CPU,
    /// 1 % loss (5 datagrams dropped at the relay's sockets), no rate limiting, no send failures,
    /// 1.5 MB of relay RSS growth during set-up; 120 streams with jitter 1 ... 120 µs; the
    /// host's UDP RcvbufErrors up by 7 and InErrors by 9.
    static func fixture() -> BenchMeasurements {
        var latency = LatencyRecorder()
        for micros in UInt64(1) ... 1_000 {
            latency.record(nanoseconds: micros * 1_000, expectedIntervalNanos: 20_000_000)
        }
        var sendLag = LatencyRecorder()
        for _ in 0 ..< 100 {
            sendLag.recordRaw(nanoseconds: 10_000)
        }
        return BenchMeasurements(
            sessions: 10,
            members: 4,
            payloadBytes: 64,
            ratePerMember: 50,
            fanout: 3,
            durationSeconds: 10,
            warmupSeconds: 2,
            target: "127.0.0.1:7400",
            protocolName: "gamerelay",
            sent: 3_000,
            expected: 1_000,
            delivered: 990,
            duplicates: 4,
            reordered: 2,
            sendFailures: 0,
            latency: latency,
            sendLag: sendLag,
            generatorCPUNanos: 1_000_000_000,
            relayCPUNanos: 2_000_000,
            relayPeakRSSBytes: 10 * 1_048_576,
            relayRateLimitDrops: 0,
            memberPacketRateLimit: 100,
            relaySocketDrops: 5,
            generatorSocketDrops: 0,
            streamJitterNanos: (1 ... 120).reversed().map { Double($0) * 1_000 },
            hostUDPErrors: UDPCounters(receiveBufferErrors: 7, inErrors: 9),
            relayRSSBeforeSetupBytes: 10_000_000,
            relayRSSAfterSetupBytes: 11_500_000,
            startedAt: "2025-01-02T03:04:05Z",
            hardware: "2 cores, Linux"
        )
    }
}
