import Foundation
import Tensors

/// A `bailingmoe2` GGUF model (one file, or the first of a split set `NAME-00001-of-0000N.gguf`) seen as a Ling 2.0
/// checkpoint: its metadata mapped onto `ModelConfig`, its tensors renamed to the Hugging Face names `LingWeights`
/// binds, the merged 3-D expert tensors `blk.N.ffn_{gate,up,down}_exps` [E, rows, columns] sliced per expert in
/// place (no copies). Names and layouts are those of llama.cpp's convert_hf_to_gguf.py (`BailingMoeV2Model`).
public final class GGUFCheckpoint: @unchecked Sendable {
    public let path: String
    public let files: [GGUFFile]
    public let config: ModelConfig
    /// Tensors under their Hugging Face names (what `LingWeights` binds).
    public let entries: [String: TensorEntry]
    /// The storage types present, with their tensor counts ("Q8_0: 120, F32: 41").
    public let typeSummary: String

    public static func isGGUFPath(_ path: String) -> Bool { path.lowercased().hasSuffix(".gguf") }

    public init(path: String) throws(ModelError) {
        self.path = path
        let first = try GGUFFile(path: path)
        var files = [first]
        let splitCount = first.metadata["split.count"]?.int ?? 1
        if splitCount > 1 {
            guard first.metadata["split.no"]?.int == 0 else {
                throw ModelError("\(path): metadata split.no is \(first.metadata["split.no"].map { "\($0)" } ?? "missing"); "
                    + "pass the first file of the split set (-00001-of-\(String(format: "%05d", splitCount)).gguf)")
            }
            let suffix = String(format: "-00001-of-%05d.gguf", splitCount)
            guard path.hasSuffix(suffix) else {
                throw ModelError("\(path): metadata split.count is \(splitCount) but the name does not end in \(suffix)")
            }
            let stem = path.dropLast(suffix.count)
            for index in 2...splitCount {
                let part = try GGUFFile(path: stem + String(format: "-%05d-of-%05d.gguf", index, splitCount))
                guard part.metadata["split.no"]?.int == index - 1 else {
                    throw ModelError("\(part.path): metadata split.no must be \(index - 1)")
                }
                files.append(part)
            }
        }
        self.files = files
        config = try ModelConfig(gguf: first)
        var raw: [String: GGUFTensor] = [:]
        for file in files {
            for (name, tensor) in file.tensors {
                if let other = raw[name] { throw ModelError("tensor \(name) appears in both \(other.file) and \(file.path)") }
                raw[name] = tensor
            }
        }
        if let expected = first.metadata["split.tensors.count"]?.int, expected != raw.count {
            throw ModelError("\(path): metadata split.tensors.count is \(expected) but the files hold \(raw.count) tensors")
        }
        var counts: [String: Int] = [:]
        for tensor in raw.values { counts[tensor.type.description, default: 0] += 1 }
        typeSummary = counts.sorted { $0.value > $1.value || ($0.value == $1.value && $0.key < $1.key) }
            .map { "\($0.key): \($0.value)" }.joined(separator: ", ")
        entries = try Self.huggingFaceEntries(raw, config: config)
    }

    /// The llama.cpp weight type most tensors use ("Q8_0"), for logs and /v1/models.
    public var dominantType: String { typeSummary.split(separator: ":").first.map(String.init) ?? "?" }

    /// GGUF -> Hugging Face names of the tensors outside the layers, and (after `blk.N.`) of a layer's tensors; the
    /// routed experts are merged and handled apart. `GGUFExport` writes with the inverse of these tables.
    static let globalNames: [String: String] = [
        "token_embd.weight": "model.word_embeddings.weight", "output_norm.weight": "model.norm.weight",
        "output.weight": "lm_head.weight",
    ]
    static let layerNames: [String: String] = [
        "attn_norm.weight": "input_layernorm.weight", "attn_qkv.weight": "attention.query_key_value.weight",
        "attn_q_norm.weight": "attention.query_layernorm.weight", "attn_k_norm.weight": "attention.key_layernorm.weight",
        "attn_output.weight": "attention.dense.weight", "ffn_norm.weight": "post_attention_layernorm.weight",
        "ffn_gate.weight": "mlp.gate_proj.weight", "ffn_up.weight": "mlp.up_proj.weight",
        "ffn_down.weight": "mlp.down_proj.weight", "ffn_gate_inp.weight": "mlp.gate.weight",
        "exp_probs_b.bias": "mlp.gate.expert_bias", "ffn_gate_shexp.weight": "mlp.shared_experts.gate_proj.weight",
        "ffn_up_shexp.weight": "mlp.shared_experts.up_proj.weight",
        "ffn_down_shexp.weight": "mlp.shared_experts.down_proj.weight",
        "nextn.eh_proj.weight": "eh_proj.weight", "nextn.enorm.weight": "enorm.weight",
        "nextn.hnorm.weight": "hnorm.weight", "nextn.shared_head_norm.weight": "final_layernorm.weight",
        // What llama.cpp's converter actually names the MTP layer's final_layernorm (LAYER_OUT_NORM).
        "layer_output_norm.weight": "final_layernorm.weight",
    ]

