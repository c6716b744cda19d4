import APIServer
import ArgumentParser
import ChatTemplates
import Dispatch
import Engine
import Foundation
import HTTP
import HubClient
import KVCache
import Models
import OpenAIAPI
import Synchronization
import Tensors
import Tokenizers

/// `ling-serve serve`: the OpenAI-compatible server. Every setting can come from the configuration file, a
/// `LING_SERVE_*` variable or a flag (see `ServeSettings`).
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve a model over the OpenAI API (chat, completions, models, tokenize, metrics, health).",
        discussion: """
            Settings are resolved as: built-in default < configuration file < LING_SERVE_<KEY> environment \
            variable < flag. Without --model the bundled demo model models/ling-tiny is served.
            Settings (also valid as --<key> VALUE):
            \(ServeSettings.keys.map { "  \($0.name): \($0.help)" }.joined(separator: "\n"))
            """)

    @Option(name: .long, help: "Configuration file (JSON). Default: config/ling-serve.json when it exists.")
    var config: String?

    @Option(name: .long, help: "Model directory (Hugging Face layout).") var model: String?
    @Option(name: .long, help: "Served model id; repeatable or comma-separated (all listed in /v1/models).")
    var servedModelName: [String] = []
    @Flag(name: .long, help: "/v1/messages refuses model ids that are not served.") var strictModelNames = false
    @Option(name: .long) var host: String?
    @Option(name: .long) var port: String?
    @Option(name: .long, help: "API key; repeatable.") var apiKey: [String] = []
    @Option(name: .long) var apiKeyFile: String?
    @Flag(name: .long, help: "Serve /metrics without an API key.") var openMetrics = false
    @Flag(name: .long, help: "Do not serve the chat page at /.") var noWebui = false
    @OptionGroup var hub: HubOptions
    @Option(name: .long) var tlsCert: String?
    @Option(name: .long) var tlsKey: String?
    @Option(name: .long) var maxModelLen: String?
    @Option(name: .long) var maxOutputTokens: String?
    @Option(name: .long) var maxBatchedTokens: String?
    @Option(name: [.long, .customLong("max-running-requests")]) var maxNumSeqs: String?
    @Option(name: .long) var maxQueuedRequests: String?
    @Option(name: .long) var maxQueuedTokens: String?
    @Option(name: .long) var kvCacheMemory: String?
    @Option(name: .long) var kvCacheDtype: String?
    @Option(name: .long, help: "auto (default), f32 or bf16.") var computeDtype: String?
    @Option(name: .long) var blockSize: String?
    @Option(name: .long, help: "true or false.") var enablePrefixCaching: String?
    @Option(name: .long, help: "off or mtp.") var speculative: String?
    @Option(name: .long, help: "1 to 4.") var speculativeTokens: String?
    @Option(name: .long) var threads: String?
    @Option(name: .long) var expertParallel: String?
    @Option(name: .long) var expertPlacement: String?
    @Option(name: .long) var expertRebalanceTokens: String?
    @Option(name: .long, help: "true or false.") var pinWorkers: String?
    @Option(name: .long) var maxN: String?
    @Option(name: .long) var defaultTemperature: String?
    @Option(name: .long) var defaultTopP: String?
    @Option(name: .long) var defaultRepetitionPenalty: String?
    @Option(name: .long) var defaultSeed: String?
    @Option(name: .long) var maxBodyBytes: String?
    @Option(name: .long) var maxHeaderBytes: String?
    @Option(name: .long) var maxHeaderCount: String?
    @Option(name: .long) var maxConnections: String?
    @Option(name: .long) var headerTimeout: String?
    @Option(name: .long) var idleTimeout: String?
    @Option(name: .long) var shutdownTimeout: String?
    @Option(name: .long) var sseKeepalive: String?
    @Option(name: .long) var logLevel: String?
    @Option(name: .long, help: "text or json.") var logFormat: String?
    @Flag(name: .long, help: "Print the default configuration file and exit.") var printDefaultConfig = false

    func resolvedSettings() throws -> ServeSettings {
        var settings = ServeSettings()
        let configPath = config ?? (FileManager.default.fileExists(atPath: "config/ling-serve.json") ? "config/ling-serve.json" : nil)
        if let configPath { try settings.load(file: configPath) }
        try settings.load(environment: ProcessInfo.processInfo.environment)
        let flags: [(String, String?)] = [
            ("model", model),
            ("served-model-name", servedModelName.isEmpty ? nil : servedModelName.joined(separator: ",")), ("host", host), ("port", port),
            ("api-key-file", apiKeyFile), ("tls-cert", tlsCert), ("tls-key", tlsKey), ("max-model-len", maxModelLen),
            ("max-output-tokens", maxOutputTokens), ("max-batched-tokens", maxBatchedTokens), ("max-num-seqs", maxNumSeqs),
            ("max-queued-requests", maxQueuedRequests), ("max-queued-tokens", maxQueuedTokens),
            ("kv-cache-memory", kvCacheMemory), ("kv-cache-dtype", kvCacheDtype), ("compute-dtype", computeDtype), ("block-size", blockSize),
            ("enable-prefix-caching", enablePrefixCaching), ("speculative", speculative),
            ("speculative-tokens", speculativeTokens), ("threads", threads), ("expert-parallel", expertParallel),
            ("expert-placement", expertPlacement), ("expert-rebalance-tokens", expertRebalanceTokens), ("pin-workers", pinWorkers), ("max-n", maxN),
            ("default-temperature", defaultTemperature), ("default-top-p", defaultTopP),
            ("default-repetition-penalty", defaultRepetitionPenalty), ("default-seed", defaultSeed), ("max-body-bytes", maxBodyBytes),
            ("max-header-bytes", maxHeaderBytes), ("max-header-count", maxHeaderCount),
            ("max-connections", maxConnections), ("header-timeout", headerTimeout), ("idle-timeout", idleTimeout),
            ("shutdown-timeout", shutdownTimeout), ("sse-keepalive", sseKeepalive), ("log-level", logLevel),
            ("log-format", logFormat),
        ]
        for (name, value) in flags { if let value { try settings.set(name, value, source: "--\(name)") } }
        for key in apiKey { try settings.set("api-key", key, source: "--api-key") }
        if openMetrics { settings.openMetrics = true }
        if strictModelNames { settings.strictModelNames = true }
        if noWebui { settings.webui = false }
        return settings
    }

    func run() async throws {
        if printDefaultConfig {
            print(ServeSettings.defaultFileText(), terminator: "")
            return
        }
        let settings: ServeSettings
        do { settings = try resolvedSettings() } catch { throw ValidationError("\(error)") }
        let launch = try ServerLaunch(settings: settings, hub: hub)
        try await launch.runUntilSignalled()
    }
}

