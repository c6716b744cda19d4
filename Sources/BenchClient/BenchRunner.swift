#if canImport(Glibc)
import Glibc
import JSON
#endif

/// Everything a run needs, from the command line.
public struct BenchConfig: Sendable {
    public var baseURL = "http://127.0.0.1:8000"
    public var endpoint = BenchEndpoint.chat
    public var apiKey: String?
    public var model: String?
    public var label: String?
    public var workload = WorkloadOptions()
    public var requestRate = Double.infinity
    public var burstiness = 1.0
    public var maxConcurrency: Int?
    public var durationSeconds: Double?
    public var warmupCount = 0
    public var skipTestRequest = false
    public var ignoreEOS = false
    public var extraBody: [(String, JSONValue)] = []
    public var goodput: GoodputConfig?
    public var percentileMetrics: [LatencyMetric] = [.ttft, .tpot, .itl]
    public var metricPercentiles: [Double] = [99]
    public var requestTimeoutSeconds = 600.0
    public var showProgress = false

    public init() {}

    var headers: [String] { apiKey.map { ["Authorization: Bearer \($0)"] } ?? [] }
    var backend: String { endpoint == .chat ? "openai-chat" : "openai" }
}

/// Serves the workload's conversations to the driver, cycling through them in `--duration` mode.
final class WorkloadSource: RequestSource {
    let conversations: [Conversation]
    let offsets: [Double]
    let factory: RequestFactory
    let cycles: Bool

    init(conversations: [Conversation], offsets: [Double], factory: RequestFactory, cycles: Bool) {
        self.conversations = conversations
        self.offsets = offsets
        self.factory = factory
        self.cycles = cycles
    }

    var conversationCount: Int? { cycles ? nil : conversations.count }

    func arrivalOffset(_ index: Int) -> Double {
        guard !offsets.isEmpty else { return 0 }
        if index < offsets.count { return offsets[index] }
        // Past the schedule (duration mode): keep the same average spacing.
        let period = offsets[offsets.count - 1]
        let cycle = index / offsets.count
        return Double(cycle) * period + offsets[index % offsets.count]
    }

    func request(conversation index: Int, turn: Int, answers: [TurnAnswer]) -> OutgoingRequest? {
        let conversation = conversations[index % conversations.count]
        guard turn < conversation.turns.count else { return nil }
        let body = factory.body(conversation: conversation, turnIndex: turn, answers: answers.map(\.text))
        let promptLength = RequestFactory.promptLength(
            conversation: conversation, turnIndex: turn, answerTokenCounts: answers.map(\.tokenCount))
        return OutgoingRequest(
            url: factory.url, body: body.compactJSON(), promptLength: promptLength,
            expectedOutputLength: conversation.turns[turn].outputLength)
    }
}

/// Runs `vllm bench serve`'s sequence: resolve the model, build the workload, one test request, warm-ups,
/// scrape `/metrics`, the measured run, scrape again, compute the figures.
public final class BenchRunner {
    public let config: BenchConfig
    /// Lines for the user (the same preamble vLLM prints); the CLI prints them as they come.
    public var log: (String) -> Void = { print($0) }
    private let client: SimpleHTTPClient
    private var conversations: [Conversation] = []
    public private(set) var model = ""

    public init(config: BenchConfig) throws {
        self.config = config
        client = try SimpleHTTPClient(headers: config.headers)
    }

    private var baseURL: String { config.baseURL.hasSuffix("/") ? String(config.baseURL.dropLast()) : config.baseURL }

    /// `--model`, else `data[0].root` then `data[0].id` of `/v1/models`.
    public func resolveModel() throws -> String {
        if let model = config.model { return model }
        let list = try client.json(url: baseURL + "/v1/models")
        guard let first = list["data"]?.arrayValue?.first,
            let name = first["root"]?.stringValue ?? first["id"]?.stringValue
        else { throw BenchError("\(baseURL)/v1/models: no model listed; pass --model") }
        return name
    }

    /// Resolves the model and builds the conversations (once; sweeps reuse them).
    public func prepare() throws {
        model = try resolveModel()
        let tokenizer = ServerTokenizer(client: client, baseURL: baseURL, model: model)
        var workload = config.workload
        workload.promptCount = max(1, workload.promptCount)
        var builder = WorkloadBuilder(options: workload, tokenizer: tokenizer)
        conversations = try builder.build()
        for warning in builder.warnings { log("WARNING: \(warning)") }
    }

    func scrapeSpecDecode() -> SpecDecodeCounters {
        guard let response = try? client.send(url: baseURL + "/metrics"), response.status == 200 else {
            return SpecDecodeCounters()
        }
        return SpecDecodeCounters.parse(prometheusText: response.text)
    }

