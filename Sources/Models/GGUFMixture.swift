/// A llama.cpp file type (`llama_ftype`) as `ling-serve quantize --type` names it, and the per-tensor type choices
/// llama.cpp's quantizer makes for it on a `bailingmoe2` model (src/llama-quant.cpp: `tensor_allows_quantization`,
/// `llama_tensor_get_type_impl`, `tensor_type_fallback`), without an importance matrix or overrides.
public enum GGUFMixture: String, CaseIterable, Sendable {
    case q8_0
    case q4KM = "q4_k_m"
    case q5KM = "q5_k_m"
    case q6K = "q6_k"

    /// `general.file_type` (LLAMA_FTYPE_MOSTLY_*).
    public var fileType: UInt32 {
        switch self {
        case .q8_0: 7
        case .q4KM: 15
        case .q5KM: 17
        case .q6K: 18
        }
    }

    /// The type of every quantizable tensor no rule promotes (`llama_ftype_get_default_type`).
    public var defaultType: GGUFTensorType {
        switch self {
        case .q8_0: .q8_0
        case .q4KM: .q4K
        case .q5KM: .q5K
        case .q6K: .q6K
        }
    }

    /// Tensors llama.cpp's converter writes in F32 and its quantizer leaves alone: 1-D tensors, `*_norm.weight`,
    /// the router `ffn_gate_inp`, anything not named `.weight` (`exp_probs_b.bias`).
    public static func staysF32(name: String, ne: [Int]) -> Bool {
        ne.count <= 1 || name.hasSuffix("_norm.weight") || name.contains("ffn_gate_inp") || !name.hasSuffix(".weight")
    }

    /// Where one tensor sits among the model's, for the rules that look at layers.
    public struct Context: Sendable {
        /// `block_count` (decoder layers plus MTP layers: llama.cpp's n_layer_all).
        public var blockCount: Int
        public var expertCount: Int
        /// Number of `attn_qkv` tensors in the file, and this one's index among them in llama.cpp's tensor order
        /// (`GGUFExport.llamaOrder`).
        public var qkvCount: Int
        public var qkvIndex: Int

        public init(blockCount: Int, expertCount: Int, qkvCount: Int, qkvIndex: Int) {
            self.blockCount = blockCount
            self.expertCount = expertCount
            self.qkvCount = qkvCount
            self.qkvIndex = qkvIndex
        }
    }

    /// The storage type llama-quantize gives tensor `name` (GGUF name, `ne` innermost first).
    public func tensorType(name: String, ne: [Int], context: Context) -> GGUFTensorType {
        if Self.staysF32(name: name, ne: ne) { return .f32 }
        let columns = ne.first ?? 0
        var type = defaultType
        // llama.cpp's layer-spread rule: the first and last eighth of the layers and every third one between.
        func useMoreBits(_ layer: Int, _ layers: Int) -> Bool {
            layer < layers / 8 || layer >= 7 * layers / 8 || (layer - layers / 8) % 3 == 2
        }
        if name == "output.weight" {
            // Not tied to token_embd (Ling has both), so only the output tensor gets the output rule.
            if let block = type.block, columns % block.elements != 0 {
                type = .q8_0
            } else if type != .q8_0 {
                type = .q6K
            }
        } else if name == "token_embd.weight" {
            // no rule for these file types
        } else if name.contains("attn_qkv.weight") {
            // The fused QKV counts as attn_v ("more sensitive to quantization"); its attn_v branch comes first in
            // llama.cpp, so the later ATTENTION_QKV branch (Q5_K / Q6_K) never applies to it.
            if (self == .q4KM || self == .q5KM) && useMoreBits(context.qkvIndex, context.qkvCount) { type = .q6K }
            if context.expertCount == 8 { type = .q8_0 }
        } else if name.contains("ffn_down") {
            // ffn_down, ffn_down_exps and ffn_down_shexp alike; the layer is read from the name (n_expert > 1).
            let layer = Self.layer(of: name) ?? 0
            if (self == .q4KM || self == .q5KM) && useMoreBits(layer, context.blockCount) { type = .q6K }
        } else if name.contains("attn_output.weight") {
            if context.expertCount == 8 && self == .q4KM { type = .q5K }
        }
        return Self.fallback(type, columns: columns)
    }

    /// llama.cpp's `tensor_type_fallback`: a row length the block does not divide moves a 256-block type to a
    /// 32-block one (Q4_K -> Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0), and anything still not dividing to F16.
    static func fallback(_ type: GGUFTensorType, columns: Int) -> GGUFTensorType {
        guard let block = type.block, columns % block.elements != 0 else { return type }
        var result = type
        switch type {
        case .q4K: result = .q5_0
        case .q5K: result = .q5_1
        case .q6K: result = .q8_0
        default: break
        }
        if let block = result.block, columns % block.elements != 0 { result = .f16 }
        return result
    }

    /// N of a `blk.N.` name.
    static func layer(of name: String) -> Int? {
        let parts = name.split(separator: ".", maxSplits: 2)
        guard parts.count == 3, parts[0] == "blk" else { return nil }
        return Int(parts[1])
    }
}
