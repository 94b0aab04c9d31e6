import ArgumentParser
import Foundation
import Logging
import RelayBench
import RelayServer
import RelayWire
import Synchronization
import TurnClient
@_spi(Testing) import UVNet

#if canImport(Glibc)
import Glibc
#endif

/// `gamerelay bench`: loads a relay with simulated sessions and reports one-way latency, loss and throughput.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure a relay: S sessions × M members sending P-byte DATA at R packets/s each.",
        discussion: """
        A run takes --warmup + --duration seconds (2 + 10 = 12 s by default), plus the \
        members' set-up and a 0.5 s drain; --max repeats runs while it searches, up to 12 of \
        them, so it takes minutes. On a terminal, a line on stderr shows the progress: phase, \
        time left, offered and delivered rates, loss so far. Redirected output gets nothing \
        extra. The report goes to stdout; with --json - the JSON summary goes there instead, \
        and the report to stderr.

        Examples:
          gamerelay bench                            # in-process relay, 12 s
          gamerelay bench --duration 3 --warmup 1    # a quick look, 4 s
          gamerelay bench --profile voice --json voice.json
          gamerelay bench --relay 127.0.0.1:7400 --relay-pid "$(pidof gamerelay)"
          gamerelay bench --max                      # best rate with < 1 % loss
          gamerelay bench --tick 30 --sessions 8 --members 32
          gamerelay bench --connections 1000 --tls   # connection set-up
          gamerelay bench --members 8 --websocket-members 4
          gamerelay bench --json - | jq .lossPercent

        --profile sets what every member sends. positions (the default): 100-byte payloads at \
        30/s, a game's state updates. voice: a speaker's 20 ms frames, 50/s, each payload 60 to \
        160 bytes, varying per frame from a fixed seed (uniformly, like Opus at a variable \
        bitrate). Neither sets the LATEST flag. --rate and --payload override the profile's \
        rate and sizes (--payload 80, or a range such as --payload 60-160); --sessions, \
        --members, --duration, --warmup and the rest apply to every profile. Varying sizes \
        rule out --segmented-sends (segments share one size), so --max then sends one \
        datagram per system call.

        Every run reports, besides latency and loss, the RFC 3550 interarrival jitter of each \
        stream (one sender → receiver pair): J += (|D| − J) / 16 over the datagrams in the \
        order they arrive, D = (Rj − Ri) − (Sj − Si) with S the send time stamped in the \
        payload, duplicates left out; p50 and p99 of the final J over all streams. It also \
        reports how much the host's UDP RcvbufErrors and InErrors (/proc/net/snmp and \
        /proc/net/snmp6, IPv4 + IPv6) rose during the run: host-wide counters, every \
        process's sockets included.

        Without --relay, an in-process relay on 127.0.0.1 is measured (its per-member rate limit \
        raised so it measures capacity). Latency is one-way, receive time minus send time, on the \
        generator's clock, with HdrHistogram's coordinated-omission correction at the send interval. \
        With --protocol turn the same schedule runs against a TURN server (e.g. coturn): every \
        member holds an allocation with a channel bound to each other member of its session, and \
        sends one ChannelData per receiver. The channels lead to each receiver's own UDP socket \
        (--turn-peers direct: one pass through the server, like GameRelay's) or to its relayed \
        address (--turn-peers relayed: both ends behind TURN, two passes).

        With --tls (or --ca) every member's control channel runs inside TLS; DATA stays plain \
        UDP. The in-process relay then serves TLS with a throwaway PKI made in memory for the \
        run (a root, an intermediate and a leaf for 127.0.0.1) and the members trust that root, \
        so TLS set-up costs can be measured without certificates of your own (--ca needs --relay).

        With --tick T the sessions are tick sessions (T ticks per second, 1 to 120) and every \
        member sends LATEST broadcasts: the relay keeps each member's latest state and sends \
        each member one AGGREGATE per tick with the others' changed states. Each entry counts \
        as one delivered update, its latency from its send to the arrival of the AGGREGATE \
        carrying it (recorded as measured: the wait for the tick is the design). The report \
        gives updates per second beside the datagrams that carried them, the relay's CPU per \
        update, and the states the relay superseded (replaced by a newer one before a tick; \
        each is an update none of the others gets) apart from loss: loss = expected − \
        delivered − superseded × (members − 1). The superseded count is the in-process \
        relay's, or a separate relay's from its Prometheus endpoint (--relay-metrics URL, \
        gamerelay serve --metrics-port); without it the report says "unknown" and counts \
        superseded and lost deliveries together. Jitter is still computed per stream; in tick \
        sessions it mostly measures where each update fell in the tick. Payloads must fit an \
        AGGREGATE entry (maxDatagram − 24 bytes).

        With --websocket-members K, the last K members of every session join over a \
        WebSocket (PROTOCOL.md §7: ws://, or wss:// with --tls) instead of UDP, one TCP \
        connection each carrying both its control messages and its DATA, which it sends and \
        receives as binary messages with the same timestamps. Beside the overall figures, the \
        report then splits latency and delivery by the receiving member's transport: \
        datagrams delivered to UDP members and to WebSocket members. The relay's CPU per \
        delivered datagram (in-process, --relay-pid, or with --relay-metrics per datagram it \
        sent) covers both paths; compare runs with --websocket-members 0 and K for the cost of \
        the WebSocket path. K lies in 0...--members; it needs --protocol gamerelay.

        With --connections N, bench measures connection set-up instead of traffic: N control \
        connections, at most --in-flight at a time, each connecting (and with --tls handshaking), \
        saying hello, joining a session and closing. One anchor member per 16 connections \
        creates and holds a session (capacity 17) first, unmeasured; each session then takes \
        16 joins, within the relay's default per-source join burst. It reports connections per \
        second (wall clock), the set-up latency per connection (connect to join reply) and, with \
        --relay-pid or the in-process relay, the relay's CPU time per connection: connections per \
        relay CPU-second, per core. --sessions, --members, --rate, --duration and --warmup do \
        not apply.
        """
    )

    @Option(help: "The relay to measure, HOST:PORT (default: an in-process relay).", transform: { try HostPort.parse($0) })
    var relay: HostPort?

    @Option(name: .customLong("protocol"), help: "The relay's protocol: gamerelay or turn (turn needs --relay).")
    var protocolKind: BenchProtocol = .gamerelay

    @Option(help: "With --protocol turn, where the channels lead: direct (to each receiver's own UDP socket: one pass through the server) or relayed (to each receiver's relayed address: two passes).")
    var turnPeers: TurnPeers?

    @Option(help: "TURN long-term credential username (with --turn-password); without, the server must allow anonymous use.")
    var turnUser: String?

    @Option(help: "TURN long-term credential password.")
    var turnPassword: String?

    @Option(help: "The TURN realm to insist on (default: whatever the server announces).")
    var turnRealm: String?

    @Option(help: "PID of the relay process, to report its CPU per forwarded datagram, its RSS (peak, and growth during set-up) and the drops at its full receive queues.")
    var relayPid: Int32?

    @Option(help: ArgumentHelp("A separate relay's Prometheus endpoint, http://HOST:PORT/metrics (or HOST:PORT): the states a tick session superseded (gamerelay_states_superseded_total), or outside tick runs the datagrams the relay forwarded (gamerelay_datagrams_forwarded_total), for its CPU per datagram sent.", valueName: "url"))
    var relayMetrics: MetricsURL?

    @Option(help: ArgumentHelp("Make the sessions tick sessions of this many ticks per second (1...120) whose members send LATEST broadcasts: updates arrive aggregated, one AGGREGATE per receiver and tick.", valueName: "hz"))
    var tick: Int?

    @Flag(help: "Set the LATEST flag on every DATA, as state updates do (always on with --tick): the same traffic forwarded one by one, to compare with --tick.")
    var latest = false

    @Option(help: "The relay's --member-packet-rate, for the rate-limit warning (default: 240, the relay's default).")
    var relayMemberPacketRate: Double?

    @Option(help: "Sessions.")
    var sessions = 50

    @Option(help: "Members per session; each DATA goes to the other members.")
    var members = 8

    @Option(help: ArgumentHelp("Members of each session that join over a WebSocket (both channels on one TCP connection) instead of UDP, 0...--members; the report splits latency by the receiver's transport.", valueName: "k"))
    var websocketMembers = 0

    @Option(help: "What each member sends: positions (100 B at 30/s) or voice (60–160 B varying per frame, at 50/s); --rate and --payload override it. Default: positions.")
    var profile: BenchProfile.Name?

    @Option(help: ArgumentHelp("DATA payload bytes, N or MIN-MAX (each datagram picks a size in the range), within 16...1456 (two timestamps first). Default: the profile's.", valueName: "bytes"),
            transform: { text in
                guard let sizes = PayloadSizes(parsing: text) else { throw ValidationError("--payload takes N or MIN-MAX, e.g. 100 or 60-160") }
                return sizes
            })
    var payload: PayloadSizes?

    @Option(help: "DATA packets per second per member. Default: the profile's (positions 30, voice 50).")
    var rate: Double?

    @Option(help: "Measured seconds.")
    var duration = 10.0

    @Option(help: "Seconds of traffic before measuring.")
    var warmup = 2.0

    @Option(help: "Write the summary as JSON to this file; - for stdout (the report then goes to stderr).")
    var json: String?

    @Option(help: "Write the HdrHistogram percentile distribution (.hgrm) to this file.")
    var hgrm: String?

    @Option(help: "Write a latency-by-percentile chart (SVG) to this file.")
    var plot: String?

    @Flag(help: "Search for the highest per-member rate with under 1 % loss.")
    var max = false

    @Option(help: ArgumentHelp("Measure connection set-up instead of traffic: this many control connections, each connect, (TLS handshake,) hello, join, close; 1...10000.", valueName: "n"))
    var connections: Int?

    @Option(help: "With --connections: connections being set up at once.")
    var inFlight = 64

    @OptionGroup(title: "TLS")
    var tlsOptions: ClientTLSOptions

    @Flag(inversion: .prefixedNo,
          help: "Send each member's due messages in one segmented send (Linux UDP GSO), so one generator core can outrun a relay; without, each datagram is its own send, as a game client's are. Default: on with --max, off otherwise.")
    var segmentedSends: Bool?

    /// The profile `--profile` names, with `--rate` and `--payload` in place of its own values.
    var resolvedProfile: BenchProfile {
        BenchProfile.named(profile ?? .positions).overriding(rate: rate, payload: payload)
    }

    func validate() throws {
        let traffic = resolvedProfile
        guard sessions >= 1 else { throw ValidationError("--sessions must be at least 1") }
        guard members >= 2 else { throw ValidationError("--members must be at least 2") }
        guard traffic.payload.range.lowerBound >= 16, traffic.payload.range.upperBound <= 1456 else {
            throw ValidationError("--payload must lie in 16...1456")
        }
        guard traffic.rate > 0, traffic.rate <= 1_000_000 else { throw ValidationError("--rate must lie in (0, 1000000]") }
        guard segmentedSends != true || traffic.payload.isFixed else {
            throw ValidationError("--segmented-sends needs one payload size (segments share it); the \(traffic.name.rawValue) profile varies it: add --payload N")
        }
        guard duration > 0, duration <= 3600 else { throw ValidationError("--duration must lie in (0, 3600]") }
        guard warmup >= 0, warmup <= 600 else { throw ValidationError("--warmup must lie in [0, 600]") }
        guard sessions * members <= 8000 else { throw ValidationError("--sessions × --members must be at most 8000") }
        guard (0...members).contains(websocketMembers) else {
            throw ValidationError("--websocket-members must lie in 0...\(members) (--members)")
        }
        if websocketMembers > 0 {
            guard protocolKind == .gamerelay else {
                throw ValidationError("--websocket-members needs --protocol gamerelay (a TURN server has no WebSocket members)")
            }
            guard connections == nil else { throw ValidationError("--websocket-members measures traffic, not --connections") }
        }
        if tlsOptions.enabled {
            guard protocolKind == .gamerelay else { throw ValidationError("--tls, --ca and --tls-server-name need --protocol gamerelay") }
            guard relay != nil || (tlsOptions.caFile == nil && tlsOptions.tlsServerName == nil) else {
                throw ValidationError("--ca and --tls-server-name describe a relay given with --relay (the in-process relay's throwaway root is trusted by itself)")
            }
        }
        if let connections {
            // One anchor per 16 connections stays open while the rest come and go: 625 + 64 at
            // most, within the relay's default 1024 control connections per source.
            guard (1...10_000).contains(connections) else { throw ValidationError("--connections must lie in 1...10000") }
            guard (1...256).contains(inFlight) else { throw ValidationError("--in-flight must lie in 1...256") }
            guard protocolKind == .gamerelay else { throw ValidationError("--connections needs --protocol gamerelay") }
            guard !max, segmentedSends == nil, hgrm == nil, plot == nil, relayMemberPacketRate == nil, profile == nil else {
                throw ValidationError("--max, --segmented-sends, --hgrm, --plot, --relay-member-packet-rate and --profile measure traffic, not --connections")
            }
        }
        if let tick {
            guard (1...120).contains(tick) else { throw ValidationError("--tick must lie in 1...120") }
            guard protocolKind == .gamerelay else { throw ValidationError("--tick needs --protocol gamerelay (TURN has no ticks)") }
            guard connections == nil else { throw ValidationError("--tick measures traffic, not --connections") }
            guard segmentedSends != true else {
                throw ValidationError("--tick sends LATEST states one datagram each; --segmented-sends does not set LATEST")
            }
            let largest = RelayConfig.maxDatagramRange.upperBound - AggregateEncoder.overhead
            guard traffic.payload.range.upperBound <= largest else {
                throw ValidationError("--tick: a payload must fit an AGGREGATE entry, at most \(largest) bytes (maxDatagram − \(AggregateEncoder.overhead))")
            }
        }
        if latest {
            guard protocolKind == .gamerelay, connections == nil else { throw ValidationError("--latest needs --protocol gamerelay and traffic, not --connections") }
            guard segmentedSends != true else { throw ValidationError("--latest sends one datagram each; --segmented-sends does not set LATEST") }
        }
        if relayMetrics != nil {
            guard relay != nil, protocolKind == .gamerelay else {
                throw ValidationError("--relay-metrics describes a GameRelay relay given with --relay")
            }
        }
        if protocolKind == .turn {
            guard relay != nil else { throw ValidationError("--protocol turn needs --relay HOST:PORT of the TURN server") }
            guard relayMemberPacketRate == nil else { throw ValidationError("--relay-member-packet-rate describes a GameRelay relay, not a TURN server") }
            guard members <= ChannelData.bindableChannels.count else {
                throw ValidationError("--protocol turn allows at most \(ChannelData.bindableChannels.count) members per session (one channel each)")
            }
            guard (turnUser == nil) == (turnPassword == nil) else { throw ValidationError("--turn-user and --turn-password go together") }
            guard turnRealm == nil || turnUser != nil else { throw ValidationError("--turn-realm needs --turn-user and --turn-password") }
        } else {
            if let limit = relayMemberPacketRate {
                guard relay != nil else { throw ValidationError("--relay-member-packet-rate describes a relay given with --relay") }
                guard limit.isFinite, limit > 0 else { throw ValidationError("--relay-member-packet-rate must be a positive number") }
            }
            guard turnPeers == nil else { throw ValidationError("--turn-peers needs --protocol turn") }
            guard turnUser == nil, turnPassword == nil, turnRealm == nil else {
                throw ValidationError("--turn-user, --turn-password and --turn-realm need --protocol turn")
            }
        }
    }

    /// The TURN credentials from the flags, if any.
    private var turnCredentials: TurnCredentials? {
        guard let turnUser, let turnPassword else { return nil }
        return TurnCredentials(username: turnUser, password: turnPassword, realm: turnRealm)
    }

    /// How the summary names the relay: its address, `in-process`, or a `turn:` URI (RFC 7065).
    private func targetName(_ target: HostPort, inProcess: Bool) -> String {
        switch protocolKind {
        case .turn: "turn:\(target), \((turnPeers ?? .direct).rawValue) peers"
        case .gamerelay: inProcess ? "in-process" : target.description
        }
    }

    func run() throws {
        signal(SIGPIPE, SIG_IGN)
        // Each member holds a TCP connection and a UDP socket (8000 members: 16000 descriptors).
        raiseFileLimit()
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = .warning
            return handler
        }
        // With `--json -` stdout carries the JSON alone; the human report moves to stderr.
        let jsonToStdout = json == "-"
        func report(_ text: String) {
            if jsonToStdout { Console.error(text) } else { Console.out(text) }
        }
        func writeJSON(_ text: String) throws {
            guard let json else { return }
            if jsonToStdout {
                Console.out(text.hasSuffix("\n") ? text : text + "\n")
            } else {
                try text.write(toFile: json, atomically: true, encoding: .utf8)
            }
        }
        let inProcess = InProcessRelay.startIfNeeded(relay, capacity: members, tls: tlsOptions.enabled)
        let target = relay ?? HostPort(argument: "127.0.0.1:\(inProcess!.port)")!
        let tls: TLSContext?
        do throws(ClientTLSOptions.Failure) {
            tls = try tlsOptions.makeContext(trustRoots: inProcess?.trustRoots)
        } catch {
            Console.error("gamerelay: error: \(error.message)\n")
            throw ExitCode(2)
        }
        let serverName = tlsOptions.tlsServerName
        if let connections {
            let result = try measureSetUp(connections: connections, target: target, inProcess: inProcess, tls: tls, serverName: serverName)
            inProcess?.stop()
            report(result.table)
            try writeJSON(result.json)
            return
        }
        var workload = self.workload
        let progress = BenchProgress(jsonOnStandardOutput: jsonToStdout, drainSeconds: Self.drainSeconds)
        var summary: BenchSummary
        var measurements: BenchMeasurements
        if max {
            var search = RateSearch(start: workload.profile.rate)
            var runs: [(rate: Double, result: (BenchSummary, BenchMeasurements))] = []
            // The longest run so far (at first: its schedule and a second of set-up) bounds the rest.
            var longestRun = warmup + duration + Self.drainSeconds + 1
            while let next = search.nextRate {
                workload.profile.rate = next
                let number = search.history.count + 1
                progress?.setContext(.init(prefix: "run \(number) of ≤ \(search.maxSteps), \(Int(next))/s per member",
                                           laterRunsSeconds: Double(search.maxSteps - number) * longestRun))
                let started = ContinuousClock.now
                let result = try measure(workload, target: target, inProcess: inProcess, tls: tls, serverName: serverName, progress: progress)
                let took = ContinuousClock.now - started
                longestRun = Swift.max(longestRun, Self.seconds(took))
                search.record(rate: next, lossPercent: result.0.lossPercent)
                Console.error("rate \(Int(next))/s per member: loss \(String(format: "%.2f", result.0.lossPercent)) %, delivered \(Int(result.0.deliveredPacketsPerSecond))/s\n")
                runs.append((next, result))
            }
            // Report the run the search settled on; with none passing, the last one tried.
            guard let chosen = runs.last(where: { $0.rate == search.best }) ?? runs.last else { throw ValidationError("no run completed") }
            (summary, measurements) = chosen.result
            report("highest rate with < 1 % loss: \(search.best.map { "\(Int($0))/s per member" } ?? "none found")\n")
        } else {
            (summary, measurements) = try measure(workload, target: target, inProcess: inProcess, tls: tls, serverName: serverName, progress: progress)
        }
        inProcess?.stop()
        report(BenchReport.table(summary))
        try writeJSON(BenchReport.json(summary))
        if let hgrm { try BenchReport.hgrm(measurements.latency).write(toFile: hgrm, atomically: true, encoding: .utf8) }
        if let plot {
            try BenchReport.svgPlot([(label: "\(summary.target) one-way", latency: measurements.latency)],
                                    title: "GameRelay bench (\(workload.profile.name.rawValue)\(tick.map { ", tick \($0) Hz" } ?? "")): \(sessions)×\(members) at \(Int(workload.profile.rate))/s, \(workload.profile.payload) B",
                                    caption: Self.plotCaption(summary))
                .write(toFile: plot, atomically: true, encoding: .utf8)
        }
    }

    /// The workload the flags describe; `--max` then varies its rate.
    var workload: BenchRunner.Workload {
        let traffic = resolvedProfile
        return BenchRunner.Workload(sessions: sessions, members: members, profile: traffic,
                                    duration: .seconds(duration), warmup: .seconds(warmup),
                                    segmentedSends: segmentedSends ?? (max && traffic.payload.isFixed && tick == nil && !latest),
                                    tick: tick, latest: latest || tick != nil, webSocketMembers: websocketMembers)
    }

    /// The chart's line of figures the curves don't show: in a tick run the updates, datagrams and
    /// superseded states, then jitter and the host's UDP drop counters.
    static func plotCaption(_ summary: BenchSummary) -> String {
        let micros = { (value: Double?) in value.map { String(format: "%.1f µs", locale: nil, $0) } ?? "n/a" }
        var caption = ""
        if let tick = summary.tick {
            let rate = { (value: Double?) in value.map { String(format: "%.0f", locale: nil, $0) } ?? "n/a" }
            caption += "tick \(tick) Hz: \(rate(summary.deliveredPacketsPerSecond)) updates/s in \(rate(summary.datagramsReceivedPerSecond)) datagrams/s, "
            caption += summary.superseded.map { "\($0) states superseded, loss \(String(format: "%.2f", locale: nil, summary.lossPercent)) %; " }
                ?? "superseded unknown; "
        }
        caption += "RFC 3550 jitter over \(summary.jitterStreams) streams: p50 \(micros(summary.jitterP50Micros)), p99 \(micros(summary.jitterP99Micros))"
        if let rcvbuf = summary.hostUDPRcvbufErrors, let inErrors = summary.hostUDPInErrors {
            caption += "; host UDP RcvbufErrors +\(rcvbuf), InErrors +\(inErrors) (host-wide)"
        }
        return caption
    }

    /// One run: set up the members, send on schedule, collect the figures.
    private func measure(_ workload: BenchRunner.Workload, target: HostPort, inProcess: InProcessRelay?,
                         tls: TLSContext?, serverName: String?, progress: BenchProgress?) throws -> (BenchSummary, BenchMeasurements) {
        let loop = EventLoop(name: "bench")
        defer { loop.syncShutdown() }
        let runner = Blocking<LoopBound<BenchRunner>>.run(on: loop) { done in
            done.finish(LoopBound(BenchRunner(loop: loop, workload: workload), loop: loop))
        }!
        let protocolKind = self.protocolKind
        let credentials = turnCredentials
        let peers = turnPeers ?? .direct
        let relayPid = self.relayPid
        let rssBeforeSetup = relayPid.flatMap { currentRSSBytes(pid: $0) }
        /// Stops the progress timer on the loop and erases the line, before anything else is written.
        func endProgress() {
            guard let progress else { return }
            _ = Blocking<Bool>.run(on: loop, timeout: .seconds(5)) { done in
                runner.value.stopProgress()
                done.finish(true)
            }
            progress.clear()
        }
        let setUp = Blocking<String?>.run(on: loop, timeout: .seconds(120)) { done in
            if let progress { runner.value.startProgress(every: BenchProgress.interval) { progress.show($0) } }
            switch protocolKind {
            case .gamerelay:
                runner.value.setUp(host: target.host, port: target.port, tls: tls, serverName: serverName) { done.finish($0) }
            case .turn:
                runner.value.setUpTurn(host: target.host, port: target.port, credentials: credentials, peers: peers) { done.finish($0) }
            }
        }
        guard let setUpResult = setUp else { endProgress(); throw ValidationError("setting up \(workload.sessions * workload.members) members timed out") }
        if let failure = setUpResult {
            endProgress()
            // One line (a failed TLS handshake names the host and OpenSSL's reason), no usage text.
            Console.error("gamerelay: error: setting up the members failed: \(failure)\n")
            throw ExitCode(1)
        }
        let rssAfterSetup = relayPid.flatMap { currentRSSBytes(pid: $0) }
        let drops = KernelDrops(relayPid: relayPid, inProcessPort: inProcess?.port)

        // The relay's CPU time at the window's edges, per thread: the in-process relay's control
        // loop and every data-plane loop (index 0 alone for a relay in another process).
        let relayCPU = Mutex<(start: [Int: UInt64], end: [Int: UInt64])>(([:], [:]))
        // Read at the window's start and after the drain, before tear-down closes the sockets
        // (and, for coturn, the allocations' relayed sockets) whose counts these are.
        let dropReading = DispatchGroup()
        let dropsAtEdges = Mutex<(start: (relay: UInt64?, generator: UInt64?), end: (relay: UInt64?, generator: UInt64?))>(((nil, nil), (nil, nil)))
        // The host's UDP counters, at the same two moments as the sockets' drops.
        let hostUDPAtEdges = Mutex<(start: UDPCounters?, end: UDPCounters?)>((nil, nil))
        // Tick runs: the relay's superseded count when the window opens (its end is read after the drain).
        let supersededAtStart = Mutex<UInt64?>(nil)
        // Other runs: the relay's forwarded count at the window's two edges, beside its CPU.
        let forwardedAtEdges = Mutex<(start: UInt64?, end: UInt64?)>((nil, nil))
        let metrics = relayMetrics
        let startedAt = ISO8601DateFormatter().string(from: Date())
        let total = Double(workload.duration.components.seconds) + Double(workload.warmup.components.seconds) + 60
        let outcome = Blocking<BenchRunner.Outcome>.run(on: loop, timeout: .seconds(total)) { done in
            let bench = runner.value
            bench.onWindowEdge = { isStart in
                // Off the generator loop: parsing the socket tables takes milliseconds it owes the schedule.
                if isStart {
                    DispatchQueue.global().async(group: dropReading) {
                        let host = UDPCounters.current()
                        hostUDPAtEdges.withLock { $0.start = host }
                        dropsAtEdges.withLock { $0.start = drops.read() }
                        if let metrics, workload.tick != nil {
                            let value = Self.counter(Self.supersededCounter, from: metrics)
                            supersededAtStart.withLock { $0 = value }
                        }
                    }
                    if workload.tick != nil, let inProcess {
                        inProcess.readCounters { counters in supersededAtStart.withLock { $0 = counters.statesSuperseded } }
                    }
                }
                if workload.tick == nil {
                    let store: @Sendable (UInt64?) -> Void = { value in
                        forwardedAtEdges.withLock { if isStart { $0.start = value } else { $0.end = value } }
                    }
                    if let inProcess {
                        inProcess.readCounters { store($0.datagramsForwarded) }
                    } else if let metrics {
                        DispatchQueue.global().async(group: dropReading) { store(Self.counter(Self.forwardedCounter, from: metrics)) }
                    }
                }
                let record: @Sendable (Int, UInt64?) -> Void = { index, value in
                    relayCPU.withLock { if isStart { $0.start[index] = value } else { $0.end[index] = value } }
                }
                if let inProcess {
                    // Each loop reads its own thread's clock: forwarding runs on the data-plane
                    // loops, not on the control loop the relay was started on.
                    for (index, relayLoop) in inProcess.loops.enumerated() {
                        relayLoop.execute { record(index, threadCPUNanos()) }
                    }
                } else if let relayPid {
                    record(0, processCPUNanos(pid: relayPid))
                }
            }
            bench.run(drain: .milliseconds(Int64(Self.drainSeconds * 1000))) { outcome in
                dropReading.wait()
                dropsAtEdges.withLock { $0.end = drops.read() }
                let host = UDPCounters.current()
                hostUDPAtEdges.withLock { $0.end = host }
                bench.tearDown()
                done.finish(outcome)
            }
        }
        endProgress()
        guard let outcome else { throw ValidationError("the run did not finish") }
        let (dropsBefore, dropsAtEnd) = dropsAtEdges.withLock { $0 }
        let hostUDP = hostUDPAtEdges.withLock { UDPCounters.difference(from: $0.start, to: $0.end) }
        let cpu = relayCPU.withLock { $0 }
        let relayCPUNanos: UInt64? = cpu.start.isEmpty || cpu.start.keys.sorted() != cpu.end.keys.sorted() ? nil
            : cpu.start.reduce(0) { total, edge in total + (cpu.end[edge.key]! &- edge.value) }
        var rss: UInt64?
        if let relayPid { rss = peakRSSBytes(pid: relayPid) } else if inProcess != nil { rss = peakRSSBytes(pid: getpid()) }
        let counters = inProcess?.counters()
        var superseded: UInt64?
        if workload.tick != nil, let start = supersededAtStart.withLock({ $0 }),
           let end = inProcess != nil ? counters?.statesSuperseded : metrics.flatMap { Self.counter(Self.supersededCounter, from: $0) }, end >= start {
            superseded = end - start
        }
        let forwardedEdges = forwardedAtEdges.withLock { $0 }
        var relayForwarded: UInt64?
        if let start = forwardedEdges.start, let end = forwardedEdges.end, end >= start { relayForwarded = end - start }
        let measurements = BenchMeasurements(
            sessions: workload.sessions, members: workload.members, payloadBytes: workload.profile.payload.range.lowerBound,
            payloadBytesMax: workload.profile.payload.isFixed ? nil : workload.profile.payload.range.upperBound,
            profile: workload.profile.name.rawValue, ratePerMember: workload.profile.rate, fanout: workload.members - 1, durationSeconds: outcome.measuredSeconds,
            warmupSeconds: Self.seconds(workload.warmup), target: targetName(target, inProcess: inProcess != nil),
            protocolName: protocolKind.rawValue, sent: outcome.sent, expected: outcome.expected, delivered: outcome.delivered,
            duplicates: outcome.duplicates, reordered: outcome.reordered, sendFailures: outcome.sendFailures,
            latency: outcome.latency, sendLag: outcome.sendLag, generatorCPUNanos: outcome.generatorCPUNanos,
            relayCPUNanos: relayCPUNanos, relayPeakRSSBytes: rss,
            relayRateLimitDrops: counters.map { $0.drops(.rateLimited) },
            memberPacketRateLimit: inProcess == nil && protocolKind == .gamerelay ? relayMemberPacketRate ?? 240 : nil,
            relaySocketDrops: KernelDrops.difference(dropsBefore.relay, dropsAtEnd.relay),
            generatorSocketDrops: KernelDrops.difference(dropsBefore.generator, dropsAtEnd.generator),
            streamJitterNanos: outcome.streamJitterNanos, hostUDPErrors: hostUDP,
            relayRSSBeforeSetupBytes: rssBeforeSetup, relayRSSAfterSetupBytes: rssAfterSetup,
            tick: workload.tick, latest: workload.latest, datagramsReceived: outcome.datagramsReceived, superseded: superseded,
            relayForwarded: relayForwarded,
            webSocketMembers: workload.webSocketMembers > 0 ? workload.webSocketMembers : nil,
            deliveredToWebSocket: outcome.deliveredToWebSocket, deliveredToUDP: outcome.deliveredToUDP,
            startedAt: startedAt, hardware: Hardware.summary)
        return (BenchSummary(measurements), measurements)
    }
}

