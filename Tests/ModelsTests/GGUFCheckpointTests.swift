import Foundation
import Models
import Testing

/// Writes a reference checkpoint as a `bailingmoe2` GGUF the way llama.cpp's convert_hf_to_gguf.py lays it out
/// (names, merged 3-D experts, `.expert_bias` -> `exp_probs_b.bias`, MTP under `blk.L.nextn.*`, the metadata keys),
/// with the tensors' stored bytes unchanged (F32 / BF16 as in the safetensors file).
enum GGUFConversion {
    static func ggufName(_ hf: String) -> String? {
        let global = ["model.word_embeddings.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight",
                      "lm_head.weight": "output.weight"]
        if let name = global[hf] { return name }
        let parts = hf.split(separator: ".", maxSplits: 3)
        guard parts.count == 4, parts[0] == "model", parts[1] == "layers", let layer = Int(parts[2]) else { return nil }
        let map = [
            "input_layernorm.weight": "attn_norm.weight", "attention.query_key_value.weight": "attn_qkv.weight",
            "attention.query_layernorm.weight": "attn_q_norm.weight", "attention.key_layernorm.weight": "attn_k_norm.weight",
            "attention.dense.weight": "attn_output.weight", "post_attention_layernorm.weight": "ffn_norm.weight",
            "mlp.gate_proj.weight": "ffn_gate.weight", "mlp.up_proj.weight": "ffn_up.weight",
            "mlp.down_proj.weight": "ffn_down.weight", "mlp.gate.weight": "ffn_gate_inp.weight",
            "mlp.gate.expert_bias": "exp_probs_b.bias", "mlp.shared_experts.gate_proj.weight": "ffn_gate_shexp.weight",
            "mlp.shared_experts.up_proj.weight": "ffn_up_shexp.weight",
            "mlp.shared_experts.down_proj.weight": "ffn_down_shexp.weight", "eh_proj.weight": "nextn.eh_proj.weight",
            "enorm.weight": "nextn.enorm.weight", "hnorm.weight": "nextn.hnorm.weight",
            "final_layernorm.weight": "layer_output_norm.weight",
        ]
        return map[String(parts[3])].map { "blk.\(layer).\($0)" }
    }

    static func typeId(_ dtype: String) -> UInt32 { dtype == "BF16" ? 30 : dtype == "F16" ? 1 : 0 }

    static func write(fixture directory: String, to path: String) throws {
        let checkpoint = try SafetensorsCheckpoint(directory: directory)
        let configData = try Data(contentsOf: URL(fileURLWithPath: directory + "/config.json"))
        let config = try JSONSerialization.jsonObject(with: configData) as? [String: Any] ?? [:]
        func int(_ k: String) -> UInt32 { UInt32((config[k] as? NSNumber)?.intValue ?? 0) }
        func float(_ k: String) -> Float { (config[k] as? NSNumber)?.floatValue ?? 0 }
        let nextn = int("num_nextn_predict_layers")
        let headDim = int("head_dim")
        let metadata: [(String, GGUFBytes.KV)] = [
            ("general.architecture", .string("bailingmoe2")), ("general.alignment", .u32(32)),
            ("bailingmoe2.block_count", .u32(int("num_hidden_layers") + nextn)),
            ("bailingmoe2.context_length", .u32(int("max_position_embeddings"))),
            ("bailingmoe2.embedding_length", .u32(int("hidden_size"))),
            ("bailingmoe2.feed_forward_length", .u32(int("intermediate_size"))),
            ("bailingmoe2.attention.head_count", .u32(int("num_attention_heads"))),
            ("bailingmoe2.attention.head_count_kv", .u32(int("num_key_value_heads"))),
            ("bailingmoe2.attention.key_length", .u32(headDim)), ("bailingmoe2.attention.value_length", .u32(headDim)),
            ("bailingmoe2.rope.freq_base", .f32(float("rope_theta"))),
            ("bailingmoe2.attention.layer_norm_rms_epsilon", .f32(float("rms_norm_eps"))),
            ("bailingmoe2.expert_count", .u32(int("num_experts"))),
            ("bailingmoe2.expert_used_count", .u32(int("num_experts_per_tok"))),
            ("bailingmoe2.expert_group_count", .u32(int("n_group"))),
            ("bailingmoe2.expert_group_used_count", .u32(int("topk_group"))),
            ("bailingmoe2.expert_gating_func", .u32(2)),
            ("bailingmoe2.rope.dimension_count", .u32(UInt32(Float(headDim) * float("partial_rotary_factor")))),
            ("bailingmoe2.leading_dense_block_count", .u32(int("first_k_dense_replace"))),
            ("bailingmoe2.vocab_size", .u32(int("vocab_size"))),
            ("bailingmoe2.expert_feed_forward_length", .u32(int("moe_intermediate_size"))),
            ("bailingmoe2.expert_shared_feed_forward_length", .u32(int("moe_shared_expert_intermediate_size"))),
            ("bailingmoe2.expert_weights_scale", .f32(float("routed_scaling_factor"))),
            ("bailingmoe2.expert_shared_count", .u32(int("num_shared_experts"))),
            ("bailingmoe2.expert_weights_norm", .bool(true)),
            ("bailingmoe2.nextn_predict_layers", .u32(nextn)),
            ("tokenizer.ggml.eos_token_id", .u32(int("eos_token_id"))),
        ]
        var tensors: [GGUFBytes.Tensor] = []
        var experts: [String: [Int: TensorEntry]] = [:]  // "blk.N.ffn_gate_exps.weight" -> expert -> entry
        for (name, entry) in checkpoint.entries.sorted(by: { $0.key < $1.key }) {
            if let range = name.range(of: #"\.mlp\.experts\.[0-9]+\."#, options: .regularExpression) {
                let layer = name.split(separator: ".")[2]
                let expert = Int(name[range].split(separator: ".")[2]) ?? 0
                let which = name.contains("gate_proj") ? "gate" : name.contains("up_proj") ? "up" : "down"
                experts["blk.\(layer).ffn_\(which)_exps.weight", default: [:]][expert] = entry
                continue
            }
            guard let gguf = ggufName(name) else { throw ModelError("no GGUF name for \(name)") }
            tensors.append(.init(name: gguf, ne: entry.shape.reversed().map { UInt64($0) }, type: typeId(entry.dtypeName),
                                 bytes: Data(bytes: entry.data, count: entry.byteCount)))
        }
        for (name, byExpert) in experts.sorted(by: { $0.key < $1.key }) {
            var bytes = Data()
            for expert in 0..<byExpert.count {
                guard let entry = byExpert[expert] else { throw ModelError("expert \(expert) missing for \(name)") }
                bytes.append(Data(bytes: entry.data, count: entry.byteCount))
            }
            let first = byExpert[0]!
            tensors.append(.init(name: name, ne: [UInt64(first.shape[1]), UInt64(first.shape[0]), UInt64(byExpert.count)],
                                 type: typeId(first.dtypeName), bytes: bytes))
        }
        try GGUFBytes.file(metadata: metadata, tensors: tensors).write(to: URL(fileURLWithPath: path))
    }
}

