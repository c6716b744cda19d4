import JSON

/// Everything one benchmark run produced, ready to print or save.
public struct BenchResult: Sendable {
    public struct Setup: Sendable {
        public var backend: String  // "openai-chat" or "openai"
        public var label: String?
        public var modelID: String
        public var baseURL: String
        public var endpoint: BenchEndpoint
        public var dataset: String
        public var promptCount: Int
        public var requestRate: Double
        public var burstiness: Double
        public var maxConcurrency: Int?
        public var seed: UInt64
        public var percentileMetrics: [LatencyMetric]
        public var metricPercentiles: [Double]
        public var goodput: GoodputConfig?
        public var extraBody: JSONValue?
        public var date: String

        public init(
            backend: String, label: String?, modelID: String, baseURL: String, endpoint: BenchEndpoint,
            dataset: String, promptCount: Int, requestRate: Double, burstiness: Double, maxConcurrency: Int?,
            seed: UInt64, percentileMetrics: [LatencyMetric], metricPercentiles: [Double], goodput: GoodputConfig?,
            extraBody: JSONValue?, date: String
        ) {
            self.backend = backend
            self.label = label
            self.modelID = modelID
            self.baseURL = baseURL
            self.endpoint = endpoint
            self.dataset = dataset
            self.promptCount = promptCount
            self.requestRate = requestRate
            self.burstiness = burstiness
            self.maxConcurrency = maxConcurrency
            self.seed = seed
            self.percentileMetrics = percentileMetrics
            self.metricPercentiles = metricPercentiles
            self.goodput = goodput
            self.extraBody = extraBody
            self.date = date
        }
    }

    public var setup: Setup
    public var metrics: BenchMetrics
    /// Measured requests in issue order (warm-ups and the test request excluded).
    public var outputs: [RequestOutput]
    public var specDecode: SpecDecodeStats?

    public init(setup: Setup, metrics: BenchMetrics, outputs: [RequestOutput], specDecode: SpecDecodeStats?) {
        self.setup = setup
        self.metrics = metrics
        self.outputs = outputs
        self.specDecode = specDecode
    }

    // MARK: console

    /// The block `vllm bench serve` prints, with its labels and layout.
    public func consoleReport() -> String {
        var lines: [String] = []
        let m = metrics
        lines.append(TextFormat.centered(" Serving Benchmark Result ", fill: "="))
        lines.append(TextFormat.row("Successful requests:", String(m.completed)))
        lines.append(TextFormat.row("Failed requests:", String(m.failed)))
        if let concurrency = setup.maxConcurrency {
            lines.append(TextFormat.row("Maximum request concurrency:", String(concurrency)))
        }
        if setup.requestRate.isFinite {
            lines.append(TextFormat.row("Request rate configured (RPS):", TextFormat.fixed(setup.requestRate)))
        }
        lines.append(TextFormat.row("Benchmark duration (s):", TextFormat.fixed(m.duration)))
        lines.append(TextFormat.row("Total input tokens:", String(m.totalInput)))
        lines.append(TextFormat.row("Total generated tokens:", String(m.totalOutput)))
        lines.append(TextFormat.row("Request throughput (req/s):", TextFormat.fixed(m.requestThroughput)))
        if let goodput = m.requestGoodput {
            lines.append(TextFormat.row("Request goodput (req/s):", TextFormat.fixed(goodput)))
        }
        lines.append(TextFormat.row("Output token throughput (tok/s):", TextFormat.fixed(m.outputThroughput)))
        lines.append(
            TextFormat.row("Peak output token throughput (tok/s):", TextFormat.fixed(m.maxOutputTokensPerSecond)))
        lines.append(TextFormat.row("Peak concurrent requests:", TextFormat.fixed(Double(m.maxConcurrentRequests))))
        lines.append(TextFormat.row("Total token throughput (tok/s):", TextFormat.fixed(m.totalTokenThroughput)))
        for metric in LatencyMetric.allCases where setup.percentileMetrics.contains(metric) {
            guard let summary = m.summaries[metric] else { continue }
            lines.append(TextFormat.centered(metric.header, fill: "-"))
            lines.append(TextFormat.row("Mean \(metric.displayName) (ms):", TextFormat.fixed(summary.mean)))
            lines.append(TextFormat.row("Median \(metric.displayName) (ms):", TextFormat.fixed(summary.median)))
            for (p, value) in summary.percentiles {
                let word = MetricSummary.percentileWord(p)
                lines.append(TextFormat.row("P\(word) \(metric.displayName) (ms):", TextFormat.fixed(value)))
            }
        }
        if let spec = specDecode {
            lines.append(TextFormat.centered("Speculative Decoding", fill: "-"))
            lines.append(TextFormat.row("Acceptance rate (%):", TextFormat.fixed(spec.acceptanceRate)))
            lines.append(TextFormat.row("Acceptance length:", TextFormat.fixed(spec.acceptanceLength)))
            lines.append(TextFormat.row("Drafts:", String(spec.drafts)))
            lines.append(TextFormat.row("Draft tokens:", String(spec.draftTokens)))
            lines.append(TextFormat.row("Accepted tokens:", String(spec.acceptedTokens)))
            lines.append(TextFormat.padRight("Per-position acceptance (%):", 40))
            for (position, rate) in spec.perPositionRates.enumerated() {
                lines.append(TextFormat.row("  Position \(position):", TextFormat.fixed(rate * 100)))
            }
        }
        lines.append(String(repeating: "=", count: 50))
        return lines.joined(separator: "\n")
    }