extension BenchCommand {
    /// How long a run waits for stragglers after sending ends, in seconds.
    static let drainSeconds = 0.5

    /// `duration` in seconds, fractions included (`--warmup 0.5` is half a second, not none).
    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    /// A counter from the relay's Prometheus endpoint, summed over its data-plane loops
    /// (`gamerelay_states_superseded_total`, `gamerelay_datagrams_forwarded_total`), or nil when
    /// it can't be read.
    static func counter(_ name: String, from metrics: MetricsURL) -> UInt64? {
        guard let text = metrics.fetch(), let value = PrometheusText.sum(of: name, in: text),
              value >= 0, value < 1.8e19 else { return nil }
        return UInt64(value)
    }

    /// The states a tick session's relay superseded (read in tick runs).
    static let supersededCounter = "gamerelay_states_superseded_total"
    /// The datagrams the relay forwarded (read in other runs).
    static let forwardedCounter = "gamerelay_datagrams_forwarded_total"
}

/// Reads the kernel's receive-queue drop counts of the relay's and the generator's UDP sockets.
///
/// The generator's sockets are those of this process; an in-process relay's are told apart by
/// its port. An external relay's are those of `--relay-pid`, looked up once its members'
/// sockets exist (coturn opens one per allocation).
struct KernelDrops: Sendable {
    let relayInodes: Set<UInt64>?
    let ownInodes: Set<UInt64>
    let inProcessPort: UInt16?

