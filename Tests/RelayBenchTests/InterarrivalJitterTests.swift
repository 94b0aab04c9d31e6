import RelayBench
import Testing

@Suite("InterarrivalJitter (RFC 3550 §6.4.1)")
struct InterarrivalJitterTests {
    /// Milliseconds in nanoseconds.
    private static func ms(_ value: UInt64) -> UInt64 { value * 1_000_000 }

    /// Feeds (send, receive) pairs in the order given, which is the order of arrival.
    private func jitter(_ arrivals: [(sent: UInt64, received: UInt64)]) -> InterarrivalJitter {
        var jitter = InterarrivalJitter()
        for arrival in arrivals {
            jitter.record(sentAt: arrival.sent, receivedAt: arrival.received)
        }
        return jitter
    }

    @Test("J += (|D| − J) / 16 on a known sequence")
    func knownSequence() {
        // Sent every 20 ms; transits 5, 6, 4, 10, 5 ms, so |D| = 1, 2, 6, 5 ms.
        // J: 0.0625, 0.18359375, 0.547119140625, 0.8254241943359375 ms (exact in binary).
        let sends = [0, 20, 40, 60, 80].map(Self.ms)
        let receives = [5, 26, 44, 70, 85].map(Self.ms)
        var jitter = InterarrivalJitter()
        var estimates: [Double] = []
        for (sent, received) in zip(sends, receives) {
            jitter.record(sentAt: sent, receivedAt: received)
            estimates.append(jitter.jitterNanos)
        }
        #expect(estimates == [0, 62_500, 183_593.75, 547_119.140625, 825_424.1943359375])
        #expect(jitter.differences == 4)
    }

    @Test("one arrival gives no difference and no jitter")
    func single() {
        let jitter = jitter([(Self.ms(3), Self.ms(7))])
        #expect(jitter.jitterNanos == 0)
        #expect(jitter.differences == 0)
    }

    @Test("a constant transit is no jitter, whatever the clock offset or the losses")
    func constantTransit() {
        // The receiver's clock is 1 s behind the sender's: every transit reads −999 ms.
        // Datagrams sent at 40 and 80 ms are lost; their gaps are in the send times.
        let sends = [0, 20, 60, 100].map(Self.ms)
        let jitter = jitter(sends.map { ($0 + Self.ms(1_000), $0 + Self.ms(1)) })
        #expect(jitter.jitterNanos == 0)
        #expect(jitter.differences == 3)
    }

    @Test("reordered datagrams count in order of arrival, not of sending")
    func reorderedArrivals() {
        // Sent at 0, 20, 40, 60 ms; the one sent at 20 ms arrives after the one sent at 40 ms.
        // In arrival order transits are 10, 10, 35, 10 ms: |D| = 0, 25, 25 ms.
        let arrivals: [(UInt64, UInt64)] = [(0, 10), (40, 50), (20, 55), (60, 70)].map { (Self.ms($0.0), Self.ms($0.1)) }
        let inArrivalOrder = jitter(arrivals)
        var expected = 0.0
        for difference in [0.0, 25e6, 25e6] {
            expected += (difference - expected) / 16
        }
        #expect(inArrivalOrder.jitterNanos == expected)
        // Sorting by send time would give |D| = 25, 25, 0 ms: a different, wrong figure.
        let inSendOrder = jitter(arrivals.sorted { $0.0 < $1.0 })
        #expect(inSendOrder.jitterNanos != inArrivalOrder.jitterNanos)
    }

    @Test("a single delay spike decays by 15/16 per later arrival")
    func decay() {
        var arrivals: [(UInt64, UInt64)] = [(0, 1_000), (20_000, 21_000 + 16_000)]
        for index in 2 ..< 10 {
            arrivals.append((UInt64(index) * 20_000, UInt64(index) * 20_000 + 1_000))
        }
        let jitter = jitter(arrivals)
        // +16 µs then −16 µs, then seven zero differences.
        var expected = 1_000.0
        expected += (16_000 - expected) / 16
        for _ in 0 ..< 7 {
            expected -= expected / 16
        }
        #expect(abs(jitter.jitterNanos - expected) < 1e-9)
    }
}