    /// ling-bench's additions, printed after the vLLM block: errors by kind, token-count source, cache hits.
    public func notes() -> [String] {
        var notes: [String] = []
        if !metrics.errorsByKind.isEmpty {
            notes.append("Errors by kind: " + metrics.errorsByKind.map { "\($0.0) × \($0.1)" }.joined(separator: ", "))
            if let first = outputs.first(where: { !$0.success }) { notes.append("First error: \(first.error)") }
        }
        if !metrics.outputTokensFromUsage {
            notes.append(
                "Note: some responses carried no usage chunk; their output tokens were counted as content events "
                    + "(one per event, an undercount when a server sends several tokens per event).")
        }
        let eventCount = outputs.filter(\.success).reduce(0) { $0 + $1.itl.count + 1 }
        if metrics.duration > 0 {
            notes.append(
                "Streamed events with choices: \(eventCount) (\(TextFormat.fixed(Double(eventCount) / metrics.duration)) events/s)")
        }
        if let cached = metrics.cachedTokens {
            notes.append("Prompt tokens served from the prefix cache: \(cached) of \(metrics.totalInput)")
        }
        return notes
    }

    // MARK: JSON

    /// The result document, with vLLM's key names. `detailed` keeps the per-request arrays.
    public func json(detailed: Bool) -> JSONValue {
        var members: [(String, JSONValue)] = []
        let m = metrics
        members.append(("date", .string(setup.date)))
        members.append(("endpoint_type", .string(setup.backend)))
        members.append(("backend", .string(setup.backend)))
        members.append(("label", setup.label.map { .string($0) } ?? .null))
        members.append(("model_id", .string(setup.modelID)))
        members.append(("tokenizer_id", .string(setup.modelID)))
        members.append(("num_prompts", .int(setup.promptCount)))
        members.append(
            ("request_rate", setup.requestRate.isFinite ? .double(setup.requestRate) : .string("inf")))
        members.append(("burstiness", .double(setup.burstiness)))
        members.append(("max_concurrency", setup.maxConcurrency.map { .int($0) } ?? .null))
        members.append(("duration", .double(m.duration)))
        members.append(("completed", .int(m.completed)))
        members.append(("failed", .int(m.failed)))
        members.append(("total_input_tokens", .int(m.totalInput)))
        members.append(("total_output_tokens", .int(m.totalOutput)))
        members.append(("request_throughput", .double(m.requestThroughput)))
        members.append(("request_goodput", m.requestGoodput.map(JSONValue.double) ?? .null))
        members.append(("output_throughput", .double(m.outputThroughput)))
        members.append(("total_token_throughput", .double(m.totalTokenThroughput)))
        if detailed {
            members.append(("input_lens", .array(outputs.map { .int($0.promptLength) })))
            members.append(("output_lens", .array(m.outputLengths.map { .int($0) })))
            members.append(("ttfts", .array(outputs.map { .double($0.ttft) })))
            members.append(("itls", .array(outputs.map { .array($0.itl.map { .double($0) }) })))
            members.append(("latencies", .array(outputs.map { .double($0.latency) })))
            let origin = outputs.map(\.startTime).min() ?? 0
            members.append(("start_times", .array(outputs.map { .double($0.startTime - origin) })))
            members.append(("queue_times", .array(outputs.map { .double($0.queueTime) })))
            members.append(("generated_texts", .array(outputs.map { .string($0.generatedText) })))
            members.append(("errors", .array(outputs.map { .string($0.error) })))
        }
        members.append(("max_output_tokens_per_s", .double(m.maxOutputTokensPerSecond)))
        members.append(("max_concurrent_requests", .int(m.maxConcurrentRequests)))
        for metric in LatencyMetric.allCases where setup.percentileMetrics.contains(metric) {
            guard let summary = m.summaries[metric] else { continue }
            let name = metric.rawValue
            members.append(("mean_\(name)_ms", .double(summary.mean)))
            members.append(("median_\(name)_ms", .double(summary.median)))
            members.append(("std_\(name)_ms", .double(summary.std)))
            for (p, value) in summary.percentiles {
                members.append(("p\(MetricSummary.percentileWord(p))_\(name)_ms", .double(value)))
            }
        }
        if let spec = specDecode {
            members.append(("spec_decode_acceptance_rate", .double(spec.acceptanceRate)))
            members.append(("spec_decode_acceptance_length", .double(spec.acceptanceLength)))
            members.append(("spec_decode_num_drafts", .int(spec.drafts)))
            members.append(("spec_decode_draft_tokens", .int(spec.draftTokens)))
            members.append(("spec_decode_accepted_tokens", .int(spec.acceptedTokens)))
            members.append(
                ("spec_decode_per_position_acceptance_rates", .array(spec.perPositionRates.map { JSONValue.double($0) })))
        }
        // ling-bench extras (not in vLLM's file; readers that do not know them ignore them).
        members.append(("seed", .number(Int64(exactly: setup.seed).map(JSONNumber.int) ?? .bigInt(String(setup.seed)))))
        members.append(("dataset_name", .string(setup.dataset)))
        members.append(("base_url", .string(setup.baseURL)))
        members.append(("percentile_metrics", .string(setup.percentileMetrics.map(\.rawValue).joined(separator: ","))))
        members.append(("metric_percentiles", .string(setup.metricPercentiles.map(MetricSummary.percentileWord).joined(separator: ","))))
        if let goodput = setup.goodput {
            var slo: [(String, JSONValue)] = []
            if let v = goodput.ttftMs { slo.append(("ttft", .double(v))) }
            if let v = goodput.tpotMs { slo.append(("tpot", .double(v))) }
            if let v = goodput.e2elMs { slo.append(("e2el", .double(v))) }
            members.append(("goodput_slo_ms", .object(JSONObject(slo))))
        }
        if let extra = setup.extraBody { members.append(("extra_body", extra)) }
        members.append(("errors_by_kind", .object(JSONObject(m.errorsByKind.map { ($0.0, .int($0.1)) }))))
        members.append(("output_tokens_source", .string(m.outputTokensFromUsage ? "usage" : "content_events")))
        members.append(("cached_tokens", m.cachedTokens.map { .int($0) } ?? .null))
        return .object(JSONObject(members))
    }

    /// vLLM's default file name: `{label}-{rate}qps[-concurrency{N}]-{model}-{date}.json`.
    public func defaultFileName() -> String {
        let model = setup.modelID.split(separator: "/").last.map(String.init) ?? setup.modelID
        var name = "\(setup.label ?? setup.backend)-\(TextFormat.pythonFloat(setup.requestRate))qps"
        if let concurrency = setup.maxConcurrency { name += "-concurrency\(concurrency)" }
        return name + "-\(model)-\(setup.date).json"
    }
}