    init(relayPid: Int32?, inProcessPort: Int?) {
        let relayInodes = relayPid.map { UDPSocketTable.socketInodes(ofProcess: $0) }
        self.relayInodes = relayInodes?.isEmpty == true ? nil : relayInodes
        ownInodes = UDPSocketTable.socketInodes(ofProcess: getpid())
        self.inProcessPort = inProcessPort.map { UInt16($0) }
    }

    /// `end − start`, or nil when either is unknown or the count went down (a socket closed).
    static func difference(_ start: UInt64?, _ end: UInt64?) -> UInt64? {
        guard let start, let end, end >= start else { return nil }
        return end - start
    }

    /// The drops so far, each nil when unknown: a relay whose sockets this table doesn't list
    /// (another network namespace, such as a container) is unknown, not drop-free.
    func read() -> (relay: UInt64?, generator: UInt64?) {
        guard let table = UDPSocketTable.current(), !ownInodes.isEmpty else { return (nil, nil) }
        let own = table.drops(inodes: ownInodes)
        if let inProcessPort {
            // This process's sockets on the relay's port are the relay's; the rest are the members'.
            let relayEntries = table.entries.filter { $0.localPort == inProcessPort && ownInodes.contains($0.inode) }
            let relay = relayEntries.reduce(0) { $0 + $1.drops }
            return (relay, own - relay)
        }
        guard let relayInodes, table.entries.contains(where: { relayInodes.contains($0.inode) }) else { return (nil, own) }
        return (table.drops(inodes: relayInodes), own)
    }
}

