import Tensors

/// Weights of one attention block (plus the two norms around it).
struct AttentionWeights: @unchecked Sendable {
    let inputNorm: [Float]          // [hiddenSize]
    let queryKeyValue: WeightMatrix // [(headCount + 2 * kvHeadCount) * headSize, hiddenSize]
    let queryNorm: [Float]          // [headSize]
    let keyNorm: [Float]            // [headSize]
    let output: WeightMatrix        // [hiddenSize, headCount * headSize]  (attention.dense)
    let postAttentionNorm: [Float]  // [hiddenSize]
}

/// A SwiGLU MLP: down(silu(gate(x)) * up(x)). Used for dense layers, routed experts and the shared expert.
public struct SwiGLUWeights: @unchecked Sendable {
    public let gate: WeightMatrix   // [intermediateSize, hiddenSize]
    public let up: WeightMatrix     // [intermediateSize, hiddenSize]
    public let down: WeightMatrix   // [hiddenSize, intermediateSize]

    public var byteCount: Int { gate.byteCount + up.byteCount + down.byteCount }
}

struct MoEWeights: @unchecked Sendable {
    let router: WeightMatrix        // [expertCount, hiddenSize]
    let expertBias: [Float]         // [expertCount]
    let experts: [SwiGLUWeights]    // expertCount
    let shared: SwiGLUWeights?      // width moe_intermediate_size * num_shared_experts
}

enum FeedForwardWeights: @unchecked Sendable {
    case dense(SwiGLUWeights)
    case moe(MoEWeights)
}

struct LayerWeights: @unchecked Sendable {
    let attention: AttentionWeights
    let feedForward: FeedForwardWeights
}

/// The MTP ("nextn") layer stored at `model.layers.{num_hidden_layers}`.
struct MTPWeights: @unchecked Sendable {
    let embeddingNorm: [Float]      // enorm [hiddenSize]
    let hiddenNorm: [Float]         // hnorm [hiddenSize]
    let projection: WeightMatrix    // eh_proj [hiddenSize, 2 * hiddenSize]
    let layer: LayerWeights         // always MoE
    let finalNorm: [Float]          // final_layernorm [hiddenSize]
}

/// Every tensor of a Ling 2.0 checkpoint, bound by name and checked for shape. Matrices point into the mapped
/// files; only the small norm vectors and expert biases are converted to f32 arrays.
struct LingWeights: @unchecked Sendable {
    let embedding: WeightMatrix     // [vocabSize, hiddenSize]
    let layers: [LayerWeights]
    let finalNorm: [Float]          // [hiddenSize]
    let lmHead: WeightMatrix        // [vocabSize, hiddenSize]
    let mtp: MTPWeights?

    /// Tensors that may be present and are ignored: rotary tables some exporters save (recomputed from the config).
    static func isIgnorable(_ name: String) -> Bool { name.hasSuffix("rotary_emb.inv_freq") }

    /// compute: what the linears multiply with (`ComputeDType`); the router always multiplies f32 activations, as
    /// the reference computes routing in f32, and the embedding is only read row by row.
    init(checkpoint: SafetensorsCheckpoint, config: ModelConfig, compute: ComputeDType = .f32) throws(ModelError) {
        try self.init(entries: checkpoint.entries, source: checkpoint.directory, config: config, compute: compute)
    }

    /// entries: every tensor under its Hugging Face name (a safetensors checkpoint, or a GGUF file renamed by
    /// `GGUFCheckpoint`); source names the checkpoint in messages.
    init(entries: [String: TensorEntry], source: String, config: ModelConfig, compute: ComputeDType = .f32) throws(ModelError) {
        var binder = WeightBinder(entries: entries, source: source, config: config, compute: compute)
        let hidden = config.hiddenSize
        embedding = try binder.matrix("model.word_embeddings.weight", config.vocabSize, hidden, compute: .f32)
        var layers: [LayerWeights] = []
        for layer in 0..<config.layerCount {
            layers.append(try Self.layer(&binder, config: config, index: layer, moe: layer >= config.firstDenseLayerCount))
        }
        self.layers = layers
        finalNorm = try binder.vector("model.norm.weight", hidden)
        lmHead = try binder.matrix("lm_head.weight", config.vocabSize, hidden)
        if config.hasMTPLayer {
            let prefix = "model.layers.\(config.layerCount)."
            mtp = MTPWeights(
                embeddingNorm: try binder.vector(prefix + "enorm.weight", hidden),
                hiddenNorm: try binder.vector(prefix + "hnorm.weight", hidden),
                projection: try binder.matrix(prefix + "eh_proj.weight", hidden, 2 * hidden),
                layer: try Self.layer(&binder, config: config, index: config.layerCount, moe: true),
                finalNorm: try binder.vector(prefix + "final_layernorm.weight", hidden))
        } else {
            mtp = nil
        }
        try binder.checkAllUsed()
    }

