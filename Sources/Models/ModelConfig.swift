import Foundation
import JSON

/// `config.json` of a Ling 2.0 checkpoint (`BailingMoeV2ForCausalLM`). Hugging Face names are mapped once, here.
/// `validate()` checks every field the forward pass uses; `load(directory:)` decodes and validates.
public struct ModelConfig: Codable, Sendable, Equatable {
    public var architectures: [String]
    public var modelType: String?
    public var hiddenSize: Int
    public var layerCount: Int
    public var intermediateSize: Int
    public var moeIntermediateSize: Int
    public var moeSharedExpertIntermediateSize: Int?
    public var headCount: Int
    public var kvHeadCount: Int
    public var headDim: Int?
    public var vocabSize: Int
    public var expertCount: Int
    public var expertsPerToken: Int
    public var sharedExpertCount: Int
    public var firstDenseLayerCount: Int
    public var groupCount: Int
    public var keptGroupCount: Int
    public var routedScalingFactor: Double
    public var scoreFunction: String?
    public var expertBiasEnabled: Bool?
    public var useQKNorm: Bool?
    public var useRMSNorm: Bool?
    public var useQKVBias: Bool?
    public var useBias: Bool?
    public var partialRotaryFactor: Double?
    public var rotaryDim: Int?
    public var ropeTheta: Double
    public var ropeScaling: RopeScaling?
    public var maxPositionEmbeddings: Int
    public var rmsNormEps: Double
    public var hiddenAct: String?
    public var tieWordEmbeddings: Bool?
    public var nextnLayerCount: Int?
    public var dtype: String?
    public var torchDtype: String?
    public var eosTokenId: Int?
    public var bosTokenId: Int?
    public var padTokenId: Int?
    public var quantizationConfig: QuantizationConfig?

    enum CodingKeys: String, CodingKey {
        case architectures
        case modelType = "model_type"
        case hiddenSize = "hidden_size"
        case layerCount = "num_hidden_layers"
        case intermediateSize = "intermediate_size"
        case moeIntermediateSize = "moe_intermediate_size"
        case moeSharedExpertIntermediateSize = "moe_shared_expert_intermediate_size"
        case headCount = "num_attention_heads"
        case kvHeadCount = "num_key_value_heads"
        case headDim = "head_dim"
        case vocabSize = "vocab_size"
        case expertCount = "num_experts"
        case expertsPerToken = "num_experts_per_tok"
        case sharedExpertCount = "num_shared_experts"
        case firstDenseLayerCount = "first_k_dense_replace"
        case groupCount = "n_group"
        case keptGroupCount = "topk_group"
        case routedScalingFactor = "routed_scaling_factor"
        case scoreFunction = "score_function"
        case expertBiasEnabled = "moe_router_enable_expert_bias"
        case useQKNorm = "use_qk_norm"
        case useRMSNorm = "use_rmsnorm"
        case useQKVBias = "use_qkv_bias"
        case useBias = "use_bias"
        case partialRotaryFactor = "partial_rotary_factor"
        case rotaryDim = "rotary_dim"
        case ropeTheta = "rope_theta"
        case ropeScaling = "rope_scaling"
        case maxPositionEmbeddings = "max_position_embeddings"
        case rmsNormEps = "rms_norm_eps"
        case hiddenAct = "hidden_act"
        case tieWordEmbeddings = "tie_word_embeddings"
        case nextnLayerCount = "num_nextn_predict_layers"
        case dtype
        case torchDtype = "torch_dtype"
        case eosTokenId = "eos_token_id"
        case bosTokenId = "bos_token_id"
        case padTokenId = "pad_token_id"
        case quantizationConfig = "quantization_config"
    }

    /// `rope_scaling`: null, {"type"|"rope_type": "default"} or YaRN.
    public struct RopeScaling: Codable, Sendable, Equatable {
        public var type: String?
        public var ropeType: String?
        public var factor: Double?
        public var originalMaxPositionEmbeddings: Int?
        public var betaFast: Double?
        public var betaSlow: Double?
        public var attentionFactor: Double?

