import Foundation
import KVCache
import Tensors

/// A loaded Ling 2.0 model (`BailingMoeV2ForCausalLM`): weights memory-mapped in place, f32 compute
/// (or bf16 activations in the linears, `ComputeDType`).
///
/// Usage (one sequence; the scheduler builds multi-sequence `ForwardBatch`es the same way):
///
///     let model = try LingModel(directory: dir, threadCount: 2)
///     let kv = try model.makeKVStorage(blockCount: 64)                 // 64 blocks of 16 positions
///     let table: [Int32] = Array(0..<64)
///     var out = try model.forward(.single(tokens: prompt, startPosition: 0, blockTable: table), kv: kv)   // prefill
///     out = try model.forward(.single(tokens: [next], startPosition: prompt.count, blockTable: table), kv: kv) // decode
///
/// Not thread-safe: one engine thread owns a model and its KV storage; the model uses `pool` for parallelism.
public final class LingModel: @unchecked Sendable {
    public let directory: String
    public let config: ModelConfig
    public let generationConfig: GenerationConfig
    /// Bytes of the mapped weight files.
    public let checkpointBytes: Int
    /// How the weights are stored: "safetensors (BF16)" or "GGUF (Q8_0)"-style, for logs and /v1/models.
    public let weightFormat: String
    /// The type most matrices are stored in ("Q8_0", "BF16"): what `/v1/models` and `/metrics` name.
    public let weightType: WeightDType
    /// The mapped files (kept alive for the weights that point into them).
    let storage: AnyObject
    /// The safetensors checkpoint, when the model was loaded from one.
    public var checkpoint: SafetensorsCheckpoint? { storage as? SafetensorsCheckpoint }
    /// The GGUF file(s), when the model was loaded from one.
    public var gguf: GGUFCheckpoint? { storage as? GGUFCheckpoint }
    /// The mapped weight files.
    public var mappedFiles: [MappedFile] {
        checkpoint.map { $0.files.map(\.mapping) } ?? gguf.map { $0.files.map(\.mapping) } ?? []
    }
    /// The share of the resident weight bytes the kernel maps with 2 MiB pages, and those bytes (nil where
    /// /proc/self/smaps is unavailable or nothing is resident). Below 1 where the page cache held parts of the
    /// files in small folios before the model mapped them (see MemoryPages).
    public var weightHugePageShare: (share: Double, residentBytes: Int)? {
        var resident = 0
        var huge = 0.0
        for file in mappedFiles {
            guard let report = file.hugePageShare else { continue }
            resident += report.residentBytes
            huge += report.share * Double(report.residentBytes)
        }
        return resident > 0 ? (huge / Double(resident), resident) : nil
    }
    public let pool: ComputePool
    /// What the linears (all but the router) multiply the weights with.
    public let computeDType: ComputeDType
    /// Evaluates routed experts; replace with an expert-parallel executor before the first forward.
    public var expertExecutor: any ExpertExecutor
    /// Called per MoE layer with (layer index, expert ids [tokenCount, K], weights [tokenCount, K]) when set.
    /// Debugging and tests only (it allocates).
    public var routingObserver: ((Int, [Int32], [Float]) -> Void)?
    /// Per-part wall time of every pass when set (`ling-serve bench --profile`).
    public var profile: ForwardProfile?

    let weights: LingWeights
    let rope: RotaryEmbedding
    let scratch = ForwardScratch()

    /// Progress of loading: (files mapped, total files).
    public typealias LoadProgress = (Int, Int) -> Void

