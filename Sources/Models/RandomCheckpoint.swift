import Foundation
import JSON

/// Random-weight Ling 2.0 checkpoints in exactly the Hugging Face layout, for loading and benchmarking real shapes
/// without downloads: config.json as Ant's converter writes it, generation_config.json, safetensors (sharded at
/// ~4 GiB with model.safetensors.index.json when larger), expert_bias in F32, one MTP layer, and a byte-level BPE
/// tokenizer with Ling's special tokens at Ling's ids. Weights are streamed to disk, never held in memory.
public struct RandomCheckpoint: Sendable {
    public enum Preset: String, CaseIterable, Sendable {
        case tiny
        case lingMini = "ling-mini-2.0"
        case lingFlash = "ling-flash-2.0"
    }

    public var preset: Preset
    public var layerCount: Int?
    public var expertCount: Int?
    /// "bf16" or "f32".
    public var dtype: String
    public var seed: UInt64
    /// Shards are cut when a file would grow past this many bytes.
    public var shardByteLimit = 4 << 30

    public init(preset: Preset, layerCount: Int? = nil, expertCount: Int? = nil, dtype: String, seed: UInt64) {
        self.preset = preset
        self.layerCount = layerCount
        self.expertCount = expertCount
        self.dtype = dtype
        self.seed = seed
    }

    /// Ling's vocabulary: 157184 slots, BPE ids 0...156890, special tokens 156891...157152, padding above.
    public static let vocabSize = 157_184

    /// The config.json object (key order as Ant's `gen_config`, sorted on write).
    public func configObject() throws(ModelError) -> JSONValue {
        var hidden = 2048, layers = 20, heads = 16, kvHeads = 4, headDim = 128, intermediate = 5120, moe = 512, experts = 256
        switch preset {
        case .tiny: (hidden, layers, heads, kvHeads, headDim, intermediate, moe, experts) = (64, 2, 4, 2, 16, 128, 32, 16)
        case .lingMini: break
        case .lingFlash: (hidden, layers, heads, kvHeads, headDim, intermediate, moe, experts) = (4096, 32, 32, 4, 128, 9216, 1024, 256)
        }
        if let layerCount {
            guard layerCount >= 1 else { throw ModelError("--layers must be >= 1") }
            layers = layerCount
        }
        if let expertCount {
            guard expertCount >= 2 else { throw ModelError("--experts must be >= 2") }
            experts = expertCount
        }
        // 8 groups of contiguous experts when possible (Ling: 8 groups, keep 4, top-8); fewer for small counts.
        var groups = 8
        while groups > 1 && (experts % groups != 0 || experts / groups < 2) { groups -= 1 }
        let keptGroups = max(1, groups / 2)
        let topK = min(8, keptGroups * (experts / groups))
        guard dtype == "bf16" || dtype == "f32" else { throw ModelError("--dtype must be bf16 or f32 (got \(dtype))") }
        return [
            "architectures": ["BailingMoeV2ForCausalLM"],
            "attention_dropout": 0.0,
            "auto_map": [
                "AutoConfig": "configuration_bailing_moe_v2.BailingMoeV2Config",
                "AutoModel": "modeling_bailing_moe_v2.BailingMoeV2Model",
                "AutoModelForCausalLM": "modeling_bailing_moe_v2.BailingMoeV2ForCausalLM",
            ],
            "eos_token_id": 156892, "pad_token_id": 156892, "bos_token_id": 156891,
            "first_k_dense_replace": 1, "hidden_act": "silu", "hidden_size": .int(hidden), "initializer_range": 0.02,
            "intermediate_size": .int(intermediate), "max_position_embeddings": 32768, "model_type": "bailing_moe",
            "moe_intermediate_size": .int(moe), "num_experts": .int(experts), "num_shared_experts": 1, "norm_topk_prob": true,
            "num_attention_heads": .int(heads), "num_experts_per_tok": .int(topK), "num_hidden_layers": .int(layers),
            "num_key_value_heads": .int(kvHeads), "rms_norm_eps": 1e-6, "rope_theta": 600000.0, "vocab_size": .int(Self.vocabSize),
            "tie_word_embeddings": false, "torch_dtype": .string(dtype == "bf16" ? "bfloat16" : "float32"),
            "use_bias": false, "use_cache": true, "use_qkv_bias": false, "use_rmsnorm": true, "head_dim": .int(headDim),
            "max_window_layers": .int(layers), "embedding_dropout": 0.0, "output_dropout": 0.0, "output_router_logits": false,
            "partial_rotary_factor": 0.5, "rope_scaling": nil, "use_qk_norm": true, "n_group": .int(groups),
            "topk_group": .int(keptGroups), "routed_scaling_factor": 2.5, "score_function": "sigmoid",
            "moe_router_enable_expert_bias": true, "router_dtype": "fp32", "moe_shared_expert_intermediate_size": .int(moe),
            "num_nextn_predict_layers": 1, "mtp_loss_scaling_factor": 0, "transformers_version": "4.52.3",
        ]
    }

