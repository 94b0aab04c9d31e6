import Foundation

extension BenchReport {
    private static let svgWidth = 900.0
    private static let svgHeight = 500.0
    private static let plotLeft = 90.0
    private static let plotRight = 870.0
    private static let plotTop = 50.0
    private static let plotBottom = 430.0
    /// The x axis labels, one per decade of `1 / (1 − p)`.
    private static let percentileLabels = ["0%", "90%", "99%", "99.9%", "99.99%", "99.999%"]
    /// Decades of `1 / (1 − p)` on the x axis: 0 % … 99.999 %.
    private static let decades = percentileLabels.count - 1
    /// Points per decade sampled along each curve.
    private static let pointsPerDecade = 20
    private static let palette = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"]

    /// Draws latency by percentile, one curve per series, as a self-contained 900 × 500 SVG.
    ///
    /// The x axis is logarithmic in `1 / (1 − p)`, labelled 0 %, 90 %, 99 %, 99.9 %, 99.99 %
    /// and 99.999 %; the y axis is linear latency in microseconds from 0 with rounded ticks.
    /// Each curve is a `polyline` of the series' percentiles sampled 20 times per decade;
    /// beyond the percentile its sample count resolves, a curve stays at its maximum. Labels
    /// and the title are XML-escaped.
    ///
    /// - Parameters:
    ///   - series: The curves, drawn in order, with the labels the legend shows.
    ///   - title: The chart's title.
    ///   - caption: One line under the title for figures the curves don't show (jitter, drop
    ///     counts); none by default.
    /// - Returns: The SVG document, starting with an XML declaration.
    public static func svgPlot(_ series: [(label: String, latency: LatencyRecorder)], title: String,
                               caption: String? = nil) -> String {
        let curves = series.map { entry in
            (label: entry.label, points: percentileCurve(entry.latency))
        }
        let highest = curves.flatMap { $0.points.map(\.micros) }.max() ?? 0
        let ticks = yTicks(upTo: highest)
        let yMax = ticks.last ?? 1

        func x(_ decade: Double) -> Double {
            plotLeft + (plotRight - plotLeft) * decade / Double(decades)
        }
        func y(_ micros: Double) -> Double {
            plotBottom - (plotBottom - plotTop) * micros / yMax
        }

        var svg: [String] = []
        svg.append(##"<?xml version="1.0" encoding="UTF-8"?>"##)
        svg.append(
            ##"<svg xmlns="http://www.w3.org/2000/svg" width="\##(n(svgWidth))" height="\##(n(svgHeight))" "##
                + ##"viewBox="0 0 \##(n(svgWidth)) \##(n(svgHeight))" font-family="sans-serif" font-size="12">"##
        )
        svg.append(##"<title>\##(escape(title))</title>"##)
        svg.append(##"<rect x="0" y="0" width="\##(n(svgWidth))" height="\##(n(svgHeight))" fill="white"/>"##)
        svg.append(##"<text x="\##(n(svgWidth / 2))" y="28" text-anchor="middle" font-size="16" font-weight="bold">\##(escape(title))</text>"##)
        if let caption {
            // One line between the title and the plot, where no curve or label reaches.
            svg.append(##"<text class="caption" x="\##(n(svgWidth / 2))" y="44" text-anchor="middle" font-size="11" fill="#333333">\##(escape(caption))</text>"##)
        }

        svg.append(##"<g class="grid" stroke="#dddddd" stroke-width="1">"##)
        for decade in 0 ... decades {
            svg.append(##"<line x1="\##(n(x(Double(decade))))" y1="\##(n(plotTop))" x2="\##(n(x(Double(decade))))" y2="\##(n(plotBottom))"/>"##)
        }
        for tick in ticks {
            svg.append(##"<line x1="\##(n(plotLeft))" y1="\##(n(y(tick)))" x2="\##(n(plotRight))" y2="\##(n(y(tick)))"/>"##)
        }
        svg.append("</g>")

        svg.append(##"<g class="axes" stroke="#333333" stroke-width="1.5">"##)
        svg.append(##"<line x1="\##(n(plotLeft))" y1="\##(n(plotBottom))" x2="\##(n(plotRight))" y2="\##(n(plotBottom))"/>"##)
        svg.append(##"<line x1="\##(n(plotLeft))" y1="\##(n(plotTop))" x2="\##(n(plotLeft))" y2="\##(n(plotBottom))"/>"##)
        svg.append("</g>")

        svg.append(##"<g class="x-labels" text-anchor="middle" fill="#333333">"##)
        for decade in 0 ... decades {
            svg.append(##"<text x="\##(n(x(Double(decade))))" y="\##(n(plotBottom + 18))">\##(percentileLabels[decade])</text>"##)
        }
        svg.append("</g>")
        let stepDigits = ticks.count > 1 ? decimals(for: ticks[1] - ticks[0]) : 0
        svg.append(##"<g class="y-labels" text-anchor="end" fill="#333333">"##)
        for tick in ticks {
            svg.append(##"<text x="\##(n(plotLeft - 8))" y="\##(n(y(tick) + 4))">\##(BenchFormat.fixed(tick, digits: stepDigits))</text>"##)
        }
        svg.append("</g>")
        svg.append(##"<text x="\##(n((plotLeft + plotRight) / 2))" y="\##(n(svgHeight - 22))" text-anchor="middle" font-size="13">Percentile</text>"##)
        let yTitleX = 24.0
        let yTitleY = (plotTop + plotBottom) / 2
        svg.append(
            ##"<text x="\##(n(yTitleX))" y="\##(n(yTitleY))" text-anchor="middle" font-size="13" "##
                + ##"transform="rotate(-90 \##(n(yTitleX)) \##(n(yTitleY)))">Latency (µs)</text>"##
        )

        svg.append(##"<g class="series" fill="none" stroke-width="2" stroke-linejoin="round">"##)
        for (index, curve) in curves.enumerated() {
            let points = curve.points.map { "\(n(x($0.decade))),\(n(y($0.micros)))" }.joined(separator: " ")
            svg.append(##"<polyline stroke="\##(color(index))" points="\##(points)"><title>\##(escape(curve.label))</title></polyline>"##)
        }
        svg.append("</g>")

        if !curves.isEmpty {
            let longest = curves.map { $0.label.count }.max() ?? 0
            let legendWidth = Double(Swift.min(longest, 60)) * 7 + 50
            let legendHeight = Double(curves.count) * 20 + 10
            let legendX = plotLeft + 12
            let legendY = plotTop + 12
            svg.append(##"<g class="legend">"##)
            svg.append(
                ##"<rect x="\##(n(legendX))" y="\##(n(legendY))" width="\##(n(legendWidth))" height="\##(n(legendHeight))" "##
                    + ##"fill="white" fill-opacity="0.9" stroke="#999999"/>"##
            )
            for (index, curve) in curves.enumerated() {
                let rowY = legendY + 18 + Double(index) * 20
                svg.append(
                    ##"<line x1="\##(n(legendX + 8))" y1="\##(n(rowY - 4))" x2="\##(n(legendX + 32))" y2="\##(n(rowY - 4))" "##
                        + ##"stroke="\##(color(index))" stroke-width="3"/>"##
                )
                svg.append(##"<text x="\##(n(legendX + 40))" y="\##(n(rowY))">\##(escape(curve.label))</text>"##)
            }
            svg.append("</g>")
        }
        svg.append("</svg>")
        return svg.joined(separator: "\n") + "\n"
    }

    /// The curve's points: `decade` is `log10(1 / (1 − p))`, `micros` the latency at `p`.
    private static func percentileCurve(_ latency: LatencyRecorder) -> [(decade: Double, micros: Double)] {
        (0 ... decades * pointsPerDecade).map { step in
            let decade = Double(step) / Double(pointsPerDecade)
            let percentile = 100 * (1 - pow(10, -decade))
            return (decade, Double(latency.percentile(percentile)) / 1_000)
        }
    }

    /// Evenly spaced ticks from 0 to the first multiple of a 1-2-5 step at or above `highest`.
    static func yTicks(upTo highest: Double) -> [Double] {
        guard highest > 0, highest.isFinite else {
            return [0, 0.2, 0.4, 0.6, 0.8, 1]
        }
        let rough = highest / 5
        let magnitude = pow(10, (log10(rough)).rounded(.down))
        let normalized = rough / magnitude
        let step: Double
        if normalized <= 1 {
            step = magnitude
        } else if normalized <= 2 {
            step = 2 * magnitude
        } else if normalized <= 5 {
            step = 5 * magnitude
        } else {
            step = 10 * magnitude
        }
        let count = Int((highest / step).rounded(.up))
        return (0 ... Swift.max(count, 1)).map { Double($0) * step }
    }

    private static func decimals(for step: Double) -> Int {
        guard step > 0, step < 1 else {
            return 0
        }
        return Int((-log10(step)).rounded(.up))
    }

    private static func color(_ index: Int) -> String {
        palette[index % palette.count]
    }

    /// A coordinate with one decimal.
    private static func n(_ value: Double) -> String {
        BenchFormat.fixed(value, digits: 1)
    }

    /// Escapes text for XML content and attributes, dropping characters XML 1.0 forbids.
    static func escape(_ text: String) -> String {
        var escaped = ""
        escaped.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": escaped += "&amp;"
            case "<": escaped += "&lt;"
            case ">": escaped += "&gt;"
            case "\"": escaped += "&quot;"
            case "'": escaped += "&apos;"
            case "\t", "\n", "\r": escaped.unicodeScalars.append(scalar)
            default:
                let value = scalar.value
                if value < 0x20 || value == 0xFFFE || value == 0xFFFF {
                    continue
                }
                escaped.unicodeScalars.append(scalar)
            }
        }
        return escaped
    }
}
