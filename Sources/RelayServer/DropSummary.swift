import RelayWire

/// What the relay logs about dropped datagrams: one line per reason whose count rose since the
/// last summary, every ``interval``, and nothing when no datagram was dropped. A flood of bad
/// datagrams costs the log a few lines every ten seconds; `/metrics` carries every count.
struct DropSummary {
    /// How often the summary runs.
    static let interval = Duration.seconds(10)

    /// One line of a summary.
    struct Line: Equatable {
        /// The drop reason's name (`bad_token`, …, `receive_queue_full`, `send_failed`).
        var reason: String
        /// Drops since the last summary.
        var new: UInt64
        /// Drops since the start.
        var total: UInt64
    }

    private var reported: [String: UInt64] = [:]

    /// The lines for `counters`, and remembers their counts for the next summary.
    mutating func update(_ counters: RelayCounters) -> [Line] {
        var totals = DropReason.all.map { ($0.name, counters.drops($0)) }
        // The kernel's drops at a full receive queue, and sends the kernel refused, are drops too.
        totals.append(("receive_queue_full", counters.udpReceiveQueueDrops))
        totals.append(("send_failed", counters.sendFailures))
        var lines: [Line] = []
        for (reason, total) in totals {
            let last = reported[reason] ?? 0
            guard total > last else { continue }
            lines.append(Line(reason: reason, new: total - last, total: total))
            reported[reason] = total
        }
        return lines
    }
}
