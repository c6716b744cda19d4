import ArgumentParser
import BenchClient

#if canImport(Glibc)
import Glibc
import JSON
#endif

@main
struct LingBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ling-bench",
        abstract: "Load-test an OpenAI-compatible server (LingServe, llama-server, vLLM) like `vllm bench serve`."
    )

    // ---- server
    @Option(help: "Server root URL.") var baseURL = "http://127.0.0.1:8000"
    @Option(help: "Route: /v1/chat/completions or /v1/completions.") var endpoint = "/v1/chat/completions"
    @Option(help: "Bearer key sent to every route (default: $OPENAI_API_KEY).") var apiKey: String?
    @Option(help: "Model name (default: data[0].root, then id, of /v1/models).") var model: String?
    @Option(help: "Label for the result file name (default: the backend).") var label: String?
    @Option(help: "Per-request timeout in seconds.") var requestTimeout = 600.0

    // ---- workload
    @Option(help: "random, sharegpt, jsonl (alias custom), prefix or multiturn.") var datasetName = "random"
    @Option(help: "Local dataset file (sharegpt JSON, jsonl).") var datasetPath: String?
    @Option(help: "Number of prompts (conversations for multiturn).") var numPrompts = 1000
    @Option var randomInputLen = 1024
    @Option var randomOutputLen = 128
    @Option var randomRangeRatio = 0.0
    @Option var randomPrefixLen = 0
    @Option(help: "Override ShareGPT output lengths.") var sharegptOutputLen: Int?
    @Option(help: "Output tokens per jsonl prompt without its own.") var customOutputLen = 256
    @Option var prefixRepetitionPrefixLen = 256
    @Option var prefixRepetitionSuffixLen = 256
    @Option var prefixRepetitionNumPrefixes = 10
    @Option var prefixRepetitionOutputLen = 128
    @Option(help: "Turns per conversation for --dataset-name multiturn.") var multiturnTurns = 4
    @Option(help: "Seed for prompts and arrivals (default: a fresh one per run, printed; prompts then differ between runs so the prefix cache does not inflate results).")
    var seed: UInt64?
    @Flag(help: "Send ignore_eos: true to pin output lengths.") var ignoreEos = false
    @Option(help: "JSON object merged into every request body.") var extraBody: String?

    // ---- load shape
    @Option(help: "Requests per second (inf: all at once).") var requestRate = "inf"
    @Option(help: "Gamma shape of inter-arrivals: 1 Poisson, <1 burstier, >1 more regular.") var burstiness = 1.0
    @Option(help: "Closed loop: at most this many requests in flight.") var maxConcurrency: Int?
    @Option(help: "Stop starting requests after this many seconds (cycles through the prompts).") var duration: Double?
    @Option(help: "Warm-up requests, excluded from the figures.") var numWarmups = 0
    @Flag(help: "Skip the initial single test request.") var skipTestRequest = false
    @Option(help: "Comma-separated concurrency levels; one run and one table row per level.") var sweepConcurrency: String?

    // ---- results
    @Option(parsing: .upToNextOption, help: "SLOs in ms: ttft:MS tpot:MS e2el:MS.") var goodput: [String] = []
    @Option(help: "Metrics with percentiles: any of ttft,tpot,itl,e2el.") var percentileMetrics = "ttft,tpot,itl"
    @Option(help: "Comma-separated percentiles.") var metricPercentiles = "99"
    @Flag(help: "Save the result JSON.") var saveResult = false
    @Flag(help: "Keep per-request arrays in the result JSON.") var saveDetailed = false
    @Option var resultDir: String?
    @Option var resultFilename: String?
    @Option(help: "Write latency CDFs and the throughput timeline to this SVG file.") var plot: String?
    @Option(parsing: .upToNextOption, help: "Compare two result files: --compare A.json B.json.") var compare: [String] = []
    @Flag(help: "Disable the live progress line.") var disableTqdm = false

    func run() throws {
        do {
            try execute()
        } catch let error as BenchError {
            print("error: \(error.description)")
            throw ExitCode(1)
        }
    }

    func execute() throws {
        if !compare.isEmpty {
            guard compare.count == 2 else { throw BenchError("--compare takes exactly two result files") }
            let a = try JSONParser.parse(try FileIO.read(compare[0]), limits: .pythonFiles)
            let b = try JSONParser.parse(try FileIO.read(compare[1]), limits: .pythonFiles)
            print(ResultComparison.render(a, b, nameA: compare[0], nameB: compare[1]))
            return
        }
        let config = try makeConfig()
        if seed == nil { print("Random seed: \(config.workload.seed) (pass --seed \(config.workload.seed) to repeat this workload)") }
        let runner = try BenchRunner(config: config)
        try runner.prepare()
        if let sweep = sweepConcurrency {
            let levels = try sweep.split(separator: ",").map { text -> Int in
                guard let level = Int(text.trimmingCharacters()), level > 0 else {
                    throw BenchError("--sweep-concurrency: '\(text)' is not a positive integer")
                }
                return level
            }
            var rows: [BenchResult] = []
            for level in levels {
                let result = try runner.run(maxConcurrency: level)
                print(result.consoleReport())
                try save(result)
                rows.append(result)
            }
            print(SweepTable.render(rows))
            return
        }
        let result = try runner.run(maxConcurrency: config.maxConcurrency)
        print(result.consoleReport())
        for note in result.notes() { print(note) }
        try save(result)
        if let plot {
            try FileIO.write(SVGPlot.render(result), to: plot)
            print("Plot written to \(plot)")
        }
    }

    func save(_ result: BenchResult) throws {
        guard saveResult || saveDetailed else { return }
        var name = resultFilename ?? result.defaultFileName()
        if sweepConcurrency != nil, resultFilename != nil, let level = result.setup.maxConcurrency {
            name = name.hasSuffix(".json") ? String(name.dropLast(5)) + "-concurrency\(level).json" : name + "-concurrency\(level)"
        }
        if let dir = resultDir {
            FileIO.makeDirectory(dir)
            name = dir + "/" + name
        }
        try FileIO.write(result.json(detailed: saveDetailed).pythonDumps() + "\n", to: name)
        print("Results saved to \(name)")
    }

    func makeConfig() throws -> BenchConfig {
        var config = BenchConfig()
        config.baseURL = baseURL
        guard let parsedEndpoint = BenchEndpoint(rawValue: endpoint) else {
            throw BenchError("--endpoint must be /v1/chat/completions or /v1/completions, got '\(endpoint)'")
        }
        config.endpoint = parsedEndpoint
        config.apiKey = apiKey ?? getenv("OPENAI_API_KEY").map { String(cString: $0) }
        config.model = model
        config.label = label
        config.requestTimeoutSeconds = requestTimeout
        guard let dataset = DatasetName(rawValue: datasetName) else {
            throw BenchError("--dataset-name must be one of \(DatasetName.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        var workload = WorkloadOptions()
        workload.dataset = dataset
        workload.datasetPath = datasetPath
        workload.promptCount = numPrompts
        workload.randomInputLength = randomInputLen
        workload.randomOutputLength = randomOutputLen
        workload.randomRangeRatio = randomRangeRatio
        workload.randomPrefixLength = randomPrefixLen
        workload.sharegptOutputLength = sharegptOutputLen
        workload.customOutputLength = customOutputLen
        workload.prefixRepetitionPrefixLength = prefixRepetitionPrefixLen
        workload.prefixRepetitionSuffixLength = prefixRepetitionSuffixLen
        workload.prefixRepetitionPrefixCount = prefixRepetitionNumPrefixes
        workload.prefixRepetitionOutputLength = prefixRepetitionOutputLen
        workload.multiturnTurnCount = multiturnTurns
        guard numPrompts > 0, randomInputLen > 0, randomOutputLen > 0, (0...1).contains(randomRangeRatio) else {
            throw BenchError("--num-prompts, --random-input-len and --random-output-len must be positive; --random-range-ratio in [0, 1]")
        }
        if let seed {
            workload.seed = seed
        } else {
            var now = timespec()
            clock_gettime(CLOCK_REALTIME, &now)
            workload.seed = UInt64(now.tv_sec) &* 1_000_003 &+ UInt64(now.tv_nsec) % 1_000_000
        }
        config.workload = workload
        if requestRate == "inf" {
            config.requestRate = .infinity
        } else {
            guard let rate = Double(requestRate), rate > 0 else { throw BenchError("--request-rate must be > 0 or inf") }
            config.requestRate = rate
        }
        guard burstiness > 0 else { throw BenchError("--burstiness must be > 0") }
        config.burstiness = burstiness
        if let maxConcurrency, maxConcurrency <= 0 { throw BenchError("--max-concurrency must be positive") }
        config.maxConcurrency = maxConcurrency
        config.durationSeconds = duration
        config.warmupCount = numWarmups
        config.skipTestRequest = skipTestRequest
        config.ignoreEOS = ignoreEos
        if let extraBody {
            guard case .object(let members) = try JSONParser.parse(extraBody) else {
                throw BenchError("--extra-body must be a JSON object")
            }
            config.extraBody = members.members.map { ($0.key, $0.value) }
        }
        if !goodput.isEmpty { config.goodput = try GoodputConfig.parse(goodput) }
        config.percentileMetrics = try percentileMetrics.split(separator: ",").map { name in
            guard let metric = LatencyMetric(rawValue: name.trimmingCharacters()) else {
                throw BenchError("--percentile-metrics: unknown metric '\(name)' (ttft, tpot, itl, e2el)")
            }
            return metric
        }
        config.metricPercentiles = try metricPercentiles.split(separator: ",").map { text in
            guard let p = Double(text.trimmingCharacters()), (0...100).contains(p) else {
                throw BenchError("--metric-percentiles: '\(text)' is not a number in [0, 100]")
            }
            return p
        }
        config.showProgress = !disableTqdm && FileIO.stdoutIsTerminal
        return config
    }
}

extension Substring {
    func trimmingCharacters() -> String {
        var text = self
        while text.first == " " { text = text.dropFirst() }
        while text.last == " " { text = text.dropLast() }
        return String(text)
    }
}