    /// threadCount compute threads; with workerCPUs, one thread per listed CPU, pinned there (worker 0 is the
    /// calling thread, which should be the thread that runs `forward`), and threadCount is ignored.
    /// compute: what the linears multiply the weights with (`ComputeDType`; f32 is exact against the reference's
    /// f32 run, bf16 rounds the activations as the reference's native bf16 run does).
    /// directory: a checkpoint folder (config.json + safetensors) or a `bailingmoe2` .gguf file (the first of a
    /// split set).
    public init(directory: String, threadCount: Int = 2, workerCPUs: [Int]? = nil, compute setting: ComputeSetting = .f32,
                progress: LoadProgress = { _, _ in }) throws(ModelError) {
        guard threadCount >= 1 else { throw ModelError("threadCount must be >= 1 (got \(threadCount))") }
        if let workerCPUs, workerCPUs.isEmpty { throw ModelError("workerCPUs must list at least one CPU") }
        self.directory = directory
        let compute: ComputeDType
        if GGUFCheckpoint.isGGUFPath(directory) {
            let gguf = try GGUFCheckpoint(path: directory)
            progress(gguf.files.count, gguf.files.count)
            config = gguf.config
            generationConfig = GenerationConfig(gguf: gguf.files[0], config: config)
            compute = setting.resolved(weightDType: Self.matrixDType(gguf.entries))
            weights = try LingWeights(entries: gguf.entries, source: directory, config: config, compute: compute)
            checkpointBytes = gguf.byteCount
            weightFormat = "GGUF (\(gguf.typeSummary))"
            storage = gguf
        } else {
            config = try ModelConfig.load(directory: directory)
            generationConfig = try GenerationConfig.load(directory: directory, fallback: config)
            let checkpoint = try SafetensorsCheckpoint(directory: directory, progress: progress)
            compute = setting.resolved(weightDType: Self.matrixDType(checkpoint.entries))
            weights = try LingWeights(checkpoint: checkpoint, config: config, compute: compute)
            checkpointBytes = checkpoint.byteCount
            var counts: [String: Int] = [:]
            for entry in checkpoint.entries.values { counts[entry.dtypeName, default: 0] += 1 }
            weightFormat = "safetensors (" + counts.sorted { $0.value > $1.value || ($0.value == $1.value && $0.key < $1.key) }
                .map { "\($0.key): \($0.value)" }.joined(separator: ", ") + ")"
            storage = checkpoint
        }
        computeDType = compute
        weightType = Self.matrixDType(weights)
        rope = RotaryEmbedding(config: config)
        pool = workerCPUs.map { ComputePool(pinnedTo: $0) } ?? ComputePool(threadCount: threadCount)
        expertExecutor = LocalExpertExecutor(pool: pool)
    }

    /// The dtype most of the bound matrices are stored in.
    static func matrixDType(_ weights: LingWeights) -> WeightDType {
        var counts: [Int: Int] = [:]
        for layer in weights.layers {
            var matrices = [layer.attention.queryKeyValue, layer.attention.output]
            switch layer.feedForward {
            case .dense(let mlp): matrices += [mlp.gate, mlp.up, mlp.down]
            case .moe(let moe): matrices += moe.experts.flatMap { [$0.gate, $0.up, $0.down] }
            }
            for matrix in matrices { counts[matrix.dtype.rawValue, default: 0] += 1 }
        }
        let most = counts.max { $0.value < $1.value || ($0.value == $1.value && $0.key > $1.key) }
        return most.flatMap { WeightDType(rawValue: $0.key) } ?? weights.lmHead.dtype
    }

    /// The dtype most of a checkpoint's matrices are stored in (what `ComputeSetting.auto` decides by).
    static func matrixDType(_ entries: [String: TensorEntry]) -> WeightDType {
        var counts: [Int: Int] = [:]
        for entry in entries.values where entry.shape.count == 2 {
            if let dtype = entry.dtype { counts[dtype.rawValue, default: 0] += 1 }
        }
        let most = counts.max { $0.value < $1.value || ($0.value == $1.value && $0.key > $1.key) }
        return most.flatMap { WeightDType(rawValue: $0.key) } ?? .f32
    }

    /// Switches the routed experts to expert parallelism over this model's pool (one expert worker per pool
    /// thread) and returns the executor (its placement and statistics). Call before the first forward.
    @discardableResult
    public func useExpertParallel(strategy: ExpertPlacementStrategy, rebalanceInterval: Int = 1024,
                                  replicateHotExperts: Bool = true) -> ExpertParallelExecutor {
        let executor = ExpertParallelExecutor(model: self, strategy: strategy, rebalanceInterval: rebalanceInterval,
                                              replicateHotExperts: replicateHotExperts)
        expertExecutor = executor
        return executor
    }