    static func hfName(_ name: String, layerCount: Int) -> String? {
        if let mapped = globalNames[name] { return mapped }
        let parts = name.split(separator: ".", maxSplits: 2)
        guard parts.count == 3, parts[0] == "blk", let layer = Int(parts[1]) else { return nil }
        return layerNames[String(parts[2])].map { "model.layers.\(layer)." + $0 }
    }

    static func huggingFaceEntries(_ raw: [String: GGUFTensor], config: ModelConfig) throws(ModelError) -> [String: TensorEntry] {
        var entries: [String: TensorEntry] = [:]
        func add(_ hf: String, _ t: GGUFTensor, shape: [Int], data: UnsafeRawPointer, bytes: Int) {
            entries[hf] = TensorEntry(name: hf, dtypeName: t.type.description, dtype: weightDType(t.type), shape: shape,
                                      data: data, byteCount: bytes, file: t.file + " (" + t.name + ")")
        }
        for (name, tensor) in raw.sorted(by: { $0.key < $1.key }) {
            // The MTP layer's copies of the embedding and lm_head (when a converter writes them) are not used.
            if name.hasSuffix(".nextn.embed_tokens.weight") || name.hasSuffix(".nextn.shared_head_head.weight") { continue }
            if let range = name.range(of: #"^blk\.[0-9]+\.ffn_(gate|up|down)_exps\.weight$"#, options: .regularExpression),
               range.lowerBound == name.startIndex {
                let parts = name.split(separator: ".")
                let layer = parts[1]
                let which = parts[2].dropFirst(4).dropLast(5)  // gate / up / down
                guard tensor.shape.count == 3, tensor.shape[0] > 0 else {
                    throw ModelError("\(tensor.file): tensor \(name) has shape \(tensor.shape), expected [experts, rows, columns]")
                }
                let perExpert = tensor.byteCount / tensor.shape[0]
                for expert in 0..<tensor.shape[0] {
                    add("model.layers.\(layer).mlp.experts.\(expert).\(which)_proj.weight", tensor,
                        shape: [tensor.shape[1], tensor.shape[2]], data: tensor.data + expert * perExpert, bytes: perExpert)
                }
                continue
            }
            guard let hf = hfName(name, layerCount: config.layerCount) else {
                throw ModelError("\(tensor.file): unexpected tensor \(name) (not part of bailingmoe2)")
            }
            add(hf, tensor, shape: tensor.shape, data: tensor.data, bytes: tensor.byteCount)
        }
        return entries
    }

    static func weightDType(_ type: GGUFTensorType) -> WeightDType? {
        switch type {
        case .f32: .f32
        case .f16: .f16
        case .bf16: .bf16
        case .q8_0: .q8_0
        default: nil
        }
    }

    /// Total bytes of all mapped files.
    public var byteCount: Int { files.reduce(0) { $0 + $1.mapping.byteCount } }
}

extension ModelConfig {
    /// The `bailingmoe2.*` metadata of a GGUF file (as llama.cpp's converter writes it) as a config, validated;
    /// messages name the metadata key.
    public init(gguf file: GGUFFile) throws(ModelError) {
        let path = file.path
        guard let architecture = file.metadata["general.architecture"]?.string else {
            throw ModelError("\(path): metadata general.architecture is missing")
        }
        guard architecture == "bailingmoe2" else {
            throw ModelError("\(path): metadata general.architecture is \"\(architecture)\"; supported: bailingmoe2")
        }
        func key(_ name: String) -> String { "bailingmoe2." + name }
        func int(_ name: String) throws(ModelError) -> Int {
            guard let value = file.metadata[key(name)] else { throw ModelError("\(path): metadata \(key(name)) is missing") }
            guard let v = value.int else { throw ModelError("\(path): metadata \(key(name)) must be an integer (got \(value))") }
            return v
        }
        func optionalInt(_ name: String) throws(ModelError) -> Int? {
            file.metadata[key(name)] == nil ? nil : try int(name)
        }
        func double(_ name: String) throws(ModelError) -> Double {
            guard let value = file.metadata[key(name)] else { throw ModelError("\(path): metadata \(key(name)) is missing") }
            guard let v = value.double else { throw ModelError("\(path): metadata \(key(name)) must be a number (got \(value))") }
            return v
        }
        let nextn = try optionalInt("nextn_predict_layers") ?? 0
        let blockCount = try int("block_count")
        let headCount = try int("attention.head_count")
        let hidden = try int("embedding_length")
        let headDim = try optionalInt("attention.key_length") ?? (headCount > 0 ? hidden / headCount : 0)
        if let valueLength = try optionalInt("attention.value_length"), valueLength != headDim {
            throw ModelError("\(path): metadata \(key("attention.value_length")) (\(valueLength)) must equal attention.key_length (\(headDim))")
        }
        let expertCount = try int("expert_count")
        let sharedCount = try optionalInt("expert_shared_count") ?? 0
        let moeWidth = try int("expert_feed_forward_length")
        if let sharedWidth = try optionalInt("expert_shared_feed_forward_length"), sharedCount > 0, sharedWidth != moeWidth * sharedCount {
            throw ModelError("\(path): metadata \(key("expert_shared_feed_forward_length")) is \(sharedWidth); "
                + "expected expert_feed_forward_length x expert_shared_count = \(moeWidth * sharedCount)")
        }
        if let gating = try optionalInt("expert_gating_func"), gating != 2 {
            throw ModelError("\(path): metadata \(key("expert_gating_func")) is \(gating); only 2 (sigmoid) is supported")
        }
        if let norm = file.metadata[key("expert_weights_norm")], norm.bool == false {
            throw ModelError("\(path): metadata \(key("expert_weights_norm")) false is unsupported (Ling 2.0 renormalizes)")
        }
        var scaling: RopeScaling? = nil
        if let type = file.metadata[key("rope.scaling.type")]?.string, type != "none" {
            guard type == "yarn" else {
                throw ModelError("\(path): metadata \(key("rope.scaling.type")) \"\(type)\" unsupported (none or yarn)")
            }
            scaling = RopeScaling(type: "yarn", factor: try double("rope.scaling.factor"),
                                  originalMaxPositionEmbeddings: try optionalInt("rope.scaling.original_context_length"))
        }
        let vocabSize = try optionalInt("vocab_size") ?? file.metadata["tokenizer.ggml.tokens"]?.array?.count ?? 0
        self.init(
            architectures: ["BailingMoeV2ForCausalLM"], modelType: "bailing_moe", hiddenSize: hidden,
            layerCount: blockCount - nextn, intermediateSize: try int("feed_forward_length"),
            moeIntermediateSize: moeWidth, moeSharedExpertIntermediateSize: try optionalInt("expert_shared_feed_forward_length"),
            headCount: headCount, kvHeadCount: try int("attention.head_count_kv"), headDim: headDim,
            vocabSize: vocabSize, expertCount: expertCount, expertsPerToken: try int("expert_used_count"),
            sharedExpertCount: sharedCount, firstDenseLayerCount: try int("leading_dense_block_count"),
            groupCount: try optionalInt("expert_group_count") ?? 1, keptGroupCount: try optionalInt("expert_group_used_count") ?? 1,
            routedScalingFactor: try double("expert_weights_scale"), scoreFunction: "sigmoid", expertBiasEnabled: true,
            useQKNorm: true, useRMSNorm: true, useQKVBias: false, useBias: false, partialRotaryFactor: nil,
            rotaryDim: try int("rope.dimension_count"), ropeTheta: try double("rope.freq_base"), ropeScaling: scaling,
            maxPositionEmbeddings: try int("context_length"), rmsNormEps: try double("attention.layer_norm_rms_epsilon"),
            hiddenAct: "silu", tieWordEmbeddings: false, nextnLayerCount: nextn, dtype: nil, torchDtype: nil,
            eosTokenId: file.metadata["tokenizer.ggml.eos_token_id"]?.int,
            bosTokenId: file.metadata["tokenizer.ggml.bos_token_id"]?.int,
            padTokenId: file.metadata["tokenizer.ggml.padding_token_id"]?.int, quantizationConfig: nil)
        guard blockCount > nextn, nextn >= 0 else {
            throw ModelError("\(path): metadata \(key("block_count")) (\(blockCount)) must exceed nextn_predict_layers (\(nextn))")
        }
        do { try validate(path: path) } catch {
            throw ModelError(Self.ggufKeyNames(error.description))
        }
    }

