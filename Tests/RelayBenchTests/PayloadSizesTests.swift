import RelayBench
import Testing

@Suite("PayloadSizes")
struct PayloadSizesTests {
    @Test("N and MIN-MAX parse; anything else does not", arguments: [
        ("100", 100 ... 100), ("60-160", 60 ... 160), ("16-16", 16 ... 16),
    ] as [(String, ClosedRange<Int>)])
    func parses(text: String, range: ClosedRange<Int>) throws {
        let sizes = try #require(PayloadSizes(parsing: text))
        #expect(sizes.range == range)
        #expect(sizes.description == text.replacingOccurrences(of: "16-16", with: "16"))
    }

    @Test("malformed sizes are refused", arguments: ["", "-", "160-60", "a", "60-", "-60", "1-2-3", "60 - 160"])
    func refuses(text: String) {
        #expect(PayloadSizes(parsing: text) == nil)
    }

    @Test("a fixed size is always that size")
    func fixed() {
        let sizes = PayloadSizes.fixed(100)
        #expect(sizes.isFixed)
        #expect((0 ..< 1_000).allSatisfy { sizes.size(sender: $0 % 7, packet: UInt64($0)) == 100 })
    }

    @Test("a range varies per datagram, stays within its bounds, reaches both and repeats run to run")
    func range() {
        let sizes = PayloadSizes(60 ... 160)
        #expect(!sizes.isFixed)
        var seen = Set<Int>()
        var total = 0
        let count = 20_000
        for packet in 0 ..< count {
            let size = sizes.size(sender: 3, packet: UInt64(packet))
            #expect((60 ... 160).contains(size))
            seen.insert(size)
            total += size
        }
        #expect(seen.count == 101, "every size of the range is picked")
        let mean = Double(total) / Double(count)
        #expect(abs(mean - 110) < 2, "uniform over 60...160: mean \(mean)")
        let again = (0 ..< 100).map { PayloadSizes(60 ... 160).size(sender: 3, packet: UInt64($0)) }
        #expect(again == (0 ..< 100).map { sizes.size(sender: 3, packet: UInt64($0)) })
        // Consecutive datagrams are not all the same size, and senders differ from each other.
        #expect(Set(again.prefix(10)).count > 5)
        let other = (0 ..< 100).map { sizes.size(sender: 4, packet: UInt64($0)) }
        #expect(other != again)
        let reseeded = (0 ..< 100).map { PayloadSizes(60 ... 160, seed: 1).size(sender: 3, packet: UInt64($0)) }
        #expect(reseeded != again)
    }
}