    /// One measured run at `maxConcurrency` (overrides the config's, for sweeps).
    public func run(maxConcurrency: Int?) throws -> BenchResult {
        if conversations.isEmpty { try prepare() }
        let factory = RequestFactory(
            baseURL: baseURL, endpoint: config.endpoint, model: model, ignoreEOS: config.ignoreEOS,
            extraBody: config.extraBody)
        let driverOptions = StreamingDriver.Options(
            maxConcurrency: maxConcurrency, durationLimit: nil, requestTimeoutSeconds: config.requestTimeoutSeconds,
            headers: config.headers)

        if !config.skipTestRequest {
            log("Starting initial single prompt test run...")
            var testConversation = conversations[0]
            testConversation.turns = [testConversation.turns[0]]
            let source = WorkloadSource(conversations: [testConversation], offsets: [0], factory: factory, cycles: false)
            let (records, _) = try StreamingDriver(options: driverOptions).run(source: source)
            if let output = records.first?.output, !output.success {
                throw BenchError(
                    "Initial test run failed - Please make sure benchmark arguments are correctly specified. "
                        + "Error: \(output.errorKind?.label ?? "error"): \(output.error)")
            }
            log("Initial test run completed. Starting main benchmark run...")
        }
        if config.warmupCount > 0 {
            log("Warming up with \(config.warmupCount) requests...")
            let warm = (0..<config.warmupCount).map { conversations[$0 % conversations.count] }
            let source = WorkloadSource(
                conversations: warm, offsets: Array(repeating: 0, count: warm.count), factory: factory, cycles: false)
            _ = try StreamingDriver(options: driverOptions).run(source: source)
            log("Warmup run completed.")
        }

        log("Traffic request rate: \(TextFormat.pythonFloat(config.requestRate))")
        let burstDescription = config.burstiness == 1 ? " (Poisson process)" : ""
        log("Burstiness factor: \(TextFormat.pythonFloat(config.burstiness))\(burstDescription)")
        log("Maximum request concurrency: \(maxConcurrency.map(String.init) ?? "None")")

        var generator = SeededGenerator(seed: config.workload.seed ^ 0x5EED_A771_7A15)
        let offsets = ArrivalSchedule.offsets(
            count: conversations.count, requestRate: config.requestRate, burstiness: config.burstiness,
            generator: &generator)
        let source = WorkloadSource(
            conversations: conversations, offsets: offsets, factory: factory, cycles: config.durationSeconds != nil)
        var options = driverOptions
        options.durationLimit = config.durationSeconds
        let before = scrapeSpecDecode()
        let driver = try StreamingDriver(options: options)
        let expected = config.durationSeconds == nil ? conversations.reduce(0) { $0 + $1.turns.count } : nil
        let progress = config.showProgress ? ProgressLine(total: expected) : nil
        let (records, duration) = try driver.run(source: source, onProgress: progress.map { line in { line.update($0) } })
        progress?.finish()
        let after = scrapeSpecDecode()

        let ordered = records.sorted {
            $0.conversation != $1.conversation ? $0.conversation < $1.conversation : $0.turn < $1.turn
        }
        let outputs = ordered.map(\.output)
        let metrics = BenchMetrics(
            outputs: outputs, duration: duration, goodput: config.goodput, percentiles: config.metricPercentiles)
        let setup = BenchResult.Setup(
            backend: config.backend, label: config.label, modelID: model, baseURL: baseURL, endpoint: config.endpoint,
            dataset: config.workload.dataset.rawValue, promptCount: config.workload.promptCount,
            requestRate: config.requestRate, burstiness: config.burstiness, maxConcurrency: maxConcurrency,
            seed: config.workload.seed, percentileMetrics: config.percentileMetrics,
            metricPercentiles: config.metricPercentiles, goodput: config.goodput,
            extraBody: config.extraBody.isEmpty ? nil : .object(JSONObject(config.extraBody)), date: TextFormat.timestamp())
        return BenchResult(
            setup: setup, metrics: metrics, outputs: outputs, specDecode: SpecDecodeStats(before: before, after: after))
    }
}

/// `\r`-rewritten status line on a terminal: done/total, request rate, errors, in flight.
final class ProgressLine {
    let total: Int?
    init(total: Int?) { self.total = total }

    func update(_ progress: DriverProgress) {
        let rate = progress.elapsed > 0 ? Double(progress.finished) / progress.elapsed : 0
        let done = total.map { "\(progress.finished)/\($0)" } ?? "\(progress.finished)"
        let line = "\r\(done) done | \(TextFormat.fixed(rate)) req/s | \(progress.failed) errors | "
            + "\(progress.inFlight) in flight | \(TextFormat.fixed(progress.elapsed, 1)) s   "
        print(line, terminator: "")
        fflush(nil)
    }

    func finish() {
        print("")
        fflush(nil)
    }
}
