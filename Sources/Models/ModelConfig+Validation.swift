extension ModelConfig {
    /// Checks every field the forward pass reads; the message names the field at fault.
    public func validate(path: String = "config.json") throws(ModelError) {
        func fail(_ field: String, _ message: String) -> ModelError { ModelError("\(path): field \"\(field)\" \(message)") }
        guard let architecture = architectures.first else { throw fail("architectures", "is empty") }
        guard Self.supportedArchitectures.contains(architecture) else {
            throw fail("architectures", "is \"\(architecture)\"; supported: \(Self.supportedArchitectures.joined(separator: ", "))")
        }
        let positive: [(String, Int)] = [
            ("hidden_size", hiddenSize), ("num_hidden_layers", layerCount), ("num_attention_heads", headCount),
            ("num_key_value_heads", kvHeadCount), ("vocab_size", vocabSize), ("num_experts", expertCount),
            ("num_experts_per_tok", expertsPerToken), ("n_group", groupCount), ("topk_group", keptGroupCount),
            ("moe_intermediate_size", moeIntermediateSize), ("max_position_embeddings", maxPositionEmbeddings),
            ("head_dim", headSize),
        ]
        for (field, value) in positive where value <= 0 { throw fail(field, "must be > 0 (got \(value))") }
        // NOTE: upper bounds keep every product the loader and the forward pass form from these numbers (vocab x
        // hidden, experts x intermediate x hidden, heads x head size, ...) far below Int.max, so a hostile
        // config.json is an error here and never an overflow trap later. Published configs are far below them.
        let bounded: [(String, Int, Int)] = [
            ("hidden_size", hiddenSize, 1 << 16), ("num_hidden_layers", layerCount, 1 << 12),
            ("num_attention_heads", headCount, 1 << 12), ("num_key_value_heads", kvHeadCount, 1 << 12),
            ("head_dim", headSize, 1 << 14), ("vocab_size", vocabSize, 1 << 24), ("num_experts", expertCount, 1 << 14),
            ("moe_intermediate_size", moeIntermediateSize, 1 << 18), ("intermediate_size", intermediateSize, 1 << 18),
            ("num_shared_experts", sharedExpertCount, 1 << 8), ("max_position_embeddings", maxPositionEmbeddings, 1 << 30),
            ("rotary_dim", rotaryDim ?? 0, 1 << 14),
        ]
        for (field, value, limit) in bounded where value > limit {
            throw fail(field, "is \(value); more than \(limit) is not supported")
        }
        guard sharedExpertCount >= 0 else { throw fail("num_shared_experts", "must be >= 0") }
        guard firstDenseLayerCount >= 0 && firstDenseLayerCount <= layerCount else {
            throw fail("first_k_dense_replace", "must be in 0...num_hidden_layers (got \(firstDenseLayerCount))")
        }
        if firstDenseLayerCount > 0 && intermediateSize <= 0 { throw fail("intermediate_size", "must be > 0") }
        guard headCount % kvHeadCount == 0 else {
            throw fail("num_key_value_heads", "must divide num_attention_heads (\(kvHeadCount) vs \(headCount))")
        }
        guard expertCount % groupCount == 0 else {
            throw fail("n_group", "must divide num_experts (\(groupCount) vs \(expertCount))")
        }
        guard groupCount <= 64 else { throw fail("n_group", "must be <= 64 (got \(groupCount))") }
        guard keptGroupCount <= groupCount else { throw fail("topk_group", "must be <= n_group") }
        guard expertCount / groupCount >= 2 else { throw fail("n_group", "groups need at least 2 experts (top-2 group score)") }
        guard expertsPerToken <= keptGroupCount * (expertCount / groupCount) else {
            throw fail("num_experts_per_tok", "exceeds the experts in topk_group groups")
        }
        if let moeSharedExpertIntermediateSize, moeSharedExpertIntermediateSize < 0 || moeSharedExpertIntermediateSize > 1 << 20 {
            throw fail("moe_shared_expert_intermediate_size", "must be in 0...\(1 << 20)")
        }
        guard routedScalingFactor.isFinite else { throw fail("routed_scaling_factor", "must be finite") }
        if let scoreFunction, scoreFunction != "sigmoid" { throw fail("score_function", "\"\(scoreFunction)\" unsupported (sigmoid only)") }
        if expertBiasEnabled == false { throw fail("moe_router_enable_expert_bias", "false is unsupported (Ling 2.0 routers carry expert_bias)") }
        if useQKNorm == false { throw fail("use_qk_norm", "false is unsupported (Ling 2.0 uses QK-RMSNorm)") }
        if useRMSNorm == false { throw fail("use_rmsnorm", "false (LayerNorm QK-norm) is unsupported") }
        if useQKVBias == true { throw fail("use_qkv_bias", "true is unsupported (no Ling 2.0 checkpoint has biases)") }
        if useBias == true { throw fail("use_bias", "true is unsupported (no Ling 2.0 checkpoint has biases)") }
        if let hiddenAct, hiddenAct != "silu" { throw fail("hidden_act", "\"\(hiddenAct)\" unsupported (silu only)") }
        if tieWordEmbeddings == true { throw fail("tie_word_embeddings", "true is unsupported (Ling 2.0 has an untied lm_head)") }
        if let partialRotaryFactor, !(partialRotaryFactor > 0 && partialRotaryFactor <= 1) {
            throw fail("partial_rotary_factor", "must be in (0, 1] (got \(partialRotaryFactor))")
        }
        let rotary = rotaryDimension
        guard rotary > 0, rotary <= headSize, rotary % 2 == 0 else {
            throw fail(partialRotaryFactor != nil ? "partial_rotary_factor" : "rotary_dim",
                       "gives \(rotary) rotary channels; need an even number in 2...head_dim (\(headSize))")
        }
        guard ropeTheta > 0, ropeTheta.isFinite else { throw fail("rope_theta", "must be > 0") }
        guard rmsNormEps > 0, rmsNormEps.isFinite else { throw fail("rms_norm_eps", "must be > 0") }
        if let nextnLayerCount, nextnLayerCount < 0 || nextnLayerCount > 1 {
            throw fail("num_nextn_predict_layers", "must be 0 or 1 (got \(nextnLayerCount))")
        }
        if let ropeScaling {
            switch ropeScaling.kind {
            case "default": break
            case "yarn":
                guard let factor = ropeScaling.factor, factor >= 1 else { throw fail("rope_scaling.factor", "must be >= 1 for yarn") }
                if let original = ropeScaling.originalMaxPositionEmbeddings, original <= 0 || original > 1 << 30 {
                    throw fail("rope_scaling.original_max_position_embeddings", "must be > 0")
                }
            default: throw fail("rope_scaling.type", "\"\(ropeScaling.kind)\" unsupported (default or yarn)")
            }
        }
        if let name = weightDTypeName, !["float32", "bfloat16", "float16", "float8_e4m3fn"].contains(name) {
            throw fail(dtype != nil ? "dtype" : "torch_dtype", "\"\(name)\" unsupported")
        }
        if let quantizationConfig {
            if let method = quantizationConfig.quantMethod, method != "fp8" {
                throw fail("quantization_config.quant_method", "\"\(method)\" unsupported (fp8 only)")
            }
            if let block = quantizationConfig.weightBlockSize,
                block.count != 2 || !block.allSatisfy({ $0 > 0 && $0 <= 1 << 16 }) {
                throw fail("quantization_config.weight_block_size", "must be two integers in 1...\(1 << 16)")
            }
        }
    }
}
