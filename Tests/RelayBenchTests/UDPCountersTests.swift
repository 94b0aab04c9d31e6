import RelayBench
import Testing

@Suite("UDPCounters")
struct UDPCountersTests {
    /// /proc/net/snmp as Linux 6.18 prints it (2-core x86_64 VM).
    static let snmp = """
        Ip: Forwarding DefaultTTL InReceives InHdrErrors InAddrErrors ForwDatagrams InUnknownProtos InDiscards InDelivers OutRequests OutDiscards OutNoRoutes ReasmTimeout ReasmReqds ReasmOKs ReasmFails FragOKs FragFails FragCreates OutTransmits
        Ip: 2 64 553042792 0 0 0 0 0 553042792 553017289 0 0 0 0 0 0 0 0 0 553017289
        Icmp: InMsgs InErrors InCsumErrors InDestUnreachs InTimeExcds InParmProbs InSrcQuenchs InRedirects InEchos InEchoReps InTimestamps InTimestampReps InAddrMasks InAddrMaskReps OutMsgs OutErrors OutRateLimitGlobal OutRateLimitHost OutDestUnreachs OutTimeExcds OutParmProbs OutSrcQuenchs OutRedirects OutEchos OutEchoReps OutTimestamps OutTimestampReps OutAddrMasks OutAddrMaskReps
        Icmp: 35919 0 0 35919 0 0 0 0 0 0 0 0 0 0 35915 0 0 0 35915 0 0 0 0 0 0 0 0 0 0
        IcmpMsg: InType3 OutType3
        IcmpMsg: 35919 35915
        Tcp: RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens PassiveOpens AttemptFails EstabResets CurrEstab InSegs OutSegs RetransSegs InErrs OutRsts InCsumErrors
        Tcp: 1 200 120000 -1 311250 308893 1242 169172 0 16476045 16369795 105036 0 122027 0
        Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors IgnoredMulti MemErrors
        Udp: 534945847 35915 26900903 536536145 26900902 0 0 0 0
        UdpLite: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors IgnoredMulti MemErrors
        UdpLite: 0 0 7 0 5 0 0 0 0

        """

    /// The UDP lines of /proc/net/snmp6 from the same host (tab after the padding, as printed).
    static let snmp6 = """
        Ip6InReceives                   \t9231
        Udp6InDatagrams                 \t8797
        Udp6NoPorts                     \t102
        Udp6InErrors                    \t40
        Udp6OutDatagrams                \t8528
        Udp6RcvbufErrors                \t30
        Udp6SndbufErrors                \t0
        Udp6InCsumErrors                \t0
        Udp6IgnoredMulti                \t0
        Udp6MemErrors                   \t0
        UdpLite6InDatagrams             \t0
        UdpLite6InErrors                \t11
        UdpLite6RcvbufErrors            \t13

        """

    @Test("IPv4 from the Udp: pair of lines, not UdpLite:")
    func ipv4() throws {
        let counters = try #require(UDPCounters(snmp: Self.snmp, snmp6: nil))
        #expect(counters == UDPCounters(receiveBufferErrors: 26_900_902, inErrors: 26_900_903))
    }

    @Test("IPv6 from the Udp6 lines of snmp6, not UdpLite6")
    func ipv6() throws {
        let counters = try #require(UDPCounters(snmp: nil, snmp6: Self.snmp6))
        #expect(counters == UDPCounters(receiveBufferErrors: 30, inErrors: 40))
    }

    @Test("both families add up")
    func both() throws {
        let counters = try #require(UDPCounters(snmp: Self.snmp, snmp6: Self.snmp6))
        #expect(counters == UDPCounters(receiveBufferErrors: 26_900_932, inErrors: 26_900_943))
    }

    @Test("a Udp6: pair of lines in the snmp text counts as IPv6")
    func udp6Table() throws {
        let text = Self.snmp + "Udp6: InDatagrams InErrors RcvbufErrors\nUdp6: 9 4 2\n"
        let counters = try #require(UDPCounters(snmp: text, snmp6: nil))
        #expect(counters == UDPCounters(receiveBufferErrors: 26_900_904, inErrors: 26_900_907))
    }

