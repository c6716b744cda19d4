import ArgumentParser
import Foundation
import JSON
import Models
import Tokenizers

/// `ling-serve expert-stats`: per-expert load of every MoE layer over a workload, and what each placement would
/// make of it (rows per worker, max/mean imbalance).
struct ExpertStatsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "expert-stats",
        abstract: "Count how often each expert of each MoE layer is chosen over a prompt, and the per-worker load of each placement.",
        discussion: """
            Runs the prompt (prefill) and --max-tokens greedy decode steps with expert parallelism, then prints, per MoE \
            layer, the rows routed to each expert and the rows each worker gets under contiguous, round-robin and \
            balanced placement (imbalance = busiest worker / mean). The running server exposes per-worker totals on \
            /metrics (lingserve:expert_worker_*).
            """)

    @Option(help: "Checkpoint folder.")
    var model: String
    @OptionGroup var hub: HubOptions

    @Option(help: "Prompt text, encoded with the model's tokenizer.")
    var prompt: String?

    @Option(name: .customLong("token-ids"), help: "Prompt token ids, comma separated.")
    var tokenIds: String?

    @Option(name: .customLong("random-tokens"), help: "A deterministic pseudo-random prompt of this many tokens.")
    var randomTokens: Int?

    @Option(name: .customLong("max-tokens"), help: "Greedy decode steps after the prompt.")
    var maxTokens = 0

    @Option(help: "Compute threads (default: one per physical core); the same threads are the expert-parallel workers.")
    var threads: Int?

    @OptionGroup var expertOptions: ExpertParallelOptions
    @OptionGroup var computeOptions: ComputeOptions

    @Flag(help: "Print one JSON object.")
    var json = false

    mutating func validate() throws {
        model = try hub.resolve(model)
        guard [prompt != nil, tokenIds != nil, randomTokens != nil].filter({ $0 }).count == 1 else {
            throw ValidationError("pass exactly one of --prompt TEXT, --token-ids 1,2,3 or --random-tokens N")
        }
        if let randomTokens, randomTokens < 1 { throw ValidationError("--random-tokens must be >= 1") }
        guard maxTokens >= 0 else { throw ValidationError("--max-tokens must be >= 0") }
    }

    func run() throws {
        let (model, experts) = try loadModel(directory: self.model, setup: try expertOptions.setup(threads: threads),
                                  compute: computeOptions.setting)
        let ids: [Int]
        if let tokenIds {
            ids = try parseTokenIds(tokenIds)
        } else if let prompt {
            ids = try ModelFiles.tokenizer(self.model).encode(prompt)
        } else {
            var state: UInt64 = 0x9E37_79B9_7F4A_7C15
            ids = (0..<(randomTokens ?? 1)).map { _ in
                state ^= state << 13
                state ^= state >> 7
                state ^= state << 17
                return Int(state % UInt64(min(model.config.vocabSize, 150_000)))
            }
        }
        guard !ids.isEmpty else { throw ValidationError("the prompt encodes to no tokens") }
        if let bad = ids.first(where: { $0 < 0 || $0 >= model.config.vocabSize }) {
            throw ValidationError("token id \(bad) is outside the vocabulary (0..<\(model.config.vocabSize))")
        }
        let blockSize = 16
        let blockCount = (ids.count + maxTokens + blockSize - 1) / blockSize
        let kv = try model.makeKVStorage(blockCount: blockCount, blockSize: blockSize)
        let table = (0..<blockCount).map { Int32($0) }
        var out = try model.forward(.single(tokens: ids.map { Int32($0) }, startPosition: 0, blockTable: table), kv: kv)
        for step in 0..<maxTokens {
            let next = Int32(greedyArgmax(out.row(0)))
            out = try model.forward(.single(tokens: [next], startPosition: ids.count + step, blockTable: table), kv: kv)
        }
        let report = ExpertLoadReport(executor: experts)
        print(json ? JSONValue.object(report.json).pythonDumps() : report.text)
    }
}

/// Per-layer expert loads and the worker loads each placement strategy gives them.
struct ExpertLoadReport {
    struct Layer {
        let index: Int
        let loads: [Int]
        let current: LayerPlacement
        /// (strategy name, rows per worker)
        let placements: [(String, [Int])]
    }

    let workerCount: Int
    let layers: [Layer]
    let workers: [ExpertWorkerStats]

    init(executor: ExpertParallelExecutor) {
        let n = executor.workerCount
        workerCount = n
        workers = executor.workerStats
        layers = executor.moeLayers.map { layer in
            let loads = executor.expertLoads(layer: layer)
            let candidates: [(String, LayerPlacement)] = [
                ("contiguous", .contiguous(expertCount: loads.count, workerCount: n)),
                ("round-robin", .roundRobin(expertCount: loads.count, workerCount: n)),
                ("balanced", .balanced(loads: loads, workerCount: n)),
            ]
            return Layer(index: layer, loads: loads, current: executor.placement(layer: layer),
                         placements: candidates.map { ($0.0, $0.1.workerRows(loads: loads)) })
        }
    }

    /// Busiest worker's rows over the mean (1 = perfectly even).
    static func imbalance(_ rows: [Int]) -> Double {
        let total = rows.reduce(0, +)
        guard total > 0 else { return 1 }
        return Double(rows.max() ?? 0) * Double(rows.count) / Double(total)
    }

    var text: String {
        var lines: [String] = []
        for layer in layers {
            lines.append("layer \(layer.index): expert loads (rows) \(layer.loads.map(String.init).joined(separator: " "))")
            for (name, rows) in layer.placements {
                lines.append(String(format: "  %-11@ worker rows %@  imbalance %.3f", name,
                                    rows.map(String.init).joined(separator: " "), Self.imbalance(rows)))
            }
        }
        for (w, worker) in workers.enumerated() {
            lines.append(String(format: "worker %d: %@, busy %.3f s, idle %.3f s, %d tokens, %d routed rows, %d shared-expert rows, %d experts", w,
                                worker.pinned ? "pinned" : "unpinned", worker.busySeconds, worker.idleSeconds,
                                worker.tokenCount, worker.rowCount, worker.sharedRowCount, worker.expertCount))
        }
        return lines.joined(separator: "\n")
    }

    var json: JSONObject {
        let layerValues: [JSONValue] = layers.map { layer in
            var placements: [(String, JSONValue)] = []
            for (name, rows) in layer.placements {
                placements.append((name, .object(JSONObject([
                    ("worker_rows", .array(rows.map { .int($0) })), ("imbalance", .double(Self.imbalance(rows))),
                ]))))
            }
            return .object(JSONObject([
                ("layer", .int(layer.index)), ("expert_loads", .array(layer.loads.map { .int($0) })),
                ("owners", .array(layer.current.owners.map { .array($0.map { .int($0) }) })),
                ("placements", .object(JSONObject(placements))),
            ]))
        }
        let workerValues: [JSONValue] = workers.map { worker in
            .object(JSONObject([
                ("pinned", .bool(worker.pinned)), ("busy_seconds", .double(worker.busySeconds)),
                ("idle_seconds", .double(worker.idleSeconds)), ("tokens", .int(worker.tokenCount)),
                ("rows", .int(worker.rowCount)), ("shared_rows", .int(worker.sharedRowCount)), ("experts", .int(worker.expertCount)),
            ]))
        }
        return JSONObject([("workers", .array(workerValues)), ("layers", .array(layerValues))])
    }
}
