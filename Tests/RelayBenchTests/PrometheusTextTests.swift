import RelayBench
import Testing

@Suite("PrometheusText")
struct PrometheusTextTests {
    static let page = """
        # HELP gamerelay_states_superseded_total Pending states replaced before a tick.
        # TYPE gamerelay_states_superseded_total counter
        gamerelay_states_superseded_total{loop="1"} 120
        gamerelay_states_superseded_total{loop="2",note="a } b"} 30
        gamerelay_states_superseded_total_extra 999
        gamerelay_aggregates_sent_total 4500 1700000000000
        gamerelay_sessions 3.5e1
        broken_total{loop="1" 7
        nan_total NaN

        """

    @Test("a labelled counter is summed over its label sets; a longer name is another metric")
    func sumsOverLabels() {
        #expect(PrometheusText.sum(of: "gamerelay_states_superseded_total", in: Self.page) == 150)
    }

    @Test("an unlabelled sample with a timestamp, and a float in exponent form")
    func unlabelled() {
        #expect(PrometheusText.sum(of: "gamerelay_aggregates_sent_total", in: Self.page) == 4_500)
        #expect(PrometheusText.sum(of: "gamerelay_sessions", in: Self.page) == 35)
    }

    @Test("missing, malformed and non-finite samples give nil")
    func absent() {
        #expect(PrometheusText.sum(of: "gamerelay_missing_total", in: Self.page) == nil)
        #expect(PrometheusText.sum(of: "broken_total", in: Self.page) == nil)
        #expect(PrometheusText.sum(of: "nan_total", in: Self.page) == nil)
        #expect(PrometheusText.sum(of: "gamerelay_sessions", in: "") == nil)
        #expect(PrometheusText.sum(of: "x", in: "x\nx{\nx }\n\u{0}x 1") == nil)
    }

    @Test("CRLF line ends are read like LF")
    func crlf() {
        #expect(PrometheusText.sum(of: "a_total", in: "a_total 2\r\na_total{l=\"x\"} 3\r\n") == 5)
    }

    @Test("HELP and TYPE lines describe families; samples are named without their labels")
    func familiesAndSampleNames() {
        let families = PrometheusText.families(in: Self.page + "# TYPE lonely_total counter\n# HELP empty_help\n# other comment here\n")
        #expect(families["gamerelay_states_superseded_total"] == .init(help: "Pending states replaced before a tick.", type: "counter"))
        #expect(families["lonely_total"] == .init(help: nil, type: "counter"))
        #expect(families["empty_help"] == .init(help: "", type: nil))
        #expect(families.count == 3)
        let names = PrometheusText.sampleNames(in: Self.page)
        #expect(names == ["gamerelay_states_superseded_total", "gamerelay_states_superseded_total_extra",
                          "gamerelay_aggregates_sent_total", "gamerelay_sessions", "broken_total", "nan_total"])
    }
}