/// Builds and runs the server from resolved settings.
struct ServerLaunch {
    let settings: ServeSettings
    let modelDirectory: String
    /// `ORG/NAME` when the model came from the Hub: the id /v1/models lists (as vLLM does).
    let hubID: String?

    init(settings: ServeSettings, hub: HubOptions) throws {
        self.settings = settings
        guard let model = settings.model ?? Self.bundledModelDirectory() else {
            throw ValidationError("no --model given and the bundled models/ling-tiny was not found")
        }
        if let repository = HubOptions.hubRepository(model) {
            modelDirectory = try hub.localPath(repository)
            hubID = repository.id
        } else {
            modelDirectory = model
            hubID = nil
        }
    }

    /// `models/ling-tiny` next to the working directory, or above the executable (a build inside the repository).
    static func bundledModelDirectory() -> String? {
        let fileManager = FileManager.default
        var candidates = [fileManager.currentDirectoryPath + "/models/ling-tiny"]
        var url = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<6 {
            candidates.append(url.appendingPathComponent("models/ling-tiny").path)
            url.deleteLastPathComponent()
        }
        return candidates.first { fileManager.fileExists(atPath: $0 + "/config.json") }
    }

    /// Parses "2GiB", "512MiB", "1073741824" or a fraction of physical memory like "0.3".
    static func parseMemory(_ text: String) throws -> Int {
        let units: [(String, Double)] = [("GiB", 1_073_741_824), ("MiB", 1_048_576), ("KiB", 1024), ("GB", 1e9), ("MB", 1e6), ("B", 1)]
        for (suffix, scale) in units where text.hasSuffix(suffix) {
            guard let number = Double(text.dropLast(suffix.count).trimmingCharacters(in: .whitespaces)), number > 0 else { break }
            return Int(number * scale)
        }
        if let number = Double(text), number > 0 {
            return number <= 1 ? Int(number * Double(ProcessInfo.processInfo.physicalMemory)) : Int(number)
        }
        throw ValidationError("kv-cache-memory: cannot read '\(text)' (examples: 2GiB, 512MiB, 0.3)")
    }

