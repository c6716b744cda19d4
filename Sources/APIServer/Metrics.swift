import Synchronization

/// The Prometheus registry of §10: text format 0.0.4, `lingserve:` names, label `model_name`, counters with
/// `_total`, histograms with LingServe's CPU buckets. Thread-safe; each update takes one short `Mutex` section.
///
/// The API layer records request-level series (latencies, `request_success_total`, token counters); the engine
/// adapter sets the gauges, prefix-cache and spec-decode counters through `setGauges` / `addPrefixCache` /
/// `addSpecDecode`.
public final class MetricsRegistry: Sendable {
    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    public static let ttftBuckets: [Double] = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 40, 80, 160, 640]
    public static let itlBuckets: [Double] = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1, 2.5, 5]
    public static let e2eBuckets: [Double] = [0.5, 1, 2.5, 5, 10, 20, 40, 60, 120, 240, 480, 960, 1920]

    public enum RequestOutcome: String, Sendable, CaseIterable {
        case stop, length, abort
    }

    struct Histogram {
        let bounds: [Double]
        var counts: [UInt64]  // [bounds.count], non-cumulative
        var sum = 0.0
        var count: UInt64 = 0

        init(bounds: [Double]) {
            self.bounds = bounds
            counts = [UInt64](repeating: 0, count: bounds.count)
        }

        mutating func observe(_ value: Double) {
            if let bucket = bounds.firstIndex(where: { value <= $0 }) { counts[bucket] += 1 }
            sum += value
            count += 1
        }
    }

    /// One expert-parallel worker's totals since the engine started (the engine owns the counts; they are set here).
    public struct ExpertWorker: Sendable, Equatable {
        public var busySeconds: Double
        public var idleSeconds: Double
        public var tokens: UInt64
        public var rows: UInt64
        public var sharedRows: UInt64
        public var experts: Int

        public init(busySeconds: Double, idleSeconds: Double, tokens: UInt64, rows: UInt64, sharedRows: UInt64 = 0, experts: Int) {
            self.sharedRows = sharedRows
            self.busySeconds = busySeconds
            self.idleSeconds = idleSeconds
            self.tokens = tokens
            self.rows = rows
            self.experts = experts
        }
    }

    struct State {
        var running = 0.0
        var waiting = 0.0
        var kvUsage = 0.0
        var prefixQueries: UInt64 = 0
        var prefixHits: UInt64 = 0
        var promptTokens: UInt64 = 0
        var generationTokens: UInt64 = 0
        var success: [RequestOutcome: UInt64] = [:]
        var ttft = Histogram(bounds: MetricsRegistry.ttftBuckets)
        var itl = Histogram(bounds: MetricsRegistry.itlBuckets)
        var e2e = Histogram(bounds: MetricsRegistry.e2eBuckets)
        var queue = Histogram(bounds: MetricsRegistry.ttftBuckets)
        var drafts: UInt64 = 0
        var draftTokens: UInt64 = 0
        var acceptedTokens: UInt64 = 0
        var acceptedPerPosition: [UInt64] = []
        var expertWorkers: [ExpertWorker] = []
    }

    /// The engine's gauges and counters as totals since start-up, read when `/metrics` is rendered.
    public struct EngineCounters: Sendable, Equatable {
        public var running = 0
        public var waiting = 0
        public var kvCacheUsage = 0.0
        public var prefixQueries = 0
        public var prefixHits = 0
        public var drafts = 0
        public var draftTokens = 0
        public var acceptedTokens = 0
        public var acceptedPerPosition: [Int] = []
        public var expertWorkers: [ExpertWorker] = []
        public init() {}
    }

    public let modelName: String
    private let state = Mutex(State())
    /// Set by the engine adapter: reads the engine's latest published snapshot (a copy under the engine's short
    /// lock, never a wait on the engine loop), so a scrape is current instead of up to a timer period stale.
    private let engineSource = Mutex<(@Sendable () -> EngineCounters)?>(nil)

    /// Makes `render` read the engine's totals from `source` at scrape time (they replace the pushed values).
    public func readEngine(from source: @escaping @Sendable () -> EngineCounters) {
        engineSource.withLock { $0 = source }
    }

    /// `lingserve:model_info`'s labels beyond model_name: how the weights are stored and what they compute with.
    public let info: [(String, String)]

    public init(modelName: String, info: [(String, String)] = []) {
        self.modelName = modelName
        self.info = info
    }

    public func setGauges(running: Int, waiting: Int, kvCacheUsage: Double) {
        state.withLock {
            $0.running = Double(running)
            $0.waiting = Double(waiting)
            $0.kvUsage = kvCacheUsage
        }
    }

    public func addPrefixCache(queries: Int, hits: Int) {
        state.withLock {
            $0.prefixQueries += UInt64(max(0, queries))
            $0.prefixHits += UInt64(max(0, hits))
        }
    }

    public func addTokens(prompt: Int, generation: Int) {
        state.withLock {
            $0.promptTokens += UInt64(max(0, prompt))
            $0.generationTokens += UInt64(max(0, generation))
        }
    }

    /// `drafts` verifications that carried drafts (default one): `acceptedByPosition[i]` = how many of them
    /// accepted draft i.
    public func addSpecDecode(drafts: Int = 1, draftTokens: Int, acceptedTokens: Int, acceptedByPosition: [Int]) {
        state.withLock {
            $0.drafts += UInt64(max(0, drafts))
            $0.draftTokens += UInt64(max(0, draftTokens))
            $0.acceptedTokens += UInt64(max(0, acceptedTokens))
            if $0.acceptedPerPosition.count < acceptedByPosition.count {
                $0.acceptedPerPosition += [UInt64](repeating: 0, count: acceptedByPosition.count - $0.acceptedPerPosition.count)
            }
            for (position, accepted) in acceptedByPosition.enumerated() {
                $0.acceptedPerPosition[position] += UInt64(max(0, accepted))
            }
        }
    }

    /// Replaces the expert-parallel workers' totals (worker w = element w).
    public func setExpertWorkers(_ workers: [ExpertWorker]) {
        state.withLock { $0.expertWorkers = workers }
    }

    /// `tool_calls` counts as `stop`.
    public func recordFinished(_ outcome: RequestOutcome, e2eSeconds: Double) {
        state.withLock {
            $0.success[outcome, default: 0] += 1
            $0.e2e.observe(e2eSeconds)
        }
    }

    public func observeTimeToFirstToken(_ seconds: Double) { state.withLock { $0.ttft.observe(seconds) } }
    public func observeInterTokenLatency(_ seconds: Double) { state.withLock { $0.itl.observe(seconds) } }
    public func observeQueueTime(_ seconds: Double) { state.withLock { $0.queue.observe(seconds) } }

    /// The exposition text.
    public func render() -> String {
        var snapshot = state.withLock { $0 }
        if let source = engineSource.withLock({ $0 }) {
            let engine = source()
            snapshot.running = Double(engine.running)
            snapshot.waiting = Double(engine.waiting)
            snapshot.kvUsage = engine.kvCacheUsage
            snapshot.prefixQueries = UInt64(max(0, engine.prefixQueries))
            snapshot.prefixHits = UInt64(max(0, engine.prefixHits))
            snapshot.drafts = UInt64(max(0, engine.drafts))
            snapshot.draftTokens = UInt64(max(0, engine.draftTokens))
            snapshot.acceptedTokens = UInt64(max(0, engine.acceptedTokens))
            snapshot.acceptedPerPosition = engine.acceptedPerPosition.map { UInt64(max(0, $0)) }
            snapshot.expertWorkers = engine.expertWorkers
        }
        let label = "model_name=\"\(Self.escape(modelName))\""
        var out = ""
        if !info.isEmpty {
            out += "# HELP lingserve:model_info The served model: weight format and compute dtype.\n"
            out += "# TYPE lingserve:model_info gauge\n"
            out += "lingserve:model_info{\(label)" + info.map { ",\($0.0)=\"\(Self.escape($0.1))\"" }.joined() + "} 1\n"
        }
        func gauge(_ name: String, _ help: String, _ value: Double) {
            out += "# HELP lingserve:\(name) \(help)\n# TYPE lingserve:\(name) gauge\n"
            out += "lingserve:\(name){\(label)} \(Self.format(value))\n"
        }
        func counter(_ name: String, _ help: String, _ samples: [(String, UInt64)]) {
            out += "# HELP lingserve:\(name)_total \(help)\n# TYPE lingserve:\(name)_total counter\n"
            for (extra, value) in samples {
                out += "lingserve:\(name)_total{\(label)\(extra)} \(value)\n"
            }
        }
        func histogram(_ name: String, _ help: String, _ histogram: Histogram) {
            out += "# HELP lingserve:\(name) \(help)\n# TYPE lingserve:\(name) histogram\n"
            var cumulative: UInt64 = 0
            for (bound, count) in zip(histogram.bounds, histogram.counts) {
                cumulative += count
                out += "lingserve:\(name)_bucket{\(label),le=\"\(Self.format(bound))\"} \(cumulative)\n"
            }
            out += "lingserve:\(name)_bucket{\(label),le=\"+Inf\"} \(histogram.count)\n"
            out += "lingserve:\(name)_sum{\(label)} \(Self.format(histogram.sum))\n"
            out += "lingserve:\(name)_count{\(label)} \(histogram.count)\n"
        }
        gauge("num_requests_running", "Sequences in the running batch.", snapshot.running)
        gauge("num_requests_waiting", "Requests admitted but not yet scheduled.", snapshot.waiting)
        gauge("kv_cache_usage_perc", "Used KV blocks / total, as a fraction 0...1.", snapshot.kvUsage)
        counter("prefix_cache_queries", "Prompt tokens looked up in the prefix cache.", [("", snapshot.prefixQueries)])
        counter("prefix_cache_hits", "Prompt tokens found in the prefix cache.", [("", snapshot.prefixHits)])
        counter("prompt_tokens", "Prompt tokens processed.", [("", snapshot.promptTokens)])
        counter("generation_tokens", "Generated tokens.", [("", snapshot.generationTokens)])
        counter("request_success", "Finished requests.", RequestOutcome.allCases.map {
            (",finished_reason=\"\($0.rawValue)\"", snapshot.success[$0] ?? 0)
        })
        histogram("time_to_first_token_seconds", "Arrival to first token.", snapshot.ttft)
        histogram("inter_token_latency_seconds", "Time between token-producing steps.", snapshot.itl)
        histogram("e2e_request_latency_seconds", "Arrival to finish.", snapshot.e2e)
        histogram("request_queue_time_seconds", "Arrival to first scheduled.", snapshot.queue)
        counter("spec_decode_num_drafts", "Verification steps that carried drafts.", [("", snapshot.drafts)])
        counter("spec_decode_num_draft_tokens", "Draft tokens proposed.", [("", snapshot.draftTokens)])
        counter("spec_decode_num_accepted_tokens", "Draft tokens accepted.", [("", snapshot.acceptedTokens)])
        counter("spec_decode_num_accepted_tokens_per_pos", "Accepted drafts by position.",
            snapshot.acceptedPerPosition.enumerated().map { (",position=\"\($0.offset)\"", $0.element) })
        if !snapshot.expertWorkers.isEmpty {
            let workers = snapshot.expertWorkers.enumerated()
            func series(_ name: String, _ type: String, _ help: String, _ value: (ExpertWorker) -> String) {
                out += "# HELP lingserve:\(name) \(help)\n# TYPE lingserve:\(name) \(type)\n"
                for (w, worker) in workers { out += "lingserve:\(name){\(label),worker=\"\(w)\"} \(value(worker))\n" }
            }
            series("expert_worker_busy_seconds_total", "counter", "Seconds an expert-parallel worker spent on expert work.") {
                Self.format($0.busySeconds)
            }
            series("expert_worker_idle_seconds_total", "counter", "Seconds of expert phases a worker waited for the others.") {
                Self.format($0.idleSeconds)
            }
            series("expert_worker_tokens_total", "counter", "Tokens dispatched to a worker (once per MoE layer).") { "\($0.tokens)" }
            series("expert_worker_rows_total", "counter", "(token, routed expert) rows a worker evaluated.") { "\($0.rows)" }
            series("expert_worker_shared_rows_total", "counter", "Shared-expert rows a worker evaluated.") { "\($0.sharedRows)" }
            series("expert_worker_experts", "gauge", "Experts a worker holds, summed over MoE layers (replicas included).") {
                "\($0.experts)"
            }
        }
        return out
    }

    static func format(_ value: Double) -> String {
        if value.rounded() == value && abs(value) < 1e15 { return String(Int64(value)) + ".0" }
        return String(value)
    }

    static func escape(_ text: String) -> String {
        var out = ""
        for character in text {
            switch character {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.append(character)
            }
        }
        return out
    }
}
