import RelayWire

/// Every setting of the relay, with the defaults of PROTOCOL.md §4; each maps to one `serve` flag.
public struct RelayConfig: Sendable, Hashable {
    /// The address both sockets bind to (`--host`).
    public var host: String = "0.0.0.0"
    /// The control (TCP) port; 0 picks a free one (`--port`).
    public var port: Int = 7400
    /// The UDP port; nil means the control socket's port number (`--udp-port`).
    public var udpPort: Int?
    /// The UDP port that `hello` and `join` name, when clients reach the relay through a port
    /// mapping (Docker's `-p 7500:7400/udp`, a NAT, an Agones host port); nil names the port the
    /// relay listens on (`--advertise-udp-port`).
    public var advertisedUDPPort: Int?
    /// The Agones SDK gateway the relay reports to (`--agones`); nil outside Agones.
    public var agones: AgonesConfig?
    /// The largest datagram accepted, header included (`--max-datagram`, 40…1472).
    public var maxDatagram: Int = 1200
    /// The largest control message, in bytes before the terminator (`--max-control-message`).
    public var maxControlMessage: Int = 16384
    /// How long a UDP binding lives without a refreshing datagram (`--idle-timeout`).
    public var idleTimeout: Duration = .seconds(10)
    /// How long a control connection may complete no message (`--control-idle-timeout`).
    public var controlIdleTimeout: Duration = .seconds(30)
    /// How long a session nobody joined lives after its creation (`--empty-session-timeout`).
    public var emptySessionTimeout: Duration = .seconds(60)
    /// The largest `capacity` a session may have (`--max-session-capacity`).
    public var maxSessionCapacity: Int = 64
    /// Packets per second each member may send, with one second of burst (`--member-packet-rate`).
    public var memberPacketRate: Int = 240
    /// Bytes per second each member may send, headers included (`--member-byte-rate`).
    public var memberByteRate: Int = 262_144
    /// How long a drain waits for control connections to close (`--drain-timeout`).
    public var drainTimeout: Duration = .seconds(5)
    /// Data-plane loops (threads) sharing the UDP port with `SO_REUSEPORT` (`--threads`); the
    /// control plane always has a loop of its own besides these.
    public var threads: Int = 1
    /// The HTTP port of `/metrics`, `/healthz` and `/readyz`; nil for none (`--metrics-port`).
    public var metricsPort: Int?
    /// Control requests per second per connection.
    public var controlRequestRate: Int = 100
    /// Control request burst per connection.
    public var controlRequestBurst: Int = 200
    /// Live sessions one connection may have created.
    public var maxSessionsPerConnection: Int = 64
    /// Unsent replies and events a connection may accumulate before it is dropped.
    public var maxPendingControlBytes: Int = 8 << 20
    /// How long a half-closed connection's input is drained before the final close.
    public var lingerTimeout: Duration = .seconds(2)
    /// How long a data-plane loop keeps polling, without sleeping, after a receive batch that
    /// brought datagrams (`--busy-poll-us`; zero turns it off). A datagram arriving meanwhile is
    /// read at once rather than after the thread is woken, which at game rates is a good part of
    /// a datagram's latency through the relay; the price is up to this much CPU per batch while
    /// traffic is sparse, and none under load, when the loop never sleeps anyway.
    public var busyPoll: Duration = .microseconds(50)
    /// Control frames one connection may have handled per loop turn before the others get theirs
    /// (`--control-frames-per-turn`).
    public var controlFramesPerTurn: Int = 64
    /// Unsent replies and events above which a connection's requests are no longer read, until
    /// half of them have drained (`--control-backlog-bytes`).
    public var controlBacklogBytes: Int = 64 << 10
    /// Control connections open at once; more are closed at accept, counted (`--max-connections`).
    public var maxConnections: Int = 20_000
    /// Control connections open at once from one source address (`--max-connections-per-source`).
    public var maxConnectionsPerSource: Int = 1024
    /// Live sessions in all (`--max-sessions`).
    public var maxSessions: Int = 100_000
    /// Live sessions one source address created and that still live (`--max-sessions-per-source`).
    public var maxSessionsPerSource: Int = 1024
    /// Failed joins (`not_found` answers) per second per source address (`--join-failure-rate`).
    public var joinFailureRate: Double = 10
    /// Failed joins a source may have in a burst; the flag sets five seconds' worth.
    public var joinFailureBurst: Double = 50
    /// Joins into one session per second from one source address (`--session-join-rate`).
    public var sessionJoinRate: Double = 1
    /// Joins into one session a source may make in a burst: a full session's worth.
    public var sessionJoinBurst: Double = 64
    /// Descriptors kept free of control connections, so `/metrics`, logs and the relay's own
    /// sockets still work at the descriptor limit (`--reserved-descriptors`).
    public var reservedDescriptors: Int = 64
    /// The PEM certificate chain (leaf first) served on the control port's TLS connections
    /// (`--tls-cert`); nil for no TLS.
    public var tlsCertificateFile: String?
    /// The PEM private key of ``tlsCertificateFile`` (`--tls-key`).
    public var tlsKeyFile: String?
    /// Whether plain control connections are refused with `tls_required` (`--tls-required`).
    public var tlsRequired = false
    /// How long a TLS connection may take to finish its handshake after its accept; the control
    /// idle timeout, when shorter, applies instead (PROTOCOL.md §6).
    public var tlsHandshakeTimeout: Duration = .seconds(10)
    /// The origins a WebSocket upgrade may come from, each exactly `scheme://host[:port]`
    /// (`--ws-origin`, repeatable); empty lets any origin, or none, upgrade (PROTOCOL.md §7).
    public var wsOrigins: [String] = []
    /// The most unsent output a WebSocket member may have before binary messages to it are
    /// dropped as `backlog` (`--ws-backlog-bytes`); replies and events still queue up to
    /// ``maxPendingControlBytes``. PROTOCOL.md §7 fixes it at 256 KiB for public relays.
    public var wsBacklogBytes: Int = 256 << 10
    /// The most unsent output all WebSocket members together may have before binary messages to
    /// any of them are dropped as `backlog` (`--ws-backlog-total-bytes`): without it, a thousand
    /// browsers that stop reading would hold 256 MiB between them, and more with more.
    public var wsBacklogTotalBytes: Int = 256 << 20
    /// The most bytes of WebSocket members' datagrams in flight between the control loop and one
    /// data-plane loop, each way (`--ws-handoff-bytes`): past it, datagrams are dropped as
    /// `backlog` instead of piling up behind a busy loop.
    public var wsHandoffBytes: Int = 4 << 20
    /// The `server` text of the `hello` reply.
    public var serverName: String = "gamerelay/\(RelayConfig.version)"