    @Test("no file, or no UDP counters in it, is no reading", arguments: [
        (nil, nil),
        ("", ""),
        ("Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors\n", nil),
        ("Udp: InDatagrams InErrors RcvbufErrors\nUdp: 1 2\n", nil),
        ("Ip: Forwarding\nIp: 2\n", "Ip6InReceives 4\n"),
    ] as [(String?, String?)])
    func absent(snmp: String?, snmp6: String?) {
        #expect(UDPCounters(snmp: snmp, snmp6: snmp6) == nil)
    }

    @Test("every truncation of the real text and random bytes parse without trapping")
    func truncatedAndGarbage() {
        let snmp = Array(Self.snmp.utf8)
        for end in stride(from: 0, through: snmp.count, by: 7) {
            _ = UDPCounters(snmp: String(decoding: snmp[..<end], as: UTF8.self), snmp6: String(Self.snmp6.prefix(end / 4)))
        }
        var generator = SystemRandomNumberGenerator()
        for _ in 0 ..< 200 {
            let bytes = (0 ..< Int.random(in: 0 ... 300, using: &generator)).map { _ in
                [UInt8(ascii: "U"), UInt8(ascii: "d"), UInt8(ascii: "p"), UInt8(ascii: ":"), UInt8(ascii: "6"), 32, 9, 10, UInt8(ascii: "9")]
                    .randomElement(using: &generator)!
            }
            let text = String(decoding: bytes, as: UTF8.self)
            _ = UDPCounters(snmp: text, snmp6: text)
        }
        // A value over UInt64.max is not a number: that counter is missing, so is the reading.
        #expect(UDPCounters(snmp: "Udp: InErrors RcvbufErrors\nUdp: 1 18446744073709551616\n", snmp6: nil) == nil)
    }

    @Test("the difference of two readings; unknown or shrinking counters give none")
    func difference() {
        let start = UDPCounters(receiveBufferErrors: 10, inErrors: 12)
        let end = UDPCounters(receiveBufferErrors: 15, inErrors: 20)
        #expect(UDPCounters.difference(from: start, to: end) == UDPCounters(receiveBufferErrors: 5, inErrors: 8))
        #expect(UDPCounters.difference(from: nil, to: end) == nil)
        #expect(UDPCounters.difference(from: start, to: nil) == nil)
        #expect(UDPCounters.difference(from: end, to: start) == nil)
    }
}

#if canImport(Glibc)
import Glibc

@Suite("UDPCounters against the kernel")
struct UDPCountersKernelTests {
    /// A socket that is never read, with the smallest receive buffer, overflows after a few
    /// datagrams; the host's RcvbufErrors and InErrors must rise by at least its drops (other
    /// processes may add more: the counters are host-wide).
    @Test("a full receive queue raises the host's RcvbufErrors and InErrors")
    func realDrops() throws {
        let receiver = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        let sender = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        try #require(receiver >= 0 && sender >= 0)
        defer { close(receiver); close(sender) }
        var size: Int32 = 1
        setsockopt(receiver, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(receiver, $0, length) == 0 && getsockname(receiver, $0, &length) == 0 }
        }
        try #require(bound)
        let port = UInt16(bigEndian: address.sin_port)
        let before = try #require(UDPCounters.current())
        let payload = [UInt8](repeating: 7, count: 200)
        for _ in 0 ..< 200 {
            _ = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(sender, payload, payload.count, 0, $0, length) }
            }
        }
        // Loopback delivers (or drops) within sendto, unless the kernel has handed that work to
        // its softirq thread: then the drops show a moment later.
        var drops = try #require(UDPSocketTable.current()).drops(localPorts: [port])
        let deadline = ContinuousClock.now + .seconds(5)
        while drops == 0, ContinuousClock.now < deadline {
            usleep(5_000)
            drops = try #require(UDPSocketTable.current()).drops(localPorts: [port])
        }
        let after = try #require(UDPCounters.current())
        let rise = try #require(UDPCounters.difference(from: before, to: after))
        #expect(drops > 0)
        #expect(rise.receiveBufferErrors >= drops)
        #expect(rise.inErrors >= rise.receiveBufferErrors)
    }
}
#endif