    private static func layer(_ binder: inout WeightBinder, config: ModelConfig, index: Int, moe: Bool) throws(ModelError) -> LayerWeights {
        let prefix = "model.layers.\(index)."
        let hidden = config.hiddenSize
        let attention = AttentionWeights(
            inputNorm: try binder.vector(prefix + "input_layernorm.weight", hidden),
            queryKeyValue: try binder.matrix(prefix + "attention.query_key_value.weight", config.qkvSize, hidden),
            queryNorm: try binder.vector(prefix + "attention.query_layernorm.weight", config.headSize),
            keyNorm: try binder.vector(prefix + "attention.key_layernorm.weight", config.headSize),
            output: try binder.matrix(prefix + "attention.dense.weight", hidden, config.headCount * config.headSize),
            postAttentionNorm: try binder.vector(prefix + "post_attention_layernorm.weight", hidden))
        let feedForward: FeedForwardWeights
        if moe {
            var experts: [SwiGLUWeights] = []
            experts.reserveCapacity(config.expertCount)
            for expert in 0..<config.expertCount {
                experts.append(try binder.swiGLU(prefix + "mlp.experts.\(expert).", config.moeIntermediateSize))
            }
            let shared = config.sharedExpertCount > 0
                ? try binder.swiGLU(prefix + "mlp.shared_experts.", config.sharedExpertIntermediateSize) : nil
            feedForward = .moe(MoEWeights(
                router: try binder.matrix(prefix + "mlp.gate.weight", config.expertCount, hidden, compute: .f32),
                expertBias: try binder.vector(prefix + "mlp.gate.expert_bias", config.expertCount),
                experts: experts, shared: shared))
        } else {
            feedForward = .dense(try binder.swiGLU(prefix + "mlp.", config.intermediateSize))
        }
        return LayerWeights(attention: attention, feedForward: feedForward)
    }
}

/// Looks tensors up by name, checks dtype and shape, and remembers which were used.
private struct WeightBinder {
    let entries: [String: TensorEntry]
    let source: String
    let blockRows: Int
    let blockColumns: Int
    let hiddenSize: Int
    let compute: ComputeDType
    var used: Set<String> = []

    init(entries: [String: TensorEntry], source: String, config: ModelConfig, compute: ComputeDType) {
        self.entries = entries
        self.source = source
        self.compute = compute
        hiddenSize = config.hiddenSize
        let block = config.quantizationConfig?.weightBlockSize ?? [128, 128]
        blockRows = block.count == 2 ? block[0] : 128
        blockColumns = block.count == 2 ? block[1] : 128
    }

    private func entry(_ name: String) throws(ModelError) -> TensorEntry {
        guard let entry = entries[name] else { throw ModelError("\(source): missing tensor \(name)") }
        return entry
    }

    /// compute: nil for the binder's mode.
    mutating func matrix(_ name: String, _ rows: Int, _ columns: Int,
                         compute: ComputeDType? = nil) throws(ModelError) -> WeightMatrix {
        let entry = try entry(name)
        guard entry.shape == [rows, columns] else {
            throw ModelError("\(entry.file): tensor \(name) has shape \(entry.shape), expected [\(rows), \(columns)]")
        }
        guard let dtype = entry.dtype else {
            throw ModelError("\(entry.file): tensor \(name) has type \(entry.dtypeName); supported: F32, BF16, F16, F8_E4M3, Q8_0")
        }
        guard columns % dtype.blockElements == 0 else {
            throw ModelError("\(entry.file): tensor \(name) is \(dtype) with rows of \(columns) elements, not a multiple of "
                + "its block of \(dtype.blockElements)")
        }
        guard entry.byteCount == rows * dtype.rowByteCount(columns: columns) else {
            throw ModelError("\(entry.file): tensor \(name) holds \(entry.byteCount) bytes, expected "
                + "\(rows * dtype.rowByteCount(columns: columns)) for [\(rows), \(columns)] \(dtype)")
        }
        used.insert(name)
        var scales: FP8BlockScales? = nil
        if dtype == .fp8E4M3 {
            let scaleName = name + "_scale_inv"
            let scale = try self.entry(scaleName)
            let expected = [(rows + blockRows - 1) / blockRows, (columns + blockColumns - 1) / blockColumns]
            guard scale.shape == expected else {
                throw ModelError("\(scale.file): tensor \(scaleName) has shape \(scale.shape), expected \(expected) "
                    + "(blocks of \(blockRows)x\(blockColumns))")
            }
            guard scale.dtype == .f32 else { throw ModelError("\(scale.file): tensor \(scaleName) must be F32 (is \(scale.dtypeName))") }
            used.insert(scaleName)
            scales = FP8BlockScales(scaleInv: scale.data.assumingMemoryBound(to: Float.self), blockRows: blockRows,
                                    blockColumns: blockColumns)
        }
        return WeightMatrix(base: entry.data, dtype: dtype, rowCount: rows, columnCount: columns, fp8Scales: scales,
                            compute: (compute ?? self.compute).forMatrix(dtype))
    }

    mutating func vector(_ name: String, _ count: Int) throws(ModelError) -> [Float] {
        let entry = try entry(name)
        guard entry.shape == [count] else {
            throw ModelError("\(entry.file): tensor \(name) has shape \(entry.shape), expected [\(count)]")
        }
        guard let dtype = entry.dtype, dtype != .fp8E4M3, !dtype.isQuantized else {
            throw ModelError("\(entry.file): tensor \(name) has dtype \(entry.dtypeName); supported: F32, BF16, F16")
        }
        used.insert(name)
        return [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            if let base = buffer.baseAddress { Kernels.toF32(base, entry.data, dtype: dtype, count: count) }
            initialized = count
        }
    }

    mutating func swiGLU(_ prefix: String, _ intermediate: Int) throws(ModelError) -> SwiGLUWeights {
        return SwiGLUWeights(gate: try matrix(prefix + "gate_proj.weight", intermediate, hiddenSize),
                             up: try matrix(prefix + "up_proj.weight", intermediate, hiddenSize),
                             down: try matrix(prefix + "down_proj.weight", hiddenSize, intermediate))
    }

    func checkAllUsed() throws(ModelError) {
        for name in entries.keys.sorted() where !used.contains(name) && !LingWeights.isIgnorable(name) {
            let file = entries[name]?.file ?? source
            throw ModelError("\(file): unexpected tensor \(name) (not part of this architecture/config)")
        }
    }
}