/// The relay `bench` measures when no `--relay` is given: on its own loop and thread, loopback
/// only, with the per-member rate limit raised so the run measures capacity.
final class InProcessRelay: Sendable {
    /// The relay's control loop, on which it was started.
    let loop: EventLoop
    /// Every loop of the relay: the control loop, then the data-plane loops.
    let loops: [EventLoop]
    let server: LoopBound<RelayServer>
    let port: Int
    /// With TLS: the root of the relay's throwaway PKI (PEM), the one certificate to trust.
    let trustRoots: [UInt8]?

    private init(loop: EventLoop, loops: [EventLoop], server: LoopBound<RelayServer>, port: Int, trustRoots: [UInt8]?) {
        self.loop = loop
        self.loops = loops
        self.server = server
        self.port = port
        self.trustRoots = trustRoots
    }

    /// Starts the relay unless `relay` names one; with `tls`, it serves TLS on its control port
    /// with a certificate for 127.0.0.1 from a PKI made in memory for this run (its files live
    /// only while the relay reads them).
    static func startIfNeeded(_ relay: HostPort?, capacity: Int, tls: Bool = false) -> InProcessRelay? {
        guard relay == nil else { return nil }
        let loop = EventLoop(name: "relay")
        var config = RelayConfig()
        config.host = "127.0.0.1"
        config.port = 0
        config.memberPacketRate = 10_000_000
        config.memberByteRate = 1 << 34
        config.maxSessionCapacity = Swift.max(64, capacity)
        var pki: (certificates: TestCertificates, directory: String)?
        if tls {
            let certificates = TestCertificates()
            guard let directory = writeThrowawayPKI(certificates) else {
                Console.error("gamerelay: error: in-process relay: cannot write its throwaway certificate to a temporary directory\n")
                exit(1)
            }
            pki = (certificates, directory)
            config.tlsCertificateFile = directory + "/chain.pem"
            config.tlsKeyFile = directory + "/key.pem"
        }
        let frozen = config
        let started = Blocking<Result<(LoopBound<RelayServer>, Int, [EventLoop]), SocketError>>.run(on: loop) { done in
            let server = RelayServer(loop: loop, config: frozen, logger: Logger(label: "bench-relay"))
            do throws(SocketError) {
                try server.start()
                done.finish(.success((LoopBound(server, loop: loop), server.controlAddress!.port, [loop] + server.dataPlaneLoops)))
            } catch {
                done.finish(.failure(error))
            }
        }
        // The relay has read its certificate and key (or failed to): the files go now.
        if let pki { removeThrowawayPKI(pki.directory) }
        switch started {
        case .success(let (server, port, loops))?:
            return InProcessRelay(loop: loop, loops: loops, server: server, port: port, trustRoots: pki?.certificates.rootPEM)
        case .failure(let error)?:
            Console.error("gamerelay: error: in-process relay: \(error)\n")
            exit(1)
        case nil:
            exit(1)
        }
    }

