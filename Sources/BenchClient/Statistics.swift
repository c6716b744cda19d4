/// Summary statistics computed exactly as numpy does (vLLM calls `np.mean`, `np.median`, `np.std`,
/// `np.percentile` on lists that may be empty, where it substitutes `[0]`).
public enum Statistics {
    public static func mean(_ values: [Double]) -> Double {
        guard !values.isEmpty else { return 0 }
        return values.reduce(0, +) / Double(values.count)
    }

    /// Population standard deviation (`np.std`, ddof = 0).
    public static func standardDeviation(_ values: [Double]) -> Double {
        guard !values.isEmpty else { return 0 }
        let m = mean(values)
        let squares = values.reduce(0) { $0 + ($1 - m) * ($1 - m) }
        return (squares / Double(values.count)).squareRoot()
    }

    /// `np.percentile(values, p)` with the default linear interpolation, on an already sorted array.
    public static func percentile(sorted values: [Double], _ p: Double) -> Double {
        guard !values.isEmpty else { return 0 }
        let position = Double(values.count - 1) * p / 100
        let lower = Int(position.rounded(.down))
        let upper = min(lower + 1, values.count - 1)
        let fraction = position - Double(lower)
        return values[lower] + (values[upper] - values[lower]) * fraction
    }

    public static func percentile(_ values: [Double], _ p: Double) -> Double {
        percentile(sorted: values.sorted(), p)
    }

    public static func median(_ values: [Double]) -> Double { percentile(values, 50) }
}

/// mean/median/std/percentiles of one latency metric, in milliseconds.
public struct MetricSummary: Sendable, Equatable {
    public var mean: Double
    public var median: Double
    public var std: Double
    public var percentiles: [(Double, Double)]  // (p, value)

    public static func == (a: MetricSummary, b: MetricSummary) -> Bool {
        a.mean == b.mean && a.median == b.median && a.std == b.std && a.percentiles.count == b.percentiles.count
            && zip(a.percentiles, b.percentiles).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
    }

    /// `secondsValues` in seconds; the summary is in ms, as vLLM multiplies by 1000 after the numpy call.
    public init(secondsValues: [Double], percentiles requested: [Double]) {
        let sorted = secondsValues.sorted()
        mean = Statistics.mean(sorted) * 1000
        median = Statistics.percentile(sorted: sorted, 50) * 1000
        std = Statistics.standardDeviation(sorted) * 1000
        percentiles = requested.map { ($0, Statistics.percentile(sorted: sorted, $0) * 1000) }
    }

    /// vLLM's label for a percentile: `99` for 99.0, `99.9` otherwise.
    public static func percentileWord(_ p: Double) -> String {
        p == p.rounded() ? String(Int(p)) : "\(p)"
    }
}