    /// Rewrites the config.json field names in a validation message to the GGUF metadata keys they came from.
    static func ggufKeyNames(_ message: String) -> String {
        let names: [(String, String)] = [
            ("hidden_size", "embedding_length"), ("num_hidden_layers", "block_count"),
            ("num_attention_heads", "attention.head_count"), ("num_key_value_heads", "attention.head_count_kv"),
            ("vocab_size", "vocab_size"), ("num_experts_per_tok", "expert_used_count"), ("num_experts", "expert_count"),
            ("n_group", "expert_group_count"), ("topk_group", "expert_group_used_count"),
            ("moe_intermediate_size", "expert_feed_forward_length"), ("max_position_embeddings", "context_length"),
            ("head_dim", "attention.key_length"), ("num_shared_experts", "expert_shared_count"),
            ("first_k_dense_replace", "leading_dense_block_count"), ("intermediate_size", "feed_forward_length"),
            ("routed_scaling_factor", "expert_weights_scale"), ("rotary_dim", "rope.dimension_count"),
            ("rope_theta", "rope.freq_base"), ("rms_norm_eps", "attention.layer_norm_rms_epsilon"),
            ("num_nextn_predict_layers", "nextn_predict_layers"), ("rope_scaling.factor", "rope.scaling.factor"),
        ]
        for (json, gguf) in names where message.contains("field \"\(json)\"") {
            return message.replacingOccurrences(of: "field \"\(json)\"", with: "metadata bailingmoe2.\(gguf)")
        }
        return message
    }
}