@Suite("GGUF checkpoints")
struct GGUFCheckpointTests {
    @Test("a GGUF of the same weights gives the same logits bits as the safetensors checkpoint", arguments: ReferenceFixture.names)
    func sameLogits(name: String) throws {
        let fixture = try ReferenceFixture.load(name)
        let path = NSTemporaryDirectory() + "lingserve-\(name)-\(getpid()).gguf"
        try GGUFConversion.write(fixture: fixture.directory, to: path)
        defer { unlink(path) }
        let reference = try LingModel(directory: fixture.directory, threadCount: 2)
        let gguf = try LingModel(directory: path, threadCount: 2)
        #expect(gguf.config.layerCount == reference.config.layerCount)
        #expect(gguf.config.rotaryDimension == reference.config.rotaryDimension)
        #expect(gguf.hasMTP == reference.hasMTP)
        #expect(gguf.weightFormat.hasPrefix("GGUF ("), "\(gguf.weightFormat)")
        var compared = 0
        for prompt in fixture.prompts {
            let ids = ints(prompt["input_ids"])
            guard ids.count >= 2 else { continue }
            compared += 1
            let sa = try Session(model: reference), sb = try Session(model: gguf)
            let a = try sa.run(ids, all: true, hidden: true)
            let b = try sb.run(ids, all: true, hidden: true)
            #expect(a.logits == b.logits && a.hidden == b.hidden, "\(name): logits differ")
            if reference.hasMTP {
                let ma = try sa.mtp(tokens: ids, hidden: a.hidden)
                let mb = try sb.mtp(tokens: ids, hidden: b.hidden)
                #expect(ma.logits == mb.logits, "\(name): MTP logits differ")
            }
        }
        #expect(compared >= 1)
    }

    @Test("missing and wrong metadata keys are named")
    func badMetadata() throws {
        let fixture = try ReferenceFixture.load("release-bf16")
        let path = NSTemporaryDirectory() + "lingserve-meta-\(getpid()).gguf"
        try GGUFConversion.write(fixture: fixture.directory, to: path)
        defer { unlink(path) }
        let original = try Data(contentsOf: URL(fileURLWithPath: path))
        func loadError(_ data: Data) -> String {
            try? data.write(to: URL(fileURLWithPath: path))
            do { _ = try LingModel(directory: path, threadCount: 1); return "" } catch { return error.description }
        }
        // Rename a key (same length) so it is missing.
        var missing = original
        if let r = missing.range(of: Data("bailingmoe2.expert_count".utf8)) {
            missing.replaceSubrange(r, with: Data("bailingmoe2.expert_xxxxx".utf8))
        }
        #expect(loadError(missing).contains("metadata bailingmoe2.expert_count is missing"))
        try original.write(to: URL(fileURLWithPath: path))
        #expect(loadError(original) == "")
    }
}
