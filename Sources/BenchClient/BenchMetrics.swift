/// Latency metrics vLLM can report; `e2el` only when asked for.
public enum LatencyMetric: String, CaseIterable, Sendable {
    case ttft, tpot, itl, e2el

    /// Console name and section header, as vLLM prints them.
    public var displayName: String {
        switch self {
        case .ttft: return "TTFT"
        case .tpot: return "TPOT"
        case .itl: return "ITL"
        case .e2el: return "E2EL"
        }
    }

    public var header: String {
        switch self {
        case .ttft: return "Time to First Token"
        case .tpot: return "Time per Output Token (excl. 1st token)"
        case .itl: return "Inter-token Latency"
        case .e2el: return "End-to-end Latency"
        }
    }
}

/// Service-level objectives for goodput, in milliseconds (`--goodput ttft:500 tpot:50 e2el:10000`).
public struct GoodputConfig: Sendable, Equatable {
    public var ttftMs: Double?
    public var tpotMs: Double?
    public var e2elMs: Double?

    public init(ttftMs: Double? = nil, tpotMs: Double? = nil, e2elMs: Double? = nil) {
        self.ttftMs = ttftMs
        self.tpotMs = tpotMs
        self.e2elMs = e2elMs
    }

    /// Parses `KEY:VALUE` pairs (separate arguments or one space-separated string).
    public static func parse(_ arguments: [String]) throws -> GoodputConfig {
        var config = GoodputConfig()
        for pair in arguments.flatMap({ $0.split(separator: " ") }) {
            let parts = pair.split(separator: ":", maxSplits: 1)
            guard parts.count == 2, let value = Double(parts[1]), value >= 0 else {
                throw BenchError("--goodput: expected KEY:VALUE with a non-negative number in ms, got '\(pair)'")
            }
            switch parts[0] {
            case "ttft": config.ttftMs = value
            case "tpot": config.tpotMs = value
            case "e2el": config.e2elMs = value
            default: throw BenchError("--goodput: unknown metric '\(parts[0])' (use ttft, tpot or e2el)")
            }
        }
        return config
    }
}

/// The aggregate figures of one run, computed as vLLM's `calculate_metrics` does.
public struct BenchMetrics: Sendable {
    public var duration: Double
    public var completed = 0
    public var failed = 0
    public var totalInput = 0
    public var totalOutput = 0
    public var requestThroughput = 0.0
    public var requestGoodput: Double?
    public var outputThroughput = 0.0
    public var totalTokenThroughput = 0.0
    public var maxOutputTokensPerSecond = 0.0
    public var maxConcurrentRequests = 0
    public var summaries: [LatencyMetric: MetricSummary] = [:]
    /// Output lengths per request (0 for failed), as `output_lens`.
    public var outputLengths: [Int] = []
    public var errorsByKind: [(String, Int)] = []
    public var outputTokensFromUsage = true
    public var cachedTokens: Int?
    /// Output tokens per 1-s bucket from the first request's start (for the timeline plot).
    public var tokensPerSecondTimeline: [Int] = []

    public init(
        outputs: [RequestOutput], duration: Double, goodput: GoodputConfig?, percentiles: [Double]
    ) {
        self.duration = duration
        var ttfts: [Double] = []
        var tpots: [Double] = []  // requests with more than one output token
        var allTpots: [Double] = []  // every completed request, 0 for ≤ 1 token (goodput)
        var itls: [Double] = []
        var e2els: [Double] = []
        var errorCounts: [String: Int] = [:]
        var cached = 0
        var sawCached = false
        for output in outputs {
            guard output.success else {
                failed += 1
                outputLengths.append(0)
                errorCounts[output.errorKind?.label ?? "unknown", default: 0] += 1
                continue
            }
            completed += 1
            let outputLength = output.outputTokenCount
            if !output.outputTokensFromUsage { outputTokensFromUsage = false }
            outputLengths.append(outputLength)
            totalInput += output.promptLength
            totalOutput += outputLength
            var tpot = 0.0
            if outputLength > 1 {
                tpot = (output.latency - output.ttft) / Double(outputLength - 1)
                tpots.append(tpot)
            }
            allTpots.append(tpot)
            itls.append(contentsOf: output.itl)
            ttfts.append(output.ttft)
            e2els.append(output.latency)
            if let c = output.cachedTokenCount {
                cached += c
                sawCached = true
            }
        }
        cachedTokens = sawCached ? cached : nil
        errorsByKind = errorCounts.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
            .map { ($0.key, $0.value) }
        if let goodput {
            var good = 0
            for i in ttfts.indices {
                var isGood = true
                if let slo = goodput.ttftMs, slo / 1000 < ttfts[i] { isGood = false }
                if let slo = goodput.tpotMs, slo / 1000 < allTpots[i] { isGood = false }
                if let slo = goodput.e2elMs, slo / 1000 < e2els[i] { isGood = false }
                if isGood { good += 1 }
            }
            requestGoodput = duration > 0 ? Double(good) / duration : 0
        }
        if duration > 0 {
            requestThroughput = Double(completed) / duration
            outputThroughput = Double(totalOutput) / duration
            totalTokenThroughput = Double(totalInput + totalOutput) / duration
        }
        summaries[.ttft] = MetricSummary(secondsValues: ttfts, percentiles: percentiles)
        summaries[.tpot] = MetricSummary(secondsValues: tpots, percentiles: percentiles)
        summaries[.itl] = MetricSummary(secondsValues: itls, percentiles: percentiles)
        summaries[.e2el] = MetricSummary(secondsValues: e2els, percentiles: percentiles)
        let successful = outputs.filter(\.success)
        tokensPerSecondTimeline = Self.tokensPerSecond(successful)
        maxOutputTokensPerSecond = Double(tokensPerSecondTimeline.max() ?? 0)
        maxConcurrentRequests = Self.peakConcurrency(successful)
    }

    /// Tokens per 1-s bucket, counting one token per choices-carrying event (TTFT, then cumulative ITLs), with
    /// buckets `int(t − first start)` as in vLLM. With MTP several tokens share an event, which lowers the peak.
    public static func tokensPerSecond(_ outputs: [RequestOutput]) -> [Int] {
        guard let firstStart = outputs.map(\.startTime).min(),
            let lastEnd = outputs.map({ $0.startTime + $0.latency }).max()
        else { return [] }
        let bucketCount = Int((lastEnd - firstStart).rounded(.up)) + 1
        var buckets = [Int](repeating: 0, count: bucketCount)  // [bucketCount]
        for output in outputs {
            var time = output.startTime + output.ttft
            var gaps = output.itl.makeIterator()
            while true {
                let bucket = Int(time - firstStart)
                if bucket >= 0 && bucket < bucketCount { buckets[bucket] += 1 }
                guard let gap = gaps.next() else { break }
                time += gap
            }
        }
        return buckets
    }

    /// The exact maximum number of requests in flight at once (intervals [start, start + latency]; a request
    /// that ends exactly when another starts does not overlap it).
    public static func peakConcurrency(_ outputs: [RequestOutput]) -> Int {
        var edges: [(Double, Int)] = []  // [2 × requestCount] (time, +1 start / −1 end)
        edges.reserveCapacity(outputs.count * 2)
        for output in outputs {
            edges.append((output.startTime, 1))
            edges.append((output.startTime + output.latency, -1))
        }
        edges.sort { $0.0 != $1.0 ? $0.0 < $1.0 : $0.1 < $1.1 }
        var current = 0
        var peak = 0
        for (_, delta) in edges {
            current += delta
            peak = max(peak, current)
        }
        return peak
    }
}
