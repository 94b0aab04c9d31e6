/// The host's UDP receive-error counters as operators read them: `RcvbufErrors` (datagrams
/// dropped because a socket's receive queue was full) and `InErrors` (every datagram UDP
/// failed to deliver, those included), IPv4 and IPv6 added together.
///
/// Linux prints the IPv4 counters in `/proc/net/snmp` as a `Udp:` line of names followed by a
/// `Udp:` line of values, and the IPv6 ones in `/proc/net/snmp6` as `Udp6RcvbufErrors  N`
/// lines. They count every socket of the host (of its network namespace), not only the
/// relay's or the generator's, so a run reports the difference between two readings and says
/// it is host-wide.
public struct UDPCounters: Sendable, Equatable {
    /// `RcvbufErrors`: datagrams dropped at a full receive queue.
    public var receiveBufferErrors: UInt64
    /// `InErrors`: datagrams UDP received but could not deliver, receive-queue drops included.
    public var inErrors: UInt64

    /// Creates a reading.
    public init(receiveBufferErrors: UInt64, inErrors: UInt64) {
        self.receiveBufferErrors = receiveBufferErrors
        self.inErrors = inErrors
    }

    /// Reads the counters from the text of `/proc/net/snmp` and `/proc/net/snmp6`.
    ///
    /// A `Udp6:` pair of lines in the first text counts as IPv6 too. A family whose counters
    /// are missing (IPv6 disabled, a file that could not be read) adds nothing.
    ///
    /// - Parameters:
    ///   - snmp: The contents of `/proc/net/snmp`, or nil.
    ///   - snmp6: The contents of `/proc/net/snmp6`, or nil.
    /// - Returns: The sum over the families found; nil when neither text has both counters.
    public init?(snmp: String?, snmp6: String?) {
        var families: [[Substring: UInt64]] = []
        if let snmp {
            families += ["Udp:", "Udp6:"].compactMap { Self.table(snmp, prefix: $0) }
        }
        if let snmp6 {
            families.append(Self.prefixedLines(snmp6, prefix: "Udp6"))
        }
        var found = false
        var sum = UDPCounters(receiveBufferErrors: 0, inErrors: 0)
        for family in families {
            guard let rcvbuf = family["RcvbufErrors"], let inErrors = family["InErrors"] else { continue }
            found = true
            sum.receiveBufferErrors &+= rcvbuf
            sum.inErrors &+= inErrors
        }
        guard found else { return nil }
        self = sum
    }

    /// `end − start` for each counter, or nil when either reading is missing or a counter went
    /// down (a namespace or counter reset).
    public static func difference(from start: UDPCounters?, to end: UDPCounters?) -> UDPCounters? {
        guard let start, let end, end.receiveBufferErrors >= start.receiveBufferErrors, end.inErrors >= start.inErrors else {
            return nil
        }
        return UDPCounters(receiveBufferErrors: end.receiveBufferErrors - start.receiveBufferErrors,
                           inErrors: end.inErrors - start.inErrors)
    }

    /// The `name value` pairs of a header line and the value line after it that share `prefix`
    /// (`Udp: InDatagrams NoPorts …` then `Udp: 12 0 …`); nil without such a pair.
    private static func table(_ text: String, prefix: String) -> [Substring: UInt64]? {
        let lines = text.split(separator: "\n").filter { $0.hasPrefix(prefix + " ") }
        guard lines.count >= 2 else { return nil }
        let names = lines[0].split(separator: " ").dropFirst()
        let values = lines[1].split(separator: " ").dropFirst()
        guard names.count == values.count else { return nil }
        var table: [Substring: UInt64] = [:]
        for (name, value) in zip(names, values) {
            if let number = UInt64(value) { table[name] = number }
        }
        return table
    }

    /// The `Udp6InErrors   0` lines of `/proc/net/snmp6`, keyed by the name without `prefix`.
    private static func prefixedLines(_ text: String, prefix: String) -> [Substring: UInt64] {
        var table: [Substring: UInt64] = [:]
        for line in text.split(separator: "\n") {
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard fields.count == 2, fields[0].hasPrefix(prefix), let value = UInt64(fields[1]) else { continue }
            table[fields[0].dropFirst(prefix.count)] = value
        }
        return table
    }
}

#if canImport(Glibc)
extension UDPCounters {
    /// Reads the live counters; nil where `/proc/net/snmp` and `/proc/net/snmp6` can't be read
    /// (not Linux, or `/proc` not mounted).
    public static func current() -> UDPCounters? {
        UDPCounters(snmp: UDPSocketTable.readProcFile("/proc/net/snmp"),
                    snmp6: UDPSocketTable.readProcFile("/proc/net/snmp6"))
    }
}
#endif
