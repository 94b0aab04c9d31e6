import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
@testable import RelayBench
import Testing

/// Collects what the SVG tests look at while XMLParser checks well-formedness.
private final class SVGCollector: NSObject, XMLParserDelegate {
    var root: String?
    var elementCounts: [String: Int] = [:]
    var polylinePoints: [String] = []
    var texts: [String] = []
    private var currentText = ""

    func parser(
        _ parser: XMLParser,
        didStartElement elementName: String,
        namespaceURI: String?,
        qualifiedName: String?,
        attributes: [String: String] = [:]
    ) {
        if root == nil {
            root = elementName
        }
        elementCounts[elementName, default: 0] += 1
        if elementName == "polyline", let points = attributes["points"] {
            polylinePoints.append(points)
        }
        currentText = ""
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) {
        currentText += string
    }

    func parser(_ parser: XMLParser, didEndElement elementName: String, namespaceURI: String?, qualifiedName: String?) {
        if elementName == "text" || elementName == "title" {
            texts.append(currentText)
        }
        currentText = ""
    }
}

@Suite("BenchReport SVG")
struct BenchReportSVGTests {
    private func parse(_ svg: String) throws -> SVGCollector {
        let parser = XMLParser(data: Data(svg.utf8))
        let collector = SVGCollector()
        parser.delegate = collector
        let ok = parser.parse()
        #expect(ok, "SVG is not well-formed: \(String(describing: parser.parserError))")
        try #require(ok)
        return collector
    }

    private func recorder(scaleNanos: UInt64) -> LatencyRecorder {
        var recorder = LatencyRecorder()
        for value in UInt64(1) ... 20_000 {
            recorder.recordRaw(nanoseconds: value * scaleNanos)
        }
        return recorder
    }

    private func coordinates(_ points: String) -> [(x: Double, y: Double)] {
        points.split(separator: " ").compactMap { pair in
            let parts = pair.split(separator: ",")
            guard parts.count == 2, let x = Double(parts[0]), let y = Double(parts[1]) else {
                return nil
            }
            return (x, y)
        }
    }

    @Test("well-formed XML with one polyline per series, axes, labels and a legend", arguments: [0, 1, 3, 9])
    func structure(seriesCount: Int) throws {
        let series = (0 ..< seriesCount).map { index in
            (label: "run \(index)", latency: recorder(scaleNanos: UInt64(index + 1) * 100))
        }
        let svg = BenchReport.svgPlot(series, title: "Latency by percentile")
        #expect(svg.hasPrefix("<?xml"))
        let parsed = try parse(svg)
        #expect(parsed.root == "svg")
        #expect(parsed.elementCounts["polyline", default: 0] == seriesCount)
        for label in ["0%", "90%", "99%", "99.9%", "99.99%", "99.999%", "Percentile", "Latency (µs)", "Latency by percentile"] {
            #expect(parsed.texts.contains(label), "missing text \(label)")
        }
        for index in 0 ..< seriesCount {
            #expect(parsed.texts.filter { $0 == "run \(index)" }.count == 2, "legend entry and tooltip of run \(index)")
        }
        #expect(svg.contains(#"width="900.0" height="500.0""#))
    }

    @Test("curves stay inside the plot, rise with the percentile, and the slower series is higher")
    func curveGeometry() throws {
        let svg = BenchReport.svgPlot(
            [(label: "fast", latency: recorder(scaleNanos: 100)), (label: "slow", latency: recorder(scaleNanos: 400))],
            title: "t"
        )
        let parsed = try parse(svg)
        let curves = parsed.polylinePoints.map(coordinates)
        try #require(curves.count == 2)
        for curve in curves {
            #expect(curve.count == 101)
            #expect(curve.allSatisfy { (90 ... 870).contains($0.x) && (50 ... 430).contains($0.y) })
            #expect(zip(curve, curve.dropFirst()).allSatisfy { $0.x < $1.x && $0.y >= $1.y })
        }
        // SVG y grows downwards: the slow series sits above (smaller y) from the median on.
        #expect(curves[1][20].y < curves[0][20].y)
        #expect(curves[1].last?.y == 50)
    }

    @Test("a caption line sits between the title and the plot, escaped; none by default")
    func caption() throws {
        let series = [(label: "run", latency: recorder(scaleNanos: 1_000))]
        let plain = try parse(BenchReport.svgPlot(series, title: "t"))
        let captioned = try parse(BenchReport.svgPlot(series, title: "t", caption: "jitter p50 1.0 µs & p99 <2.0 µs"))
        #expect(captioned.texts.contains("jitter p50 1.0 µs & p99 <2.0 µs"))
        #expect(captioned.elementCounts["text", default: 0] == plain.elementCounts["text", default: 0] + 1)
        let svg = BenchReport.svgPlot(series, title: "t", caption: "c")
        let line = try #require(svg.split(separator: "\n").first { $0.contains(#"class="caption""#) })
        #expect(line.contains(#"y="44""#))
    }

    @Test("labels and the title are escaped")
    func escaping() throws {
        let nasty = #"<b>&"quotes" 'n' \#u{01}bell"#
        let svg = BenchReport.svgPlot([(label: nasty, latency: recorder(scaleNanos: 1_000))], title: nasty)
        #expect(!svg.contains("<b>"))
        let parsed = try parse(svg)
        let clean = #"<b>&"quotes" 'n' bell"#
        #expect(parsed.texts.contains(clean))
    }

    @Test("y ticks are 1-2-5 steps from 0 covering the maximum", arguments: [
        (9.3, [0.0, 2, 4, 6, 8, 10]),
        (1_000, [0.0, 200, 400, 600, 800, 1_000]),
        (1_234, [0.0, 500, 1_000, 1_500]),
        (0.7, [0.0, 0.2, 0.4, 0.6, 0.8]),
        (0, [0.0, 0.2, 0.4, 0.6, 0.8, 1]),
    ] as [(Double, [Double])])
    func yTicks(highest: Double, expected: [Double]) {
        let ticks = BenchReport.yTicks(upTo: highest)
        #expect(ticks.count == expected.count)
        for (tick, want) in zip(ticks, expected) {
            #expect(abs(tick - want) < 1e-9)
        }
    }
}