    func runUntilSignalled() async throws {
        let log = ServerLog(level: settings.logLevel, format: settings.logFormat)
        let startTime = Date()
        log.info("loading \(modelDirectory)")
        let (config, generation) = try ModelFiles.configs(modelDirectory)
        let tokenizer = try ModelFiles.tokenizer(modelDirectory)
        let template = try ModelFiles.chatTemplate(modelDirectory)

        // KV blocks from the memory budget: K and V of every layer (+ the MTP layer) per token.
        let precision: KVStorage.Precision = settings.kvCacheDtype == "bf16" ? .bf16 : .f32
        let bytesPerBlock = KVStorage.bytesPerBlock(
            layerCount: config.layerCount + (config.hasMTPLayer ? 1 : 0), blockSize: settings.blockSize,
            kvHeadCount: config.kvHeadCount, headSize: config.headSize, precision: precision)
        let kvBlockCount = max(4, try Self.parseMemory(settings.kvCacheMemory) / bytesPerBlock)
        let maxModelLength = min(settings.maxModelLen ?? config.maxPositionEmbeddings, kvBlockCount * settings.blockSize)
        let expertSetup = try ExpertParallelSetup(
            workers: settings.expertParallel > 0 ? settings.expertParallel : nil, threads: settings.threads > 0 ? settings.threads : nil,
            placement: ExpertPlacementStrategy(rawValue: settings.expertPlacement) ?? ExpertParallelSetup.defaultPlacement,
            rebalanceTokens: settings.expertRebalanceTokens, pin: settings.pinWorkers)
        let directory = modelDirectory
        let blockSize = settings.blockSize
        // One trace line per engine step: batch, tokens, preemptions, blocks, time (issue: observability).
        var stepObserver: (@Sendable (EngineStepRecord) -> Void)?
        if log.minimum == .trace {
            stepObserver = { (record: EngineStepRecord) in
                let line = record.logLine
                log.log(.trace, line)
            }
        }
        let speculativeTokens = settings.speculative == "mtp" ? settings.speculativeTokens : 0
        if speculativeTokens > 0 && !config.hasMTPLayer {
            throw ValidationError(
                "--speculative mtp: \(modelDirectory) has no MTP layer (num_nextn_predict_layers is 0 or absent); "
                    + "serve it with --speculative off")
        }
        let loaded = LoadedModelBox()
        let engine = try Engine(
            configuration: EngineConfiguration(
                scheduler: SchedulerConfiguration(
                    maxBatchedTokenCount: settings.maxBatchedTokens, maxRunningSequenceCount: settings.maxNumSeqs,
                    maxModelLength: maxModelLength, enablePrefixCaching: settings.enablePrefixCaching),
                speculativeTokenCount: speculativeTokens, stepObserver: stepObserver),
            makeModel: {
                let model = try loadModel(directory: directory, setup: expertSetup,
                                          compute: ComputeSetting(rawValue: settings.computeDtype) ?? .auto).model
                log.info("compute: \(model.computeDType) (compute-dtype \(settings.computeDtype); weights \(model.weightFormat))")
                loaded.set(weightFormat: model.weightType.description, computeDType: model.computeDType.description)
                if let pages = model.weightHugePageShare {
                    // Below 100%: the page cache held parts of the files in small folios before we mapped them;
                    // decode reads those slower (evicting and re-reading the files, e.g. with `cat`, restores it).
                    log.info(String(format: "weights: %.0f%% of the %.2f GiB resident on 2 MiB pages",
                                    100 * pages.share, Double(pages.residentBytes) / Double(1 << 30)))
                }
                return try LingStepModel(
                    model: model, kvBlockCount: kvBlockCount, kvBlockSize: blockSize, precision: precision,
                    drafting: speculativeTokens > 0)
            })
        log.info(
            "model loaded: \(config.layerCount) layers, vocab \(config.vocabSize), KV cache \(kvBlockCount) blocks of \(blockSize) "
                + "(\((kvBlockCount * bytesPerBlock) >> 20) MiB, \(settings.kvCacheDtype)), compute-dtype \(settings.computeDtype), "
                + "max model length \(maxModelLength), "
                + "\(expertSetup.workerCount) expert-parallel workers on CPUs \(expertSetup.cpus) (\(settings.expertPlacement) placement)")

        if speculativeTokens > 0 {
            log.info("speculative decoding: MTP, \(speculativeTokens) draft tokens per step")
            SpeculationLog.start(engine: engine, log: log)
        }

        var apiKeys = settings.apiKeys
        if let file = settings.apiKeyFile {
            guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
                throw ValidationError("cannot read --api-key-file \(file)")
            }
            apiKeys += text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
                .filter { !$0.isEmpty && !$0.hasPrefix("#") }
        }
        let root = hubID ?? URL(fileURLWithPath: modelDirectory).lastPathComponent
        let servedName = settings.servedModelNames.first ?? root
        let card = ModelCard(
            id: servedName, root: root, created: Int(startTime.timeIntervalSince1970), maxModelLength: maxModelLength,
            aliases: settings.servedModelNames.contains(root) ? [] : [root],
            additionalIDs: Array(settings.servedModelNames.dropFirst()), weightFormat: loaded.weightFormat,
            computeDType: loaded.computeDType)
        var limits = RequestLimits()
        limits.maxTokenId = config.vocabSize - 1
        limits.maxN = settings.maxN
        let metrics = MetricsRegistry(
            modelName: servedName,
            info: [("weight_format", loaded.weightFormat ?? "?"), ("compute_dtype", loaded.computeDType ?? "?")])
        let backend = EngineBackend(
            engine: engine,
            limits: EngineBackend.Limits(maxQueuedRequests: settings.maxQueuedRequests, maxQueuedTokens: settings.maxQueuedTokens),
            metrics: metrics)
        let codec = TokenizerCodec(tokenizer: tokenizer, eosTokenIds: Set(generation.eosTokenIds), vocabularySize: config.vocabSize)
        let healthBox = HealthBox()
        let api = APIServer(
            configuration: APIServerConfiguration(
                model: card, systemFingerprint: "fp_lingserve_\(LingServeVersion.build)", limits: limits, apiKeys: apiKeys,
                metricsWithoutAuth: settings.openMetrics, maxOutputTokens: settings.maxOutputTokens,
                defaultTemperature: settings.defaultTemperature, defaultTopP: settings.defaultTopP,
                defaultRepetitionPenalty: settings.defaultRepetitionPenalty, defaultSeed: settings.defaultSeed,
                strictModelNames: settings.strictModelNames, chatPage: settings.webui),
            backend: backend, codec: codec, renderer: TemplateRenderer(template: template), metrics: metrics,
            health: { healthBox.status }, clock: { Date().timeIntervalSince1970 },
            constraintCompiler: ConstraintCompiler(codec: codec))

