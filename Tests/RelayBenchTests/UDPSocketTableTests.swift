import RelayBench
import Testing

@Suite("UDPSocketTable")
struct UDPSocketTableTests {
    /// Lines as Linux 6.x prints them: an IPv4 table, then an IPv6 one.
    static let text = """
          sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
         1011: 0100007F:1CE8 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 4242 2 0000000000000000 17
         2236: 0100007F:9E0C 0100007F:1CE8 01 00000000:00030000 00:00000000 00000000     0        0 4243 2 0000000000000000 0
          sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
          123: 00000000000000000000000001000000:1CE8 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 5150 2 0000000000000000 3
          124: garbage line
        """

    @Test("every socket line is parsed; headers and broken lines are skipped")
    func parse() {
        let table = UDPSocketTable(parsing: Self.text)
        #expect(table.entries == [
            .init(localPort: 7400, inode: 4242, drops: 17),
            .init(localPort: 40460, inode: 4243, drops: 0),
            .init(localPort: 7400, inode: 5150, drops: 3),
        ])
    }

    @Test("drops are summed by inode and by local port")
    func sums() {
        let table = UDPSocketTable(parsing: Self.text)
        #expect(table.drops(inodes: [4242, 5150]) == 20)
        #expect(table.drops(inodes: [4243, 9999]) == 0)
        #expect(table.drops(localPorts: [7400]) == 20)
        #expect(table.drops(localPorts: [40460]) == 0)
        #expect(table.drops(localPorts: []) == 0)
    }
}

#if canImport(Glibc)
import Glibc

@Suite("UDPSocketTable against the kernel")
struct UDPSocketTableKernelTests {
    /// A socket that is never read, with the smallest receive buffer, overflows after a few
    /// datagrams; the kernel's count for it must show up under its port and its inode.
    @Test("a full receive queue's drops show up under the socket's port and inode")
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
        let inodes = UDPSocketTable.socketInodes(ofProcess: getpid())
        let before = try #require(UDPSocketTable.current())
        #expect(before.entries.contains { $0.localPort == port && inodes.contains($0.inode) })
        #expect(before.drops(localPorts: [port]) == 0)

        let payload = [UInt8](repeating: 7, count: 200)
        var sent = 0
        for _ in 0..<200 {
            let result = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(sender, payload, payload.count, 0, $0, length) }
            }
            if result == payload.count { sent += 1 }
        }
        #expect(sent == 200)
        let after = try #require(UDPSocketTable.current())
        let drops = after.drops(localPorts: [port])
        #expect(drops > 0 && drops < 200)
        #expect(after.drops(inodes: inodes) >= drops)
    }
}
#endif
