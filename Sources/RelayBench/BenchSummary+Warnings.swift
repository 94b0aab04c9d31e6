extension BenchSummary {
    /// The generator CPU share, in percent of one core, above which a run is generator-bound.
    static let generatorBoundCPUPercent = 90.0

    /// The send lag that counts as a backlog whatever the send interval, in microseconds: five
    /// ticks of the generator's 1 ms clock.
    static let generatorSendLagAllowanceMicros = 5_000.0

    /// The warnings that apply to the figures already set on `self`, in the documented order.
    func computeWarnings() -> [String] {
        var warnings: [String] = []
        if ratePerMember > 0 {
            let intervalMicros = 1e6 / ratePerMember
            if intervalMicros >= Self.generatorSendLagAllowanceMicros, sendLagP99Micros > intervalMicros {
                warnings.append(
                    "generator-bound: send lag p99 \(BenchFormat.micros(sendLagP99Micros)) µs "
                        + "exceeds the send interval \(BenchFormat.micros(intervalMicros)) µs"
                )
            } else if intervalMicros < Self.generatorSendLagAllowanceMicros, sendLagP99Micros > Self.generatorSendLagAllowanceMicros {
                warnings.append(
                    "generator-bound: send lag p99 \(BenchFormat.micros(sendLagP99Micros)) µs exceeds "
                        + "\(BenchFormat.micros(Self.generatorSendLagAllowanceMicros)) µs, five ticks of the generator's 1 ms clock"
                )
            }
        }
        if generatorCPUPercent > Self.generatorBoundCPUPercent {
            warnings.append(
                "generator-bound: the load generator used \(BenchFormat.fixed(generatorCPUPercent, digits: 1)) % of a core"
            )
        }
        if let drops = generatorSocketDrops, drops > 0 {
            warnings.append("generator-bound: \(drops) datagrams dropped at the generator's full receive queues")
        }
        if let drops = relayRateLimitDrops, drops > 0 {
            warnings.append("rate-limited: \(drops) datagrams dropped by the relay's per-member rate limit")
        }
        if let limit = memberPacketRateLimit, ratePerMember > limit {
            warnings.append(
                "rate-limited?: the offered per-member rate \(BenchFormat.number(ratePerMember))/s exceeds "
                    + "the relay's per-member limit \(BenchFormat.number(limit))/s; losses are the limit, not capacity"
            )
        }
        if sendFailures > 0 {
            warnings.append("send failures: \(sendFailures) datagrams the kernel refused")
        }
        if latencyClampedSamples > 0 {
            warnings.append("clamped: \(latencyClampedSamples) latency samples exceeded 60 s and were recorded as 60 s")
        }
        if tick != nil, superseded == nil {
            warnings.append(
                "superseded unknown: the relay's superseded count was not read, so the loss "
                    + "\(BenchFormat.percent(lossPercent)) % counts every delivery not made, superseded states included"
            )
        }
        return warnings
    }
}