        var httpConfiguration = HTTPServerConfiguration(host: settings.host, port: settings.port)
        httpConfiguration.limits.maxBodySize = settings.maxBodyBytes
        httpConfiguration.limits.maxHeaderSize = settings.maxHeaderBytes
        httpConfiguration.limits.maxHeaderCount = settings.maxHeaderCount
        httpConfiguration.maxConnectionCount = settings.maxConnections
        httpConfiguration.headerTimeout = settings.headerTimeout
        httpConfiguration.idleTimeout = settings.idleTimeout
        httpConfiguration.tlsCertificatePath = settings.tlsCert
        httpConfiguration.tlsKeyPath = settings.tlsKey
        httpConfiguration.errorBody = ErrorResponse.httpLayerBody
        let server = HTTPServer(configuration: httpConfiguration, handler: APIHTTPHandler(
                server: api, sseKeepAliveSeconds: settings.sseKeepalive,
                accessLog: AccessLog(includeProbes: log.minimum.rawValue <= ServerLog.Level.debug.rawValue) { log.access($0) }))
        do { try server.start() } catch { throw ValidationError("cannot listen on \(settings.host):\(settings.port): \(error)") }
        let scheme = settings.tlsCert == nil ? "http" : "https"
        let shownHost = settings.host.contains(":") ? "[\(settings.host)]" : settings.host
        let base = "\(scheme)://\(shownHost):\(server.localPort ?? settings.port)"
        log.info("serving \(servedName) at \(base)/v1" + (settings.webui ? " (chat page: \(base)/)" : ""))
        if apiKeys.isEmpty && !["127.0.0.1", "localhost", "::1"].contains(settings.host) {
            log.warning("no API key is configured and the server listens on \(settings.host): anyone who can reach it can use it")
        }

