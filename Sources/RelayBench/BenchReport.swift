import Foundation
import Histogram

/// Formats benchmark results for people (a text table, an SVG chart) and for tools (JSON,
/// the standard HdrHistogram `.hgrm` percentile distribution).
public enum BenchReport {
    /// The width labels are padded to in ``table(_:)``.
    private static let labelWidth = 26

    /// Renders a summary as an aligned text table in the manner of sockperf and wrk2.
    ///
    /// The table has a workload line, one-way latency percentiles in microseconds, the RFC 3550
    /// jitter percentiles over the streams, delivery counts (with the host-wide UDP
    /// `RcvbufErrors` and `InErrors`), throughput, costs, and one `WARNING:` line per entry of
    /// ``BenchSummary/warnings``. Unknown figures read `n/a`. A tick run counts updates
    /// (AGGREGATE entries) where others count datagrams, shows the datagrams received beside
    /// them, and splits the deliveries not made into superseded and lost (or says the split is
    /// unknown). A run whose sessions mix UDP and WebSocket members adds the latency
    /// percentiles and delivery of each receiving path beside the overall ones.
    ///
    /// - Parameter s: The summary to render.
    /// - Returns: The table, ending in a newline.
    public static func table(_ s: BenchSummary) -> String {
        var lines: [String] = []
        let payload = s.payloadBytesMax.map { "\(s.payloadBytes)–\($0) B payload (varying per datagram)" } ?? "\(s.payloadBytes) B payload"
        let tick = s.tick.map { ", tick \($0) Hz (LATEST broadcasts, aggregated)" } ?? (s.latest == true ? ", LATEST" : "")
        lines.append(
            "\(s.protocolName) bench, \(s.profile) profile: \(s.sessions) sessions × \(s.members) members, "
                + "\(payload), \(BenchFormat.number(s.ratePerMember))/s per member, fan-out \(s.fanout)\(tick)"
        )
        lines.append(
            "  target \(s.target), measured \(BenchFormat.fixed(s.durationSeconds, digits: 2)) s "
                + "after \(BenchFormat.fixed(s.warmupSeconds, digits: 2)) s warm-up, started \(s.startedAt)"
        )
        if !s.hardware.isEmpty {
            lines.append("  hardware: \(s.hardware)")
        }
        lines.append("")

        if s.tick != nil {
            lines.append("Latency, one-way per update (µs, send → arrival of the AGGREGATE carrying it)")
        } else {
            lines.append("Latency, one-way (µs, corrected for coordinated omission)")
        }
        let columns = ["p50", "p90", "p99", "p99.9", "max"]
        let values = [s.latencyP50Micros, s.latencyP90Micros, s.latencyP99Micros, s.latencyP999Micros, s.latencyMaxMicros]
        lines.append(columns.map { leftPad($0, to: 12) }.joined())
        lines.append(values.map { leftPad(BenchFormat.micros($0), to: 12) }.joined())
        lines.append(row("mean", "\(BenchFormat.micros(s.latencyMeanMicros)) µs over \(s.latencySamples) samples"))
        lines.append("")

        if s.webSocketMembers != nil {
            lines.append(contentsOf: transportRows(s))
            lines.append("")
        }

        lines.append("Jitter, RFC 3550 interarrival (µs, final J per sender → receiver stream)")
        lines.append(["p50", "p99"].map { leftPad($0, to: 12) }.joined())
        lines.append([s.jitterP50Micros, s.jitterP99Micros].map { leftPad($0.map(BenchFormat.micros) ?? "n/a", to: 12) }.joined())
        lines.append(row("streams", "\(s.jitterStreams)"))
        lines.append("")

        lines.append("Delivery")
        if s.tick != nil {
            lines.append(contentsOf: tickDelivery(s))
        } else {
            lines.append(row("delivered / expected", "\(s.delivered) / \(s.expected)"))
            lines.append(row("loss", "\(BenchFormat.percent(s.lossPercent)) %"))
        }
        lines.append(row("duplicates", "\(s.duplicates)"))
        lines.append(row("reordered", "\(s.reordered)"))
        lines.append(row("send failures", "\(s.sendFailures)"))
        lines.append(row("relay rate-limit drops", s.relayRateLimitDrops.map { "\($0)" } ?? "n/a"))
        lines.append(row("kernel drops at relay", s.relaySocketDrops.map { "\($0)" } ?? "n/a"))
        lines.append(row("kernel drops at generator", s.generatorSocketDrops.map { "\($0)" } ?? "n/a"))
        lines.append(row("host UDP RcvbufErrors", s.hostUDPRcvbufErrors.map { "\($0) (host-wide, all processes)" } ?? "n/a"))
        lines.append(row("host UDP InErrors", s.hostUDPInErrors.map { "\($0) (host-wide, all processes)" } ?? "n/a"))
        lines.append("")

        lines.append("Throughput")
        lines.append(row("offered", "\(BenchFormat.fixed(s.offeredPacketsPerSecond, digits: 1)) pkt/s (\(s.sent) sent)"))
        if s.tick != nil {
            lines.append(row("updates delivered", "\(BenchFormat.fixed(s.deliveredPacketsPerSecond, digits: 1)) /s"))
            let perDatagram = s.datagramsReceived.flatMap { $0 > 0 ? Double(s.delivered) / Double($0) : nil }
            lines.append(
                row("datagrams received", s.datagramsReceivedPerSecond.map { rate in
                    "\(BenchFormat.fixed(rate, digits: 1)) pkt/s" + (perDatagram.map { " (\(BenchFormat.fixed($0, digits: 1)) updates each)" } ?? "")
                } ?? "n/a")
            )
        } else {
            lines.append(row("delivered", "\(BenchFormat.fixed(s.deliveredPacketsPerSecond, digits: 1)) pkt/s"))
        }
        lines.append("")

        lines.append("Cost")
        lines.append(
            row(s.tick != nil ? "relay CPU per update" : "relay CPU per forwarded",
                s.relayCPUMicrosPerForwarded.map { "\(BenchFormat.fixed($0, digits: 3)) µs" } ?? "n/a")
        )
        if let perSent = s.relayCPUMicrosPerRelayForwarded, let forwarded = s.relayForwarded {
            lines.append(row("relay CPU per send", "\(BenchFormat.fixed(perSent, digits: 3)) µs (\(forwarded) sends by the relay's count)"))
        }
        lines.append(row("generator CPU", "\(BenchFormat.fixed(s.generatorCPUPercent, digits: 1)) % of a core"))
        // Memory in MiB (2²⁰ bytes) throughout; the JSON carries bytes.
        lines.append(row("relay peak RSS", s.relayPeakRSSBytes.map { "\(BenchFormat.fixed(Double($0) / 1_048_576, digits: 1)) MiB" } ?? "n/a"))
        lines.append(
            row("relay RSS growth, set-up", s.relaySetupRSSGrowthBytes.map {
                "\(BenchFormat.fixed(Double($0) / 1_048_576, digits: 2)) MiB for \(s.sessions * s.members) members"
            } ?? "n/a")
        )
        lines.append(row("send lag p99", "\(BenchFormat.micros(s.sendLagP99Micros)) µs"))

        if !s.warnings.isEmpty {
            lines.append("")
            lines.append(contentsOf: s.warnings.map { "WARNING: \($0)" })
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Encodes a summary as pretty-printed JSON with sorted keys.
    ///
    /// Keys are the property names of ``BenchSummary``; `nil` figures are omitted.
    ///
    /// - Parameter s: The summary to encode.
    /// - Returns: The JSON text, decodable back into an equal ``BenchSummary``.
    /// - Throws: `EncodingError.invalidValue` when a figure is not finite (e.g. an infinite
    ///   ``BenchSummary/ratePerMember``).
    public static func json(_ s: BenchSummary) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let data = try encoder.encode(s)
        return String(decoding: data, as: UTF8.self)
    }

    /// Renders the standard HdrHistogram percentile distribution (`.hgrm`) with values in
    /// microseconds, as HdrHistogram's plotter and `hdr-plot` read it.
    ///
    /// - Parameter latency: The distribution to render.
    /// - Returns: The header line, one line per percentile step up to the `1.000000000000`
    ///   line, and the `#[Mean …]`, `#[Max …]` and `#[Buckets …]` trailer.
    public static func hgrm(_ latency: LatencyRecorder) -> String {
        var output = ""
        latency.histogram.outputPercentileDistribution(to: &output, outputValueUnitScalingRatio: 1_000)
        return output
    }

    /// The latency and delivery of each receiving path in a run whose sessions mix UDP and
    /// WebSocket members: one line of percentiles per path, under the overall ones' columns.
    private static func transportRows(_ s: BenchSummary) -> [String] {
        var lines = ["By receiving member's transport (one-way µs; delivered / expected, loss)"]
        let paths = [("UDP", s.deliveredToUDP), ("WebSocket", s.deliveredToWebSocket)]
        lines.append(rightPad("", to: labelWidth + 2) + ["p50", "p90", "p99", "p99.9", "max"].map { leftPad($0, to: 12) }.joined())
        for (name, path) in paths {
            guard let path else { continue }
            let values = [path.latencyP50Micros, path.latencyP90Micros, path.latencyP99Micros, path.latencyP999Micros, path.latencyMaxMicros]
            lines.append(row("\(name), \(path.membersPerSession) per session", values.map { leftPad(BenchFormat.micros($0), to: 12) }.joined()))
        }
        for (name, path) in paths {
            guard let path else { continue }
            lines.append(row("to \(name) members", "\(path.delivered) / \(path.expected), loss \(BenchFormat.percent(path.lossPercent)) %, mean \(BenchFormat.micros(path.latencyMeanMicros)) µs"))
        }
        return lines
    }

    /// The delivery lines of a tick run: updates against expected deliveries, then what became
    /// of the rest: superseded at the relay (by design) or lost, or both together when the
    /// relay's superseded count is unknown.
    private static func tickDelivery(_ s: BenchSummary) -> [String] {
        func share(_ count: UInt64) -> String {
            s.expected > 0 ? "\(BenchFormat.percent(Double(count) / Double(s.expected) * 100)) %" : "0.00 %"
        }
        var lines = [row("updates / expected", "\(s.delivered) / \(s.expected)")]
        if let superseded = s.superseded, let deliveries = s.supersededDeliveries, let lost = s.lost {
            lines.append(row("superseded", "\(superseded) states × \(s.fanout) = \(deliveries) deliveries (\(share(deliveries))), replaced before a tick"))
            lines.append(row("loss", "\(BenchFormat.percent(s.lossPercent)) % (\(lost) deliveries)"))
        } else {
            lines.append(row("superseded", "unknown"))
            lines.append(row("not delivered", "\(s.notDelivered ?? 0) (\(share(s.notDelivered ?? 0))), superseded or lost"))
        }
        return lines
    }

    private static func row(_ label: String, _ value: String) -> String {
        "  " + rightPad(label, to: labelWidth) + value
    }

    static func leftPad(_ text: String, to width: Int) -> String {
        String(repeating: " ", count: Swift.max(0, width - text.count)) + text
    }

    static func rightPad(_ text: String, to width: Int) -> String {
        text + String(repeating: " ", count: Swift.max(0, width - text.count))
    }
}