    /// The relay's version.
    public static let version = "0.1.0"

    /// A configuration with every default.
    public init() {}

    /// The datagram size range of `--max-datagram`: the header plus a 24-byte BIND, up to a
    /// 1500-byte Ethernet MTU less IPv4 and UDP headers.
    public static let maxDatagramRange = 40...1472

    /// The largest DATA payload a tick session aggregates (PROTOCOL.md §8): one that fits, with
    /// its entry header, into an AGGREGATE of its own. Larger ones are forwarded at once.
    public var maxAggregatedState: Int { maxDatagram - AggregateEncoder.overhead }

    /// Whether `text` is an origin as browsers send it: a lower-case scheme, `://`, and a host
    /// with an optional port, nothing after it.
    public static func isOrigin(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        guard let colon = bytes.firstIndex(of: UInt8(ascii: ":")), colon > 0,
              bytes.count > colon + 3, bytes[colon + 1] == UInt8(ascii: "/"), bytes[colon + 2] == UInt8(ascii: "/") else { return false }
        let scheme = bytes[..<colon]
        let authority = bytes[(colon + 3)...]
        func isLower(_ byte: UInt8) -> Bool { (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) }
        func isDigit(_ byte: UInt8) -> Bool { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) }
        guard isLower(scheme.first!), scheme.allSatisfy({ isLower($0) || isDigit($0) || Array("+-.".utf8).contains($0) }) else { return false }
        // Printable ASCII without a path, query, fragment, user info or backslash.
        guard authority.allSatisfy({ $0 > 0x20 && $0 < 0x7F && !Array("/?#@,\\".utf8).contains($0) }) else { return false }
        // A port, if given, is 1–65535 after the last colon (an IPv6 host is bracketed).
        if let portColon = authority.lastIndex(of: UInt8(ascii: ":")), !authority[portColon...].contains(UInt8(ascii: "]")) {
            let port = authority[(portColon + 1)...]
            guard portColon > authority.startIndex, !port.isEmpty, port.count <= 5, port.allSatisfy(isDigit),
                  let value = Int(String(decoding: port, as: UTF8.self)), (1...65_535).contains(value) else { return false }
        }
        return true
    }

    /// Checks every value; the error names the flag and the accepted range.
    ///
    /// - Throws: ``RelayConfigError`` for the first value out of range.
    public func validate() throws(RelayConfigError) {
        func check(_ ok: Bool, _ flag: String, _ rule: String) throws(RelayConfigError) {
            if !ok { throw RelayConfigError(setting: flag, message: rule) }
        }
        try check((0...65_535).contains(port), "--port", "must lie in 0...65535")
        if let udpPort { try check((0...65_535).contains(udpPort), "--udp-port", "must lie in 0...65535") }
        if let advertisedUDPPort {
            try check((1...65_535).contains(advertisedUDPPort), "--advertise-udp-port", "must lie in 1...65535")
        }
        if let agones {
            try check((1...65_535).contains(agones.sdkPort), "--agones-sdk-port", "must lie in 1...65535")
            try check(agones.healthInterval > .zero, "--agones-health-interval", "must be greater than 0")
            try check(agones.startTimeout > .zero, "--agones-start-timeout", "must be greater than 0")
        }
        try check((1...64).contains(threads), "--threads", "must lie in 1...64")
        if let metricsPort { try check((0...65_535).contains(metricsPort), "--metrics-port", "must lie in 0...65535") }
        try check(Self.maxDatagramRange.contains(maxDatagram), "--max-datagram", "must lie in 40...1472")
        try check((1...(64 << 20)).contains(maxControlMessage), "--max-control-message", "must lie in 1...67108864")
        try check(idleTimeout > .zero, "--idle-timeout", "must be greater than 0")
        try check(controlIdleTimeout > .zero, "--control-idle-timeout", "must be greater than 0")
        try check(emptySessionTimeout > .zero, "--empty-session-timeout", "must be greater than 0")
        try check(drainTimeout > .zero, "--drain-timeout", "must be greater than 0")
        try check((2...65_534).contains(maxSessionCapacity), "--max-session-capacity", "must lie in 2...65534")
        try check(memberPacketRate >= 1, "--member-packet-rate", "must be at least 1")
        try check(memberByteRate >= 1, "--member-byte-rate", "must be at least 1")
        try check(busyPoll >= .zero && busyPoll <= .milliseconds(10), "--busy-poll-us", "must lie in 0...10000")
        try check((1...65_536).contains(controlFramesPerTurn), "--control-frames-per-turn", "must lie in 1...65536")
        try check((1024...maxPendingControlBytes).contains(controlBacklogBytes), "--control-backlog-bytes",
                  "must lie in 1024...\(maxPendingControlBytes)")
        try check(maxConnections >= 1, "--max-connections", "must be at least 1")
        try check(maxConnectionsPerSource >= 1, "--max-connections-per-source", "must be at least 1")
        try check(maxSessions >= 1, "--max-sessions", "must be at least 1")
        try check(maxSessionsPerSource >= 1, "--max-sessions-per-source", "must be at least 1")
        try check(joinFailureRate > 0 && joinFailureRate.isFinite && joinFailureBurst >= 1, "--join-failure-rate",
                  "must be greater than 0, with a burst of at least 1")
        try check(sessionJoinRate > 0 && sessionJoinRate.isFinite && sessionJoinBurst >= 1, "--session-join-rate",
                  "must be greater than 0, with a burst of at least 1")
        try check((16...65_536).contains(reservedDescriptors), "--reserved-descriptors", "must lie in 16...65536")
        for origin in wsOrigins {
            try check(Self.isOrigin(origin), "--ws-origin", "must be exactly scheme://host[:port], without a path: \(origin)")
        }
        try check((1024...maxPendingControlBytes).contains(wsBacklogBytes), "--ws-backlog-bytes",
                  "must lie in 1024...\(maxPendingControlBytes)")
        try check((wsBacklogBytes...(64 << 30)).contains(wsBacklogTotalBytes), "--ws-backlog-total-bytes",
                  "must lie in --ws-backlog-bytes...68719476736")
        try check((64 << 10...1 << 30).contains(wsHandoffBytes), "--ws-handoff-bytes", "must lie in 65536...1073741824")
        try check(tlsCertificateFile == nil || tlsKeyFile != nil, "--tls-cert", "needs --tls-key (the certificate's private key)")
        try check(tlsKeyFile == nil || tlsCertificateFile != nil, "--tls-key", "needs --tls-cert (the certificate chain it belongs to)")
        try check(!tlsRequired || tlsCertificateFile != nil, "--tls-required", "needs --tls-cert and --tls-key")
        try check(tlsHandshakeTimeout > .zero, "tlsHandshakeTimeout", "must be greater than 0")
    }
}

/// A configuration value out of range, naming the setting.
public struct RelayConfigError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The setting as the user gave it: a flag, an environment variable, or `file: key`.
    public var setting: String
    /// What the value must be.
    public var message: String

    /// Creates an error for `setting`.
    public init(setting: String, message: String) {
        self.setting = setting
        self.message = message
    }

    public var description: String { "\(setting) \(message)" }
}

extension Duration {
    /// The duration in whole nanoseconds, saturating at `UInt64.max`.
    var nanoseconds: UInt64 {
        let (seconds, attoseconds) = components
        if seconds < 0 { return 0 }
        let total = Int128(seconds) * 1_000_000_000 + Int128(attoseconds / 1_000_000_000)
        return UInt64(clamping: total)
    }
}