        // Graceful shutdown: stop accepting, /health -> 503, let requests finish until the deadline, then stop.
        signal(SIGINT, SIG_IGN)
        signal(SIGTERM, SIG_IGN)
        signal(SIGPIPE, SIG_IGN)
        let shutdownTimeout = settings.shutdownTimeout
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let signalQueue = DispatchQueue(label: "lingserve.signals")
            let once = Mutex(false)
            var sources: [DispatchSourceSignal] = []
            for number in [SIGINT, SIGTERM] {
                let source = DispatchSource.makeSignalSource(signal: number, queue: signalQueue)
                source.setEventHandler {
                    guard once.withLock({ done in defer { done = true }; return !done }) else { return }
                    log.info("signal \(number): draining (up to \(Int(shutdownTimeout)) s)")
                    healthBox.status = .shuttingDown
                    server.shutdown(deadline: .now() + shutdownTimeout)
                    engine.shutdown()
                    log.info("stopped")
                    continuation.resume()
                }
                source.resume()
                sources.append(source)
            }
            SignalSources.keep(sources)
        }
    }
}

/// Logs the mean acceptance length of speculative decoding every 10 s while drafts are being verified.
enum SpeculationLog {
    nonisolated(unsafe) private static var timer: DispatchSourceTimer?

    static func start(engine: Engine, log: ServerLog) {
        let source = DispatchSource.makeTimerSource(queue: DispatchQueue(label: "lingserve.speculation-log"))
        let last = Mutex(0)
        source.schedule(deadline: .now() + 10, repeating: 10)
        source.setEventHandler {
            let metrics = engine.metrics
            let changed = last.withLock { previous in
                defer { previous = metrics.specDraftCount }
                return previous != metrics.specDraftCount
            }
            guard changed, metrics.specDraftCount > 0 else { return }
            let drafts = Double(metrics.specDraftCount)
            let perPosition = metrics.specAcceptedPerPosition.map { String(format: "%.2f", Double($0) / drafts) }
            let rate = metrics.specDraftTokenCount == 0 ? 0 : 100 * Double(metrics.specAcceptedTokenCount) / Double(metrics.specDraftTokenCount)
            log.info(String(format: "speculative decoding: mean acceptance length %.2f, acceptance rate %.1f%%, ", metrics.meanAcceptanceLength, rate)
                + "per position [\(perPosition.joined(separator: ", "))] over \(metrics.specDraftCount) verifications")
        }
        source.resume()
        timer = source
    }
}

/// Keeps the signal sources alive for the life of the process.
enum SignalSources {
    nonisolated(unsafe) private static var sources: [DispatchSourceSignal] = []
    static func keep(_ new: [DispatchSourceSignal]) { sources += new }
}

/// Readiness shared between the signal handler and `/health`.
/// What the engine thread learned loading the model, for the API's model card and metrics (the engine's init waits
/// for the load, so it is set before they are made).
final class LoadedModelBox: Sendable {
    private let state = Mutex<(weightFormat: String?, computeDType: String?)>((nil, nil))
    func set(weightFormat: String, computeDType: String) { state.withLock { $0 = (weightFormat, computeDType) } }
    var weightFormat: String? { state.withLock { $0.weightFormat } }
    var computeDType: String? { state.withLock { $0.computeDType } }
}

final class HealthBox: Sendable {
    private let state = Mutex(HealthStatus.ok)
    var status: HealthStatus {
        get { state.withLock { $0 } }
        set { state.withLock { $0 = newValue } }
    }
}

enum LingServeVersion {
    static let build = "0_1_0"
}
