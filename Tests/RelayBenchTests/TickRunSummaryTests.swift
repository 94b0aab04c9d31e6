import Foundation
import RelayBench
import Testing

extension BenchMeasurements {
    /// A tick run (30 Hz): 2 sessions × 4 members at 30/s for 10 s, 2400 LATEST states sent,
    /// 7200 deliveries expected (fan-out 3), 6900 updates delivered in 2400 AGGREGATEs, 90
    /// states superseded at the relay (270 deliveries), so 30 deliveries lost.
    static func tickFixture(superseded: UInt64? = 90) -> BenchMeasurements {
        var m = BenchMeasurements.fixture()
        m.sessions = 2
        m.members = 4
        m.fanout = 3
        m.ratePerMember = 30
        m.durationSeconds = 10
        m.sent = 2_400
        m.expected = 7_200
        m.delivered = 6_900
        m.duplicates = 0
        m.reordered = 0
        m.relayCPUNanos = 6_900_000
        m.tick = 30
        m.datagramsReceived = 2_400
        m.superseded = superseded
        return m
    }
}

@Suite("BenchSummary and BenchReport in tick runs")
struct TickRunSummaryTests {
    @Test("superseded states are accounted apart from loss: loss = expected − delivered − superseded × fan-out")
    func supersededIsNotLoss() {
        let s = BenchSummary(.tickFixture())
        #expect(s.tick == 30 && s.latest == true)
        #expect(s.superseded == 90)
        #expect(s.supersededDeliveries == 270)
        #expect(s.notDelivered == 300)
        #expect(s.lost == 30)
        #expect(s.lossPercent == 30.0 / 7_200 * 100)
        #expect(s.delivered + s.supersededDeliveries! + s.lost! == s.expected)
        #expect(s.warnings.isEmpty, "\(s.warnings)")
    }

    @Test("updates per second and datagrams per second are separate figures; CPU is per update")
    func updatesAndDatagrams() {
        let s = BenchSummary(.tickFixture())
        #expect(s.deliveredPacketsPerSecond == 690)
        #expect(s.datagramsReceived == 2_400)
        #expect(s.datagramsReceivedPerSecond == 240)
        #expect(s.relayCPUMicrosPerUpdate == 1.0)
        #expect(s.relayCPUMicrosPerForwarded == 1.0)
    }

    @Test("more superseded deliveries than missing ones (a warm-up state replaced in the window) read as no loss")
    func lossNeverNegative() {
        let s = BenchSummary(.tickFixture(superseded: 101))
        #expect(s.lost == 0)
        #expect(s.lossPercent == 0)
    }

    @Test("an unknown superseded count makes every missing delivery 'superseded or lost', with a warning")
    func unknownSuperseded() {
        let s = BenchSummary(.tickFixture(superseded: nil))
        #expect(s.superseded == nil && s.supersededDeliveries == nil && s.lost == nil)
        #expect(s.notDelivered == 300)
        #expect(s.lossPercent == 300.0 / 7_200 * 100)
        #expect(s.warnings.count == 1)
        #expect(s.warnings.first?.hasPrefix("superseded unknown:") == true, "\(s.warnings)")
        let table = BenchReport.table(s)
        #expect(table.contains("  superseded                unknown\n"), "\(table)")
        #expect(table.contains("  not delivered             300 (4.17 %), superseded or lost\n"), "\(table)")
        #expect(!table.contains("  loss "), "\(table)")
    }

    @Test("ordinary runs have no tick figures, and their JSON no tick keys")
    func ordinaryRunsLackTickFigures() throws {
        let s = BenchSummary(.fixture())
        #expect(s.latest == nil)
        var latest = BenchMeasurements.fixture()
        latest.latest = true
        #expect(BenchSummary(latest).latest == true && BenchSummary(latest).tick == nil)
        #expect(BenchReport.table(BenchSummary(latest)).contains("fan-out 3, LATEST\n"))
        #expect(s.tick == nil && s.superseded == nil && s.notDelivered == nil && s.lost == nil)
        #expect(s.datagramsReceived == nil && s.datagramsReceivedPerSecond == nil && s.relayCPUMicrosPerUpdate == nil)
        let json = try BenchReport.json(s)
        for key in ["tick", "latest", "superseded", "supersededDeliveries", "notDelivered", "lost", "datagramsReceived", "relayCPUMicrosPerUpdate"] {
            #expect(!json.contains("\"\(key)\""), "\(key)")
        }
    }

    @Test("the table names the tick, counts updates, and splits superseded from lost")
    func table() {
        let table = BenchReport.table(BenchSummary(.tickFixture()))
        #expect(table.contains("fan-out 3, tick 30 Hz (LATEST broadcasts, aggregated)\n"), "\(table)")
        #expect(table.contains("Latency, one-way per update (µs, send → arrival of the AGGREGATE carrying it)\n"), "\(table)")
        #expect(table.contains("  updates / expected        6900 / 7200\n"), "\(table)")
        #expect(table.contains("  superseded                90 states × 3 = 270 deliveries (3.75 %), replaced before a tick\n"), "\(table)")
        #expect(table.contains("  loss                      0.417 % (30 deliveries)\n"), "\(table)")
        #expect(table.contains("  updates delivered         690.0 /s\n"), "\(table)")
        #expect(table.contains("  datagrams received        240.0 pkt/s (2.9 updates each)\n"), "\(table)")
        #expect(table.contains("  relay CPU per update      1.000 µs\n"), "\(table)")
        #expect(!table.contains("relay CPU per forwarded"), "\(table)")
    }

    @Test("the JSON carries the tick figures and round-trips")
    func json() throws {
        let s = BenchSummary(.tickFixture())
        let text = try BenchReport.json(s)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        #expect(object["tick"] as? Int == 30)
        #expect(object["superseded"] as? Int == 90)
        #expect(object["supersededDeliveries"] as? Int == 270)
        #expect(object["lost"] as? Int == 30)
        #expect(object["notDelivered"] as? Int == 300)
        #expect(object["datagramsReceivedPerSecond"] as? Double == 240)
        #expect(object["relayCPUMicrosPerUpdate"] as? Double == 1)
        #expect(try JSONDecoder().decode(BenchSummary.self, from: Data(text.utf8)) == s)
    }
}