    /// The layout of the JSON files written: indented, keys sorted (as `json.dump(..., indent=2, sort_keys=True)`).
    static let fileFormat = PythonDumpsOptions(indent: "  ", sortKeys: true)

    /// Writes the checkpoint into `directory` (created if needed). `progress(bytesWritten, totalBytes)`.
    public func write(to directory: String, progress: (Int, Int) -> Void = { _, _ in }) throws(ModelError) {
        let configData = Data(try configObject().pythonDumps(Self.fileFormat).utf8)
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            try configData.write(to: URL(fileURLWithPath: directory + "/config.json"))
            let generation: JSONValue = ["bos_token_id": 156891, "eos_token_id": [156892, 156895], "pad_token_id": 156892,
                                         "transformers_version": "4.52.3"]
            try Data(generation.pythonDumps(Self.fileFormat).utf8)
                .write(to: URL(fileURLWithPath: directory + "/generation_config.json"))
        } catch { throw ModelError("\(directory): cannot write: \(error.localizedDescription)") }
        let config = try ModelConfig.decode(configData, path: directory + "/config.json")
        try writeWeights(config: config, directory: directory, progress: progress)
        try RandomTokenizer.write(to: directory)
    }

    /// Every tensor in HF order, with its init: (tensor, kind).
    func tensors(config: ModelConfig) -> [(SafetensorsWriter.Tensor, TensorInit)] {
        let weightType = dtype == "bf16" ? "BF16" : "F32"
        let h = config.hiddenSize
        var list: [(SafetensorsWriter.Tensor, TensorInit)] = []
        func add(_ name: String, _ shape: [Int], _ kind: TensorInit, dtype: String? = nil) {
            list.append((SafetensorsWriter.Tensor(name: name, dtype: dtype ?? weightType, shape: shape), kind))
        }
        func swiGLU(_ prefix: String, _ width: Int) {
            add(prefix + "gate_proj.weight", [width, h], .normal)
            add(prefix + "up_proj.weight", [width, h], .normal)
            add(prefix + "down_proj.weight", [h, width], .normal)
        }
        add("model.word_embeddings.weight", [config.vocabSize, h], .normal)
        for layer in 0...config.layerCount {
            let p = "model.layers.\(layer)."
            let isMTP = layer == config.layerCount
            if isMTP {
                add(p + "enorm.weight", [h], .ones)
                add(p + "hnorm.weight", [h], .ones)
                add(p + "eh_proj.weight", [h, 2 * h], .normal)
                add(p + "final_layernorm.weight", [h], .ones)
            }
            add(p + "input_layernorm.weight", [h], .ones)
            add(p + "attention.query_key_value.weight", [config.qkvSize, h], .normal)
            add(p + "attention.query_layernorm.weight", [config.headSize], .ones)
            add(p + "attention.key_layernorm.weight", [config.headSize], .ones)
            add(p + "attention.dense.weight", [h, config.headCount * config.headSize], .normal)
            add(p + "post_attention_layernorm.weight", [h], .ones)
            if layer < config.firstDenseLayerCount && !isMTP {
                swiGLU(p + "mlp.", config.intermediateSize)
            } else {
                add(p + "mlp.gate.weight", [config.expertCount, h], .normal)
                add(p + "mlp.gate.expert_bias", [config.expertCount], .bias, dtype: "F32")
                for e in 0..<config.expertCount { swiGLU(p + "mlp.experts.\(e).", config.moeIntermediateSize) }
                swiGLU(p + "mlp.shared_experts.", config.sharedExpertIntermediateSize)
            }
        }
        add("model.norm.weight", [h], .ones)
        add("lm_head.weight", [config.vocabSize, h], .normal)
        return list
    }

    enum TensorInit { case normal, ones, bias }

    private func writeWeights(config: ModelConfig, directory: String, progress: (Int, Int) -> Void) throws(ModelError) {
        let all = tensors(config: config)
        var shards: [[Int]] = [[]]
        var shardBytes = 0
        for (index, entry) in all.enumerated() {
            if shardBytes > 0 && shardBytes + entry.0.byteCount > shardByteLimit {
                shards.append([])
                shardBytes = 0
            }
            shards[shards.count - 1].append(index)
            shardBytes += entry.0.byteCount
        }
        let total = all.reduce(0) { $0 + $1.0.byteCount }
        var written = 0
        var weightMap: [String: String] = [:]
        for (s, members) in shards.enumerated() {
            let file = shards.count == 1 ? "model.safetensors" : String(format: "model-%05d-of-%05d.safetensors", s + 1, shards.count)
            try SafetensorsWriter.write(path: directory + "/" + file, tensors: members.map { all[$0].0 }) { i, sink throws(ModelError) in
                let index = members[i]
                let (tensor, kind) = all[index]
                try fill(tensor, kind: kind, stream: UInt64(index), sink: sink)
                written += tensor.byteCount
                progress(written, total)
                weightMap[tensor.name] = file
            }
        }
        if shards.count > 1 {
            let index: JSONValue = [
                "metadata": ["total_size": .int(total)],
                "weight_map": .object(JSONObject(weightMap.map { ($0.key, .string($0.value)) })),
            ]
            do {
                try Data(index.pythonDumps(Self.fileFormat).utf8)
                    .write(to: URL(fileURLWithPath: directory + "/model.safetensors.index.json"))
            } catch { throw ModelError("\(directory): cannot write the index: \(error.localizedDescription)") }
        }
    }

    /// Streams one tensor: uniform in [-a, a] with a = 0.02 * sqrt(3) (std 0.02), ones, or a small expert bias.
    private func fill(_ tensor: SafetensorsWriter.Tensor, kind: TensorInit, stream: UInt64, sink: SafetensorsWriter.Sink) throws(ModelError) {
        var state = (seed &+ 1) &* 0x9E37_79B9_7F4A_7C15 ^ (stream &+ 1) &* 0xD1B5_4A32_D192_ED03
        if state == 0 { state = 0x2545_F491_4F6C_DD1D }
        let count = tensor.shape.reduce(1, *)
        let chunk = 1 << 20
        let amplitude: Float = kind == .bias ? 0.05 : 0.02 * Float(3).squareRoot()
        var floats = [Float](repeating: 0, count: min(chunk, count))
        var halves = [UInt16](repeating: 0, count: tensor.dtype == "BF16" ? min(chunk, count) : 0)
        var done = 0
        while done < count {
            let n = min(chunk, count - done)
            if kind == .ones {
                for i in 0..<n { floats[i] = 1 }
            } else {
                var i = 0
                while i < n {
                    state ^= state << 13
                    state ^= state >> 7
                    state ^= state << 17
                    // Two uniforms from one 64-bit draw: 24 bits each -> [-1, 1).
                    floats[i] = (Float(state >> 40) * (2 / 16_777_216) - 1) * amplitude
                    if i + 1 < n { floats[i + 1] = (Float((state >> 8) & 0xFF_FFFF) * (2 / 16_777_216) - 1) * amplitude }
                    i += 2
                }
            }
            if tensor.dtype == "BF16" {
                for i in 0..<n {
                    let bits = floats[i].bitPattern
                    halves[i] = UInt16(truncatingIfNeeded: (bits &+ 0x7FFF &+ ((bits >> 16) & 1)) >> 16)
                }
                try sink.write(n == halves.count ? halves : Array(halves.prefix(n)))
            } else {
                try sink.write(n == floats.count ? floats : Array(floats.prefix(n)))
            }
            done += n
        }
    }
}
