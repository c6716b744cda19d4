/// `--sweep-concurrency`: one row per concurrency level.
public enum SweepTable {
    public static func render(_ results: [BenchResult]) -> String {
        let header = [
            "Concurrency", "Completed", "Failed", "Req/s", "Out tok/s", "Peak tok/s", "Mean TTFT", "P99 TTFT",
            "Mean TPOT", "Mean ITL", "P99 ITL",
        ]
        var rows = [header]
        for result in results {
            let m = result.metrics
            func mean(_ metric: LatencyMetric) -> String { TextFormat.fixed(m.summaries[metric]?.mean ?? 0) }
            func p99(_ metric: LatencyMetric) -> String {
                let summary = MetricSummary(
                    secondsValues: metric == .ttft ? result.outputs.filter(\.success).map(\.ttft)
                        : result.outputs.filter(\.success).flatMap(\.itl), percentiles: [99])
                return TextFormat.fixed(summary.percentiles[0].1)
            }
            rows.append([
                result.setup.maxConcurrency.map(String.init) ?? "-", String(m.completed), String(m.failed),
                TextFormat.fixed(m.requestThroughput), TextFormat.fixed(m.outputThroughput),
                TextFormat.fixed(m.maxOutputTokensPerSecond), mean(.ttft), p99(.ttft), mean(.tpot), mean(.itl), p99(.itl),
            ])
        }
        var widths = [Int](repeating: 0, count: header.count)
        for row in rows { for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) } }
        var lines = [TextFormat.centered(" Concurrency Sweep (latencies in ms) ", fill: "=", width: 50)]
        for row in rows {
            lines.append(row.enumerated().map { TextFormat.padLeft($0.element, widths[$0.offset]) }.joined(separator: "  "))
        }
        return lines.joined(separator: "\n")
    }
}