    /// Routed experts of every layer slot (decoder layers, then the MTP layer when present); [] for dense layers.
    var routedExpertsByLayer: [[SwiGLUWeights]] {
        var result = weights.layers.map { layer -> [SwiGLUWeights] in
            if case .moe(let moe) = layer.feedForward { return moe.experts }
            return []
        }
        if let mtp = weights.mtp, case .moe(let moe) = mtp.layer.feedForward { result.append(moe.experts) }
        return result
    }

    /// The shared expert of every layer slot (as `routedExpertsByLayer`); nil where there is none.
    var sharedExpertByLayer: [SwiGLUWeights?] {
        var result = weights.layers.map { layer -> SwiGLUWeights? in
            if case .moe(let moe) = layer.feedForward { return moe.shared }
            return nil
        }
        if let mtp = weights.mtp, case .moe(let moe) = mtp.layer.feedForward { result.append(moe.shared) }
        return result
    }

    /// Whether the checkpoint has the MTP layer (`forwardMTP` available).
    public var hasMTP: Bool { weights.mtp != nil }
    /// KV layers the storage must hold: the decoder layers, then the MTP layer.
    public var kvLayerCount: Int { config.layerCount + (hasMTP ? 1 : 0) }
    /// KV layer index of the MTP layer.
    public var mtpKVLayer: Int { config.layerCount }

    /// Paged KV storage for this model: `blockCount` blocks of `blockSize` positions, all layers + MTP.
    public func makeKVStorage(blockCount: Int, blockSize: Int = 16,
                              precision: KVStorage.Precision = .f32) throws(ModelError) -> KVStorage {
        do {
            return try KVStorage(layerCount: kvLayerCount, blockCount: blockCount, blockSize: blockSize,
                                 kvHeadCount: config.kvHeadCount, headSize: config.headSize, precision: precision)
        } catch { throw ModelError("KV storage: \(error.description)") }
    }

    /// Bytes of weights one decode step of a single token reads: attention and dense layers, the router, the
    /// shared expert, `expertsPerToken` routed experts per MoE layer, one embedding row and the lm_head.
    public var weightBytesPerDecodedToken: Int {
        var bytes = weights.lmHead.byteCount + weights.embedding.byteCount / max(config.vocabSize, 1)
        for layer in weights.layers {
            bytes += layer.attention.queryKeyValue.byteCount + layer.attention.output.byteCount
            switch layer.feedForward {
            case .dense(let mlp): bytes += mlp.byteCount
            case .moe(let moe):
                bytes += moe.router.byteCount + (moe.shared?.byteCount ?? 0)
                bytes += config.expertsPerToken * (moe.experts.first?.byteCount ?? 0)
            }
        }
        return bytes
    }

    /// Multiply-adds per token of the main model, excluding attention scores (2 FLOPs each).
    public var matmulFlopsPerToken: Double {
        var macs = 0
        for layer in weights.layers {
            macs += layer.attention.queryKeyValue.rowCount * layer.attention.queryKeyValue.columnCount
            macs += layer.attention.output.rowCount * layer.attention.output.columnCount
            switch layer.feedForward {
            case .dense(let mlp): macs += 3 * mlp.gate.rowCount * mlp.gate.columnCount
            case .moe(let moe):
                macs += moe.router.rowCount * moe.router.columnCount
                if let shared = moe.shared { macs += 3 * shared.gate.rowCount * shared.gate.columnCount }
                if let expert = moe.experts.first { macs += config.expertsPerToken * 3 * expert.gate.rowCount * expert.gate.columnCount }
            }
        }
        return 2 * Double(macs)
    }

    /// FLOPs of the lm_head for one row.
    public var lmHeadFlops: Double { 2 * Double(weights.lmHead.rowCount * weights.lmHead.columnCount) }
}