        enum CodingKeys: String, CodingKey {
            case type
            case ropeType = "rope_type"
            case factor
            case originalMaxPositionEmbeddings = "original_max_position_embeddings"
            case betaFast = "beta_fast"
            case betaSlow = "beta_slow"
            case attentionFactor = "attention_factor"
        }

        public init(type: String?, factor: Double?, originalMaxPositionEmbeddings: Int?) {
            self.type = type
            self.factor = factor
            self.originalMaxPositionEmbeddings = originalMaxPositionEmbeddings
        }

        public var kind: String { (ropeType ?? type ?? "default").lowercased() }
    }

    /// `quantization_config` of FP8 releases.
    public struct QuantizationConfig: Codable, Sendable, Equatable {
        public var quantMethod: String?
        public var fmt: String?
        public var weightBlockSize: [Int]?

        enum CodingKeys: String, CodingKey {
            case quantMethod = "quant_method"
            case fmt
            case weightBlockSize = "weight_block_size"
        }

        public init(quantMethod: String?, fmt: String?, weightBlockSize: [Int]?) {
            self.quantMethod = quantMethod
            self.fmt = fmt
            self.weightBlockSize = weightBlockSize
        }
    }

    // ---- derived values used by the forward pass

    /// Per-head size (explicit `head_dim`, else hidden_size / num_attention_heads).
    public var headSize: Int { headDim ?? (headCount > 0 ? hiddenSize / headCount : 0) }
    /// Rotated channels at the start of each head: `rotary_dim`, else int(head_dim * partial_rotary_factor).
    /// A config with neither rotates the whole head (HF default factor 1.0).
    public var rotaryDimension: Int {
        if let partialRotaryFactor { return Int(Double(headSize) * partialRotaryFactor) }
        if let rotaryDim { return rotaryDim }
        return headSize
    }
    /// Shared-expert width. NOTE: the reference (HF remote code) uses moe_intermediate_size * num_shared_experts and
    /// ignores moe_shared_expert_intermediate_size (vLLM multiplies the latter instead); the two agree in every
    /// published config. A checkpoint whose tensors follow the other convention fails shape validation by name.
    public var sharedExpertIntermediateSize: Int { moeIntermediateSize * sharedExpertCount }
    /// Whether an MTP layer is present at index num_hidden_layers.
    public var hasMTPLayer: Bool { (nextnLayerCount ?? 0) > 0 }
    /// `dtype`, or the older `torch_dtype`.
    public var weightDTypeName: String? { dtype ?? torchDtype }
    /// Query heads per KV head.
    public var queryGroupSize: Int { headCount / max(kvHeadCount, 1) }
    /// Rows of the fused QKV projection.
    public var qkvSize: Int { (headCount + 2 * kvHeadCount) * headSize }

    public static let supportedArchitectures = ["BailingMoeV2ForCausalLM"]

    /// Decodes and validates `DIR/config.json`.
    public static func load(directory: String) throws(ModelError) -> ModelConfig {
        let path = directory + "/config.json"
        guard let data = FileManager.default.contents(atPath: path) else { throw ModelError("\(path): cannot read file") }
        return try decode(data, path: path)
    }

    /// Decodes and validates config JSON; `path` is only used in messages.
    public static func decode(_ data: Data, path: String = "config.json") throws(ModelError) -> ModelConfig {
        let config: ModelConfig
        do {
            config = try JSONValueDecoder().decode(ModelConfig.self, from: [UInt8](data))
        } catch let DecodingError.keyNotFound(key, _) {
            throw ModelError("\(path): missing field \"\(key.stringValue)\"")
        } catch let DecodingError.typeMismatch(_, context) {
            throw ModelError("\(path): field \"\(fieldPath(context))\" has the wrong type: \(context.debugDescription)")
        } catch let DecodingError.valueNotFound(_, context) {
            throw ModelError("\(path): field \"\(fieldPath(context))\" is null")
        } catch let DecodingError.dataCorrupted(context) {
            throw ModelError("\(path): invalid JSON at \"\(fieldPath(context))\": \(context.debugDescription)")
        } catch {
            throw ModelError("\(path): \(error)")
        }
        try config.validate(path: path)
        return config
    }

    private static func fieldPath(_ context: DecodingError.Context) -> String {
        context.codingPath.map(\.stringValue).joined(separator: ".")
    }
}
