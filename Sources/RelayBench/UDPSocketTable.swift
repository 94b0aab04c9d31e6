/// Linux's table of UDP sockets (`/proc/net/udp`, `/proc/net/udp6`), read for one column: the
/// datagrams each socket's receive queue dropped because it was full.
///
/// A bench run that loses datagrams needs to know where: a relay that falls behind drops at its
/// own sockets, a generator that falls behind drops at the members' sockets. The counts are
/// cumulative per socket, so a run takes the difference between two readings.
public struct UDPSocketTable: Sendable, Equatable {
    /// One socket's line.
    public struct Entry: Sendable, Equatable {
        /// The local port.
        public var localPort: UInt16
        /// The socket's inode, as `/proc/PID/fd/N` names it (`socket:[inode]`).
        public var inode: UInt64
        /// Datagrams dropped at this socket so far.
        public var drops: UInt64

        /// Creates an entry.
        public init(localPort: UInt16, inode: UInt64, drops: UInt64) {
            self.localPort = localPort
            self.inode = inode
            self.drops = drops
        }
    }

    /// The sockets, in the order the tables list them.
    public var entries: [Entry]

    /// Parses the text of one or more tables; the header line and lines that don't have the
    /// expected columns are skipped.
    ///
    /// - Parameter text: The contents of `/proc/net/udp` or `/proc/net/udp6`, or both joined.
    public init(parsing text: String) {
        entries = []
        for line in text.split(separator: "\n") {
            // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode ref pointer drops
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 13, fields[0].hasSuffix(":"),
                  let colon = fields[1].lastIndex(of: ":"),
                  let port = UInt16(fields[1][fields[1].index(after: colon)...], radix: 16),
                  let inode = UInt64(fields[9]),
                  let drops = UInt64(fields[12])
            else { continue }
            entries.append(Entry(localPort: port, inode: inode, drops: drops))
        }
    }

    /// Total drops of the sockets whose inode is in `inodes`.
    public func drops(inodes: Set<UInt64>) -> UInt64 {
        entries.reduce(0) { inodes.contains($1.inode) ? $0 + $1.drops : $0 }
    }

    /// Total drops of the sockets bound to one of `ports`.
    public func drops(localPorts ports: Set<UInt16>) -> UInt64 {
        entries.reduce(0) { ports.contains($1.localPort) ? $0 + $1.drops : $0 }
    }
}

#if canImport(Glibc)
import Glibc

extension UDPSocketTable {
    /// Reads the live IPv4 and IPv6 tables; nil where `/proc/net/udp` can't be read (not Linux).
    public static func current() -> UDPSocketTable? {
        guard let v4 = readProcFile("/proc/net/udp") else { return nil }
        return UDPSocketTable(parsing: v4 + "\n" + (readProcFile("/proc/net/udp6") ?? ""))
    }

    /// The inodes of the sockets process `pid` holds open (`/proc/PID/fd/N` → `socket:[inode]`);
    /// empty when its descriptors can't be read.
    public static func socketInodes(ofProcess pid: Int32) -> Set<UInt64> {
        guard let directory = opendir("/proc/\(pid)/fd") else { return [] }
        defer { closedir(directory) }
        var inodes: Set<UInt64> = []
        var target = [CChar](repeating: 0, count: 64)
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            guard name.first?.isNumber == true else { continue }
            let length = readlink("/proc/\(pid)/fd/\(name)", &target, target.count - 1)
            guard length > 0 else { continue }
            let link = target.prefix(length).map { UInt8(bitPattern: $0) }
            let text = String(decoding: link, as: UTF8.self)
            guard text.hasPrefix("socket:["), text.hasSuffix("]"), let inode = UInt64(text.dropFirst(8).dropLast()) else { continue }
            inodes.insert(inode)
        }
        return inodes
    }

    /// Reads a `/proc` file, whose size `stat` reports as zero, to its end.
    static func readProcFile(_ path: String) -> String? {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count <= 0 { break }
            bytes += chunk[..<count]
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
#endif