    /// Writes the leaf's chain and key to `chain.pem` and `key.pem` in a new private
    /// directory; returns its path.
    private static func writeThrowawayPKI(_ certificates: TestCertificates) -> String? {
        var template = Array((FileManager.default.temporaryDirectory.path + "/gamerelay-bench-tls.XXXXXX").utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else { return nil }
        let directory = String(cString: made)
        let files = [("chain.pem", certificates.chainPEM), ("key.pem", certificates.leafKeyPEM)]
        for (name, bytes) in files {
            guard FileManager.default.createFile(atPath: directory + "/" + name, contents: Data(bytes),
                                                 attributes: [.posixPermissions: 0o600]) else {
                removeThrowawayPKI(directory)
                return nil
            }
        }
        return directory
    }

    private static func removeThrowawayPKI(_ directory: String) {
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Reads the relay's counters on its control loop, without waiting: `record` runs there.
    func readCounters(_ record: @escaping @Sendable (RelayCounters) -> Void) {
        let server = self.server
        loop.execute { record(server.value.counters) }
    }

    func counters() -> RelayCounters? {
        let server = self.server
        return Blocking<RelayCounters>.run(on: loop, timeout: .seconds(5)) { $0.finish(server.value.counters) }
    }

    func stop() {
        let server = self.server
        _ = Blocking<Bool>.run(on: loop, timeout: .seconds(5)) { done in
            server.value.stop()
            done.finish(true)
        }
        loop.syncShutdown()
    }
}
