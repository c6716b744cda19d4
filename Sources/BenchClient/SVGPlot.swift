/// `--plot FILE.svg`: latency CDFs (TTFT, TPOT and ITL, E2EL) and the output-throughput timeline, drawn as plain
/// SVG so the file opens in any browser without extra tools.
public enum SVGPlot {
    struct Series {
        var name: String
        var color: String
        var values: [Double]  // ms, sorted
    }

    public static func render(_ result: BenchResult) -> String {
        let successful = result.outputs.filter(\.success)
        let ttft = successful.map { $0.ttft * 1000 }.sorted()
        let e2el = successful.map { $0.latency * 1000 }.sorted()
        let itl = successful.flatMap { $0.itl.map { $0 * 1000 } }.sorted()
        let tpot = successful.compactMap { o -> Double? in
            o.outputTokenCount > 1 ? (o.latency - o.ttft) / Double(o.outputTokenCount - 1) * 1000 : nil
        }.sorted()
        let width = 1000.0
        let height = 720.0
        var svg = """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" \
            font-family="sans-serif" font-size="12">
            <rect width="100%" height="100%" fill="white"/>
            <text x="20" y="24" font-size="16">ling-bench: \(escape(result.setup.modelID)) · \
            \(result.metrics.completed) requests · \(TextFormat.fixed(result.metrics.outputThroughput)) tok/s</text>

            """
        svg += cdfPanel(
            title: "TTFT CDF (ms)", series: [Series(name: "TTFT", color: "#1f77b4", values: ttft)], x: 60, y: 50)
        svg += cdfPanel(
            title: "TPOT / ITL CDF (ms)",
            series: [
                Series(name: "TPOT", color: "#ff7f0e", values: tpot), Series(name: "ITL", color: "#2ca02c", values: itl),
            ], x: 560, y: 50)
        svg += cdfPanel(
            title: "E2EL CDF (ms)", series: [Series(name: "E2EL", color: "#d62728", values: e2el)], x: 60, y: 400)
        svg += timelinePanel(buckets: result.metrics.tokensPerSecondTimeline, x: 560, y: 400)
        svg += "</svg>\n"
        return svg
    }

    static let panelWidth = 400.0
    static let panelHeight = 260.0

    static func axes(title: String, x: Double, y: Double, xMax: Double, yMax: Double, yLabel: String) -> String {
        var out = "<text x=\"\(f(x))\" y=\"\(f(y + 14))\" font-size=\"14\">\(escape(title))</text>\n"
        let top = y + 24
        out += "<rect x=\"\(f(x))\" y=\"\(f(top))\" width=\"\(f(panelWidth))\" height=\"\(f(panelHeight))\" "
            + "fill=\"none\" stroke=\"#888\"/>\n"
        for i in 0...4 {
            let fraction = Double(i) / 4
            let gx = x + fraction * panelWidth
            let gy = top + panelHeight - fraction * panelHeight
            out += "<line x1=\"\(f(gx))\" y1=\"\(f(top))\" x2=\"\(f(gx))\" y2=\"\(f(top + panelHeight))\" stroke=\"#eee\"/>\n"
            out += "<text x=\"\(f(gx))\" y=\"\(f(top + panelHeight + 14))\" text-anchor=\"middle\">"
                + "\(TextFormat.fixed(xMax * fraction, xMax * fraction < 10 ? 2 : 0))</text>\n"
            out += "<text x=\"\(f(x - 4))\" y=\"\(f(gy + 4))\" text-anchor=\"end\">"
                + "\(TextFormat.fixed(yMax * fraction, yMax < 10 ? 2 : 0))</text>\n"
        }
        out += "<text x=\"\(f(x + 4))\" y=\"\(f(top + 14))\" fill=\"#555\">\(escape(yLabel))</text>\n"
        return out
    }

    static func cdfPanel(title: String, series: [Series], x: Double, y: Double) -> String {
        let xMax = max(1e-3, series.compactMap(\.values.last).max() ?? 1)
        var out = axes(title: title, x: x, y: y, xMax: xMax, yMax: 1, yLabel: "fraction of samples")
        let top = y + 24
        for (index, s) in series.enumerated() where !s.values.isEmpty {
            // At most ~400 points per curve: evenly spaced ranks.
            let step = max(1, s.values.count / 400)
            var points: [String] = []
            var i = 0
            while i < s.values.count {
                let px = x + s.values[i] / xMax * panelWidth
                let py = top + panelHeight - Double(i + 1) / Double(s.values.count) * panelHeight
                points.append("\(f(px)),\(f(py))")
                i += step
            }
            let last = s.values[s.values.count - 1]
            points.append("\(f(x + last / xMax * panelWidth)),\(f(top))")
            out += "<polyline fill=\"none\" stroke=\"\(s.color)\" stroke-width=\"1.5\" points=\"\(points.joined(separator: " "))\"/>\n"
            out += "<text x=\"\(f(x + panelWidth - 60))\" y=\"\(f(top + panelHeight - 10 - Double(index) * 16))\" "
                + "fill=\"\(s.color)\">\(s.name)</text>\n"
        }
        return out
    }

    static func timelinePanel(buckets: [Int], x: Double, y: Double) -> String {
        let yMax = Double(max(1, buckets.max() ?? 1))
        let xMax = Double(max(1, buckets.count))
        var out = axes(
            title: "Output tokens per second (1-s buckets)", x: x, y: y, xMax: xMax, yMax: yMax, yLabel: "tok/s")
        let top = y + 24
        let points = buckets.enumerated().map { second, count in
            "\(f(x + (Double(second) + 0.5) / xMax * panelWidth)),\(f(top + panelHeight - Double(count) / yMax * panelHeight))"
        }
        out += "<polyline fill=\"none\" stroke=\"#9467bd\" stroke-width=\"1.5\" points=\"\(points.joined(separator: " "))\"/>\n"
        return out
    }

    static func f(_ value: Double) -> String { TextFormat.fixed(value, 1) }

    static func escape(_ text: String) -> String {
        var out = ""
        for c in text {
            switch c {
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "&": out += "&amp;"
            case "\"": out += "&quot;"
            default: out.append(c)
            }
        }
        return out
    }
}
