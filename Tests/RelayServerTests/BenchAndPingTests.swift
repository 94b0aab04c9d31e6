import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `gamerelay bench` and `gamerelay ping`, run as users run them.
@Suite("gamerelay bench and ping (process)")
struct BenchAndPingTests {
    @Test func benchAgainstTheInProcessRelayWritesItsReports() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("bench-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let json = directory.appendingPathComponent("summary.json").path
        let hgrm = directory.appendingPathComponent("latency.hgrm").path
        let svg = directory.appendingPathComponent("latency.svg").path
        let bench = try RelayProcessHarness(["bench", "--sessions", "3", "--members", "3", "--rate", "50",
                                             "--duration", "1", "--warmup", "0.5", "--json", json, "--hgrm", hgrm, "--plot", svg])
        #expect(try await bench.waitForExit(timeout: .seconds(60)) == 0, "stderr: \(bench.stderrText())")
        let summary = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: json))) as? [String: Any])
        let expected = try #require(summary["expected"] as? Int)
        // 3 sessions × 3 members × 50/s × 1 s, each to 2 others.
        #expect(expected >= 800 && expected <= 1000)
        #expect(summary["delivered"] as? Int == expected)
        #expect(summary["lossPercent"] as? Double == 0)
        #expect((summary["latencyP50Micros"] as? Double ?? 0) > 0)
        #expect(try String(contentsOfFile: hgrm, encoding: .utf8).contains("Percentile"))
        #expect(try String(contentsOfFile: svg, encoding: .utf8).contains("<polyline"))
    }

    /// The voice profile against the in-process relay: 50 frames/s of 60–160 bytes from every
    /// member, and every run's jitter and host UDP counters in the JSON, the table and the chart.
    @Test func benchVoiceProfileReportsJitterPerStream() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("bench-voice-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let json = directory.appendingPathComponent("summary.json").path
        let svg = directory.appendingPathComponent("latency.svg").path
        let bench = try RelayProcessHarness(["bench", "--profile", "voice", "--sessions", "2", "--members", "3",
                                             "--duration", "1", "--warmup", "0.3", "--json", json, "--plot", svg])
        #expect(try await bench.waitForExit(timeout: .seconds(60)) == 0, "stderr: \(bench.stderrText())")
        let summary = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: json))) as? [String: Any])
        #expect(summary["profile"] as? String == "voice")
        #expect(summary["ratePerMember"] as? Double == 50)
        #expect(summary["payloadBytes"] as? Int == 60)
        #expect(summary["payloadBytesMax"] as? Int == 160)
        // 2 sessions × 3 members × 50/s × 1 s, each to 2 others.
        let expected = try #require(summary["expected"] as? Int)
        #expect(expected >= 540 && expected <= 660, "\(summary)")
        #expect(summary["delivered"] as? Int == expected, "\(summary)")
        // Every sender → receiver pair is a stream: 2 sessions × 3 receivers × 2 senders.
        #expect(summary["jitterStreams"] as? Int == 12, "\(summary)")
        let p50 = try #require(summary["jitterP50Micros"] as? Double, "\(summary)")
        let p99 = try #require(summary["jitterP99Micros"] as? Double, "\(summary)")
        // Transit on loopback varies by some microseconds at least; J stays under a frame's 20 ms.
        #expect(p50 > 0 && p50 <= p99 && p99 < 20_000, "\(summary)")
        // The in-process relay's CPU counts its data-plane loops, where forwarding runs: a
        // forwarded datagram costs the kernel's UDP path, never a few nanoseconds (the figure
        // read only the control loop's thread before).
        let cpuPerForwarded = try #require(summary["relayCPUMicrosPerForwarded"] as? Double, "\(summary)")
        #expect(cpuPerForwarded > 0.3 && cpuPerForwarded < 100_000, "\(summary)")
        // The relay's own count over the window: every delivery was one of its forwards.
        let forwarded = try #require(summary["relayForwarded"] as? Int, "\(summary)")
        #expect(forwarded >= expected * 8 / 10 && forwarded <= expected * 12 / 10, "\(summary)")
        #expect(summary["relayCPUMicrosPerRelayForwarded"] is Double, "\(summary)")
        if access("/proc/net/snmp", R_OK) == 0 {
            let rcvbuf = try #require(summary["hostUDPRcvbufErrors"] as? Int, "\(summary)")
            let inErrors = try #require(summary["hostUDPInErrors"] as? Int, "\(summary)")
            #expect(inErrors >= rcvbuf)
        }
        let table = try bench.readAll()
        #expect(table.contains("gamerelay bench, voice profile: 2 sessions × 3 members, 60–160 B payload"), "\(table)")
        #expect(table.contains("Jitter, RFC 3550 interarrival"), "\(table)")
        #expect(table.split(separator: "\n").contains { $0.hasPrefix("  streams ") && $0.hasSuffix(" 12") }, "\(table)")
        #expect(try String(contentsOfFile: svg, encoding: .utf8).contains("RFC 3550 jitter over 12 streams"))
    }

    /// Segmented sends at 2000/s per member: two messages are due at each 1 ms tick and leave
    /// as one burst, each counted once. When the generator and the relay kept up, every planned
    /// delivery arrives; a test machine busy with other tests can starve either (the run then
    /// says so in a generator-bound warning, or the relay's socket counts kernel drops), so then
    /// only the counts hold.
    @Test func segmentedSendsDeliverEveryPlannedMessage() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("bench-gso-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let json = directory.appendingPathComponent("summary.json").path
        let bench = try RelayProcessHarness(["bench", "--sessions", "1", "--members", "3", "--rate", "2000",
                                             "--duration", "1", "--warmup", "0.3", "--segmented-sends", "--json", json])
        #expect(try await bench.waitForExit(timeout: .seconds(60)) == 0, "stderr: \(bench.stderrText())")
        let summary = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: json))) as? [String: Any])
        // 1 session × 3 members × 2000/s × 1 s, each to 2 others.
        let expected = try #require(summary["expected"] as? Int)
        #expect(expected >= 10_000 && expected <= 14_000, "\(summary)")
        let delivered = try #require(summary["delivered"] as? Int)
        let generatorBound = (summary["warnings"] as? [String] ?? []).contains { $0.hasPrefix("generator-bound") }
        // A stall of the relay's thread of 50-100 ms overflows its receive queue at this rate:
        // the kernel's count of those drops says the machine, not the sends, lost them.
        let relayQueueOverflowed = (summary["relaySocketDrops"] as? Int ?? 0) > 0
        if generatorBound || relayQueueOverflowed {
            #expect(delivered > 0 && delivered <= expected, "\(summary)")
        } else {
            #expect(delivered == expected, "\(summary)")
            #expect(summary["relaySocketDrops"] as? Int == 0)
        }
        #expect(summary["reordered"] as? Int == 0)
        #expect(summary["duplicates"] as? Int == 0)
        #expect(summary["sendFailures"] as? Int == 0)
    }

    @Test func benchAndPingAgainstASeparateRelay() async throws {
        let relay = try RelayProcessHarness(["serve", "--host", "127.0.0.1", "--port", "0", "--log-level", "warning"])
        let address = try relay.waitForListening().control
        let bench = try RelayProcessHarness(["bench", "--relay", address, "--relay-pid", "\(relay.process.processIdentifier)",
                                             "--sessions", "2", "--members", "2", "--duration", "1", "--warmup", "0.2"])
        #expect(try await bench.waitForExit(timeout: .seconds(60)) == 0, "stderr: \(bench.stderrText())")
        let table = try bench.readAll()
        #expect(table.contains("loss") && table.contains("0.00 %"), "\(table)")
        // With --relay-pid the report knows where datagrams could have been lost, and the set-up's RSS growth.
        for label in ["kernel drops at relay ", "kernel drops at generator ", "relay RSS growth, set-up "] {
            let line = table.split(separator: "\n").first { $0.contains(label) }
            #expect(line.map { !$0.contains("n/a") } == true, "\(label): \(table)")
        }
        #expect(table.contains("MiB for 4 members"), "\(table)")

        let ping = try RelayProcessHarness(["ping", address, "-c", "3", "--interval", "0.05"])
        #expect(try await ping.waitForExit(timeout: .seconds(30)) == 0)
        let output = try ping.readAll()
        #expect(output.components(separatedBy: "time=").count == 4, "\(output)")
        #expect(output.contains("3 packets transmitted, 3 received, 0.0% packet loss"))
        relay.signal(SIGKILL)
    }

    /// The same schedule against a real coturn, with channels to the receivers' own sockets
    /// (a sender's ChannelData in one segmented send) and to their relayed addresses (one send
    /// each): every planned delivery arrives, named by its sender.
    @Test(arguments: [("direct", true), ("relayed", false)])
    func benchDrivesATurnServer(peers: String, segmented: Bool) async throws {
        let server = try TurnServerProcess(longTerm: false, relayPorts: peers == "direct" ? 40960...45055 : 45056...49151)
        defer { server.stop() }
        try server.waitUntilServing()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("bench-turn-\(getpid())-\(peers)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let json = directory.appendingPathComponent("summary.json").path
        let bench = try RelayProcessHarness(["bench", "--protocol", "turn", "--turn-peers", peers, "--relay", "127.0.0.1:\(server.port)",
                                             "--relay-pid", "\(server.processIdentifier)", "--sessions", "2", "--members", "3",
                                             "--rate", "50", "--duration", "1", "--warmup", "0.3", "--json", json]
                                            + (segmented ? ["--segmented-sends"] : []))
        #expect(try await bench.waitForExit(timeout: .seconds(60)) == 0, "stderr: \(bench.stderrText())\n\(server.log)")
        let summary = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: json))) as? [String: Any])
        #expect(summary["target"] as? String == "turn:127.0.0.1:\(server.port), \(peers) peers")
        // 2 sessions × 3 members × 50/s × 1 s, each sent as one ChannelData to each of 2 others.
        let expected = try #require(summary["expected"] as? Int)
        #expect(expected >= 500 && expected <= 700)
        #expect(summary["delivered"] as? Int == expected)
        #expect(summary["duplicates"] as? Int == 0)
        #expect(summary["relaySocketDrops"] as? Int == 0)
    }

    /// Tick sessions against the in-process relay: AGGREGATE entries count as updates, fewer
    /// datagrams carry them, and every expected delivery is either delivered or accounted for by
    /// a state the relay superseded (the relay's own count). No warm-up, so no state from before
    /// the window can be superseded inside it; a busy test machine may still lose a few.
    @Test func benchTickCountsUpdatesAndSupersededStates() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("bench-tick-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let json = directory.appendingPathComponent("summary.json").path
        let svg = directory.appendingPathComponent("latency.svg").path
        let bench = try RelayProcessHarness(["bench", "--tick", "30", "--sessions", "2", "--members", "4", "--duration", "1",
                                             "--warmup", "0", "--json", json, "--plot", svg])
        #expect(try await bench.waitForExit(timeout: .seconds(60)) == 0, "stderr: \(bench.stderrText())")
        let summary = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: json))) as? [String: Any])
        #expect(summary["tick"] as? Int == 30)
        // 2 sessions × 4 members × 30/s × 1 s, each state meant for 3 others.
        let expected = try #require(summary["expected"] as? Int)
        #expect(expected >= 630 && expected <= 780, "\(summary)")
        let updates = try #require(summary["delivered"] as? Int)
        let datagrams = try #require(summary["datagramsReceived"] as? Int)
        #expect(updates > 0 && datagrams > 0 && datagrams < updates, "an AGGREGATE carries up to 3 updates: \(summary)")
        let superseded = try #require(summary["superseded"] as? Int, "the in-process relay's count: \(summary)")
        #expect(summary["supersededDeliveries"] as? Int == superseded * 3)
        let lost = try #require(summary["lost"] as? Int)
        // Every expected delivery is delivered, superseded or lost, and nothing more arrived than was sent.
        #expect(updates + superseded * 3 + lost >= expected, "\(summary)")
        #expect(updates + superseded * 3 <= expected, "\(summary)")
        #expect(lost <= expected / 50, "at most 2 % lost on loopback: \(summary)")
        // With LATEST, a superseded state is a gap in the sender's sequences: never a reorder.
        #expect(summary["reordered"] as? Int == 0 && summary["duplicates"] as? Int == 0, "\(summary)")
        // An update waits for the next tick: at 30 Hz up to 33.3 ms, plus the trip.
        let p50 = try #require(summary["latencyP50Micros"] as? Double)
        #expect(p50 > 0 && p50 < 200_000, "\(summary)")
        #expect((summary["relayCPUMicrosPerUpdate"] as? Double ?? 0) > 0, "\(summary)")
        let table = try bench.readAll()
        #expect(table.contains("tick 30 Hz (LATEST broadcasts, aggregated)"), "\(table)")
        #expect(table.contains("  superseded                \(superseded) states × 3"), "\(table)")
        #expect(table.contains("  datagrams received "), "\(table)")
        #expect(try String(contentsOfFile: svg, encoding: .utf8).contains("tick 30 Hz: "))
    }

    /// A separate relay's superseded count comes from its Prometheus endpoint; without the
    /// endpoint the report says the split between superseded and lost is unknown.
    @Test func benchTickReadsASeparateRelaysSupersededCount() async throws {
        let (relay, listening, metrics) = try RelayProcessHarness.relayForBench()
        defer { relay.signal(SIGKILL) }
        for withMetrics in [true, false] {
            let json = FileManager.default.temporaryDirectory.appendingPathComponent("bench-tick-metrics-\(getpid())-\(withMetrics).json").path
            defer { try? FileManager.default.removeItem(atPath: json) }
            let bench = try RelayProcessHarness(["bench", "--relay", listening.control, "--relay-pid", "\(relay.process.processIdentifier)",
                                                 "--tick", "20", "--sessions", "1", "--members", "3", "--duration", "1", "--warmup", "0",
                                                 "--json", json] + (withMetrics ? ["--relay-metrics", "http://\(metrics)/metrics"] : []))
            #expect(try await bench.waitForExit(timeout: .seconds(60)) == 0, "stderr: \(bench.stderrText())")
            let summary = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: json))) as? [String: Any])
            let table = try bench.readAll()
            if withMetrics {
                #expect(summary["superseded"] is Int && summary["lost"] is Int, "\(summary)")
                #expect(!table.contains("superseded unknown"), "\(table)")
            } else {
                #expect(summary["superseded"] == nil && summary["lost"] == nil && summary["notDelivered"] is Int, "\(summary)")
                #expect(table.contains("  superseded                unknown"), "\(table)")
                #expect(table.contains("superseded or lost"), "\(table)")
            }
        }
    }

    /// Outside tick runs, a separate relay's Prometheus endpoint gives the datagrams it forwarded
    /// over the window, and with them its CPU per datagram sent.
    @Test func benchReadsASeparateRelaysForwardedCount() async throws {
        let (relay, listening, metrics) = try RelayProcessHarness.relayForBench()
        defer { relay.signal(SIGKILL) }
        let json = FileManager.default.temporaryDirectory.appendingPathComponent("bench-forwarded-\(getpid()).json").path
        defer { try? FileManager.default.removeItem(atPath: json) }
        let bench = try RelayProcessHarness(["bench", "--relay", listening.control, "--relay-pid", "\(relay.process.processIdentifier)",
                                             "--sessions", "2", "--members", "3", "--rate", "50", "--duration", "1", "--warmup", "0.3",
                                             "--relay-metrics", "http://\(metrics)/metrics", "--json", json])
        #expect(try await bench.waitForExit(timeout: .seconds(60)) == 0, "stderr: \(bench.stderrText())")
        let summary = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: json))) as? [String: Any])
        let expected = try #require(summary["expected"] as? Int, "\(summary)")
        let forwarded = try #require(summary["relayForwarded"] as? Int, "\(summary)")
        // Read at the window's edges over HTTP: a few milliseconds of skew either side.
        #expect(forwarded >= expected * 8 / 10 && forwarded <= expected * 12 / 10, "\(summary)")
        let perSent = try #require(summary["relayCPUMicrosPerRelayForwarded"] as? Double, "\(summary)")
        #expect(perSent > 0, "\(summary)")
        #expect(try bench.readAll().contains("  relay CPU per send "))
    }


    @Test(arguments: [
        (["--tick", "30", "--protocol", "turn", "--relay", "127.0.0.1:3478"], "--tick needs --protocol gamerelay"),
        (["--tick", "30", "--connections", "10"], "--tick measures traffic, not --connections"),
        (["--tick", "0"], "--tick must lie in 1...120"),
        (["--tick", "30", "--payload", "1449"], "--tick: a payload must fit an AGGREGATE entry, at most 1448 bytes"),
        (["--relay-metrics", "http://127.0.0.1:9/metrics"], "--relay-metrics describes a GameRelay relay given with --relay"),
    ])
    func benchTickRefusesWhatItCannotMeasure(arguments: [String], message: String) async throws {
        let bench = try RelayProcessHarness(["bench"] + arguments + ["--duration", "1"])
        let status = try #require(try await bench.waitForExit(timeout: .seconds(30)))
        #expect(status != 0)
        #expect(bench.stderrText().contains(message), "\(bench.stderrText())")
    }

    @Test func turnPeersNeedTheTurnProtocol() async throws {
        let bench = try RelayProcessHarness(["bench", "--turn-peers", "direct", "--duration", "1"])
        let status = try #require(try await bench.waitForExit(timeout: .seconds(30)))
        #expect(status != 0)
        #expect(bench.stderrText().contains("--turn-peers needs --protocol turn"))
    }

    @Test func pingToNoRelayFailsWithOneLine() async throws {
        let ping = try RelayProcessHarness(["ping", "127.0.0.1:1", "-c", "1"])
        let status = try #require(try await ping.waitForExit(timeout: .seconds(30)))
        #expect(status != 0)
        #expect(ping.stderrText().split(separator: "\n").count == 1)
    }
}
