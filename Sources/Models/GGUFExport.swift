import Foundation
import Tensors

/// A safetensors Ling 2.0 checkpoint written as a `bailingmoe2` GGUF file the way llama.cpp lays it out
/// (conversion/bailingmoe.py `BailingMoeV2Model`, then `llama-quantize` for a mixture): GGUF tensor names, the routed
/// experts of each layer merged into 3-D `blk.N.ffn_{gate,up,down}_exps.weight` (ne = [columns, rows, experts]),
/// `.expert_bias` as `exp_probs_b.bias`, the MTP layer as block `num_hidden_layers` with `nextn.*` and
/// `layer_output_norm` tensors, the converter's `general.*`, `bailingmoe2.*` and `tokenizer.*` metadata, tensors in
/// llama-quantize's order (by layer, then name) with llama-quantize's per-tensor types (`GGUFMixture`).
///
/// Streaming: the header is written first (every offset follows from types and shapes), then each tensor is
/// converted in chunks of rows (source row -> f32 -> quantized, expert by expert for the merged tensors) and
/// appended, so memory stays at a few MiB of buffers whatever the model size; the source stays memory-mapped.
public struct GGUFExport {
    /// What the tensors become: the mixture's types, or the source types (F32 / BF16 / F16 kept, FP8 -> BF16;
    /// norms, router and bias in F32), like the converter's `--outtype auto`.
    public enum Target: Sendable {
        case sourceTypes
        case mixture(GGUFMixture)
    }

    /// One output tensor and where its rows come from.
    public struct Planned: @unchecked Sendable {
        public let tensor: GGUFWriter.Tensor
        /// The source tensors whose rows, in order, make the tensor's rows: one entry, or one per expert.
        let sources: [WeightMatrix]
        let sourceNames: [String]

        public var byteCount: Int { tensor.byteCount ?? 0 }
        var rowLength: Int { tensor.ne.first ?? 0 }
        var rowCount: Int { tensor.ne.dropFirst().reduce(1, *) }
    }

    public let directory: String
    public let config: ModelConfig
    public let metadata: [(String, GGUFWriter.Value)]
    public let tensors: [Planned]
    let checkpoint: SafetensorsCheckpoint

    /// Opens and validates the checkpoint (config.json, every tensor bound and shape-checked as the model loader
    /// does, tokenizer.json) and plans the file. `tokenizer: false` leaves the tokenizer metadata out (for
    /// checkpoints without tokenizer files; such a file is not a complete `--model`).
    public init(directory: String, target: Target, tokenizer: Bool = true) throws(ModelError) {
        self.directory = directory
        let config = try ModelConfig.load(directory: directory)
        self.config = config
        checkpoint = try SafetensorsCheckpoint(directory: directory)
        // Binding the weights checks every name, shape and dtype (and the FP8 scales) with the loader's messages.
        _ = try LingWeights(checkpoint: checkpoint, config: config)
        let planned = try Self.plan(checkpoint: checkpoint, config: config, target: target)
        tensors = planned
        var metadata = try Self.modelMetadata(config: config, directory: directory, target: target, tensors: planned)
        if tokenizer {
            metadata += try GGUFTokenizerMetadata.entries(directory: directory, vocabSize: config.vocabSize, pre: "bailingmoe2")
        }
        self.metadata = metadata
    }

    /// Bytes of tensor data the file will hold (what the progress counts).
    public var dataByteCount: Int { tensors.reduce(0) { $0 + $1.byteCount } }

    /// Writes the file. `threadCount` workers quantize the rows of each chunk; `progress(bytesDone, bytesTotal)` is
    /// called after each chunk (tensor data bytes). The output bytes do not depend on `threadCount`.
    public func write(to path: String, threadCount: Int = 1, progress: (Int, Int) -> Void = { _, _ in }) throws(ModelError) {
        let pool = ComputePool(threadCount: max(1, threadCount))
        let total = dataByteCount
        var done = 0
        let temporary = path + ".partial"
        do {
            try GGUFWriter.write(path: temporary, metadata: metadata, tensors: tensors.map(\.tensor)) { index, sink throws(ModelError) in
                try Self.stream(tensors[index], into: sink, pool: pool) { bytes in
                    done += bytes
                    progress(done, total)
                }
                Self.release(tensors[index])
            }
        } catch {
            unlink(temporary)
            throw error
        }
        guard rename(temporary, path) == 0 else {
            unlink(temporary)
            throw ModelError("\(path): cannot move the finished file into place: \(String(cString: strerror(errno)))")
        }
    }

    // MARK: - streaming

    /// Drops the source pages of a tensor that has been written from this process's mapping (MADV_DONTNEED on a
    /// read-only private file mapping: nothing is lost, a later read faults them in again), so the resident set
    /// stays near one tensor instead of growing to the whole checkpoint.
    static func release(_ planned: Planned) {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        guard page > 0 else { return }
        for source in planned.sources {
            let start = Int(bitPattern: source.base)
            let end = start + source.byteCount
            let alignedStart = (start + page - 1) / page * page  // pages wholly inside the tensor only
            let alignedEnd = end / page * page
            guard alignedEnd > alignedStart, let pointer = UnsafeMutableRawPointer(bitPattern: alignedStart) else { continue }
            _ = madvise(pointer, alignedEnd - alignedStart, MADV_DONTNEED)
        }
    }

    /// Rows per chunk: about 4 MiB of f32 input, at least one row.
    static let chunkFloats = 1 << 20

    static func stream(_ planned: Planned, into sink: GGUFWriter.Sink, pool: ComputePool,
                       chunkDone: (Int) -> Void) throws(ModelError) {
        let n = planned.rowLength
        let type = planned.tensor.type
        guard let rowBytes = GGMLQuantizer.rowByteCount(type, count: n), n > 0 else {
            throw ModelError("tensor \(planned.tensor.name): rows of \(n) cannot be stored as \(type)")
        }
        let chunkRows = max(1, min(planned.rowCount, chunkFloats / n))
        let workers = pool.threadCount
        let input = UnsafeMutablePointer<Float>.allocate(capacity: workers * n)  // [workers, n]
        let output = UnsafeMutableRawPointer.allocate(byteCount: chunkRows * rowBytes, alignment: 64)  // [chunkRows, rowBytes]
        defer {
            input.deallocate()
            output.deallocate()
        }
        // Row r of the tensor is row (r % perSource) of source (r / perSource).
        let perSource = planned.sources.first?.rowCount ?? 1
        var first = 0
        while first < planned.rowCount {
            let count = min(chunkRows, planned.rowCount - first)
            pool.run { worker, workerCount in
                let row = input + worker * n
                var r = worker
                while r < count {
                    let global = first + r
                    Kernels.rowToF32(row, planned.sources[global / perSource], row: global % perSource)
                    GGMLQuantizer.quantize(type, UnsafeBufferPointer(start: row, count: n),
                                           into: UnsafeMutableRawBufferPointer(start: output + r * rowBytes, count: rowBytes))
                    r += workerCount
                }
            }
            try sink.write(UnsafeRawBufferPointer(start: output, count: count * rowBytes))
            chunkDone(count * rowBytes)
            first += count
        }
    }

    // MARK: - planning

    /// The GGUF name of a Hugging Face tensor name (not the routed experts, which are merged), as llama.cpp's
    /// tensor map gives it for `bailingmoe2`; nil for a name that has none.
    public static func ggufName(_ hf: String) -> String? {
        if let name = globalNames[hf] { return name }
        let parts = hf.split(separator: ".", maxSplits: 3)
        guard parts.count == 4, parts[0] == "model", parts[1] == "layers", let layer = Int(parts[2]) else { return nil }
        return layerNames[String(parts[3])].map { "blk.\(layer).\($0)" }
    }

    /// The loader's GGUF -> Hugging Face tables inverted. final_layernorm has two GGUF names there; the converter
    /// writes `layer_output_norm`.
    static let globalNames = Dictionary(GGUFCheckpoint.globalNames.map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
    static let layerNames = Dictionary(
        GGUFCheckpoint.layerNames.filter { $0.key != "nextn.shared_head_norm.weight" }.map { ($1, $0) },
        uniquingKeysWith: { a, _ in a })

    /// llama.cpp's tensor order (`weight_name_comparer`): tensors outside `blk.N.` first, then by layer number,
    /// then by name. It decides the index of each `attn_qkv` for the layer-spread rule.
    public static func llamaOrder(_ a: String, _ b: String) -> Bool {
        let la = GGUFMixture.layer(of: a) ?? -1, lb = GGUFMixture.layer(of: b) ?? -1
        return la != lb ? la < lb : a < b
    }

    static func plan(checkpoint: SafetensorsCheckpoint, config: ModelConfig, target: Target) throws(ModelError) -> [Planned] {
        let block = config.quantizationConfig?.weightBlockSize ?? [128, 128]
        let blockRows = block.count == 2 ? block[0] : 128, blockColumns = block.count == 2 ? block[1] : 128
        func matrix(_ entry: TensorEntry) throws(ModelError) -> WeightMatrix {
            guard let dtype = entry.dtype else {
                throw ModelError("\(entry.file): tensor \(entry.name) has type \(entry.dtypeName); supported: F32, BF16, F16, F8_E4M3")
            }
            let rows = entry.shape.count == 2 ? entry.shape[0] : 1
            let columns = entry.shape.count == 2 ? entry.shape[1] : entry.shape.first ?? 0
            var scales: FP8BlockScales? = nil
            if dtype == .fp8E4M3 {
                // Shape and dtype of the scales were checked when the weights were bound.
                guard let scale = checkpoint.entries[entry.name + "_scale_inv"], entry.shape.count == 2 else {
                    throw ModelError("\(entry.file): tensor \(entry.name) is FP8 without a 2-D \(entry.name)_scale_inv")
                }
                scales = FP8BlockScales(scaleInv: scale.data.assumingMemoryBound(to: Float.self), blockRows: blockRows,
                                        blockColumns: blockColumns)
            }
            return WeightMatrix(base: entry.data, dtype: dtype, rowCount: rows, columnCount: columns, fp8Scales: scales)
        }
        struct Draft { var name: String; var ne: [Int]; var sources: [TensorEntry] }
        var drafts: [Draft] = []
        var experts: [String: [Int: TensorEntry]] = [:]  // "blk.N.ffn_gate_exps.weight" -> expert -> entry
        for (name, entry) in checkpoint.entries.sorted(by: { $0.key < $1.key }) {
            if LingWeights.isIgnorable(name) || name.hasSuffix("_scale_inv") { continue }
            let parts = name.split(separator: ".")
            if parts.count == 8, parts[0] == "model", parts[1] == "layers", parts[3] == "mlp", parts[4] == "experts",
               parts[7] == "weight",
               let layer = Int(parts[2]), let expert = Int(parts[5]) {
                let which = parts[6] == "gate_proj" ? "gate" : parts[6] == "up_proj" ? "up" : parts[6] == "down_proj" ? "down" : ""
                guard !which.isEmpty else { throw ModelError("\(entry.file): unexpected tensor \(name)") }
                experts["blk.\(layer).ffn_\(which)_exps.weight", default: [:]][expert] = entry
                continue
            }
            guard let gguf = ggufName(name) else {
                throw ModelError("\(entry.file): unexpected tensor \(name) (no bailingmoe2 GGUF name)")
            }
            drafts.append(Draft(name: gguf, ne: entry.shape.reversed(), sources: [entry]))
        }
        for (name, byExpert) in experts {
            var list: [TensorEntry] = []
            for expert in 0..<config.expertCount {
                guard let entry = byExpert[expert] else { throw ModelError("\(checkpoint.directory): expert \(expert) of \(name) is missing") }
                list.append(entry)
            }
            drafts.append(Draft(name: name, ne: [list[0].shape[1], list[0].shape[0], list.count], sources: list))
        }
        drafts.sort { llamaOrder($0.name, $1.name) }
        let blockCount = config.layerCount + (config.nextnLayerCount ?? 0)
        let qkvCount = drafts.filter { $0.name.contains("attn_qkv.weight") }.count
        var qkvIndex = 0
        var planned: [Planned] = []
        for draft in drafts {
            let type: GGUFTensorType
            switch target {
            case .mixture(let mixture):
                type = mixture.tensorType(name: draft.name, ne: draft.ne, context: .init(
                    blockCount: blockCount, expertCount: config.expertCount, qkvCount: qkvCount, qkvIndex: qkvIndex))
            case .sourceTypes:
                let dtype = draft.sources[0].dtype
                type = GGUFMixture.staysF32(name: draft.name, ne: draft.ne) ? .f32
                    : dtype == .f32 ? .f32 : dtype == .f16 ? .f16 : .bf16
            }
            if draft.name.contains("attn_qkv.weight") { qkvIndex += 1 }
            var matrices: [WeightMatrix] = []
            for source in draft.sources { matrices.append(try matrix(source)) }
            let tensor = GGUFWriter.Tensor(name: draft.name, ne: draft.ne, type: type)
            guard tensor.byteCount != nil else {
                throw ModelError("tensor \(draft.name): ne \(draft.ne) cannot be stored as \(type)")
            }
            planned.append(Planned(tensor: tensor, sources: matrices, sourceNames: draft.sources.map(\.name)))
        }
        return planned
    }

    // MARK: - metadata

    /// `general.*` and `bailingmoe2.*` in the converter's order (TextModel.set_gguf_parameters, then
    /// BailingMoeV2Model's keys), with `general.file_type` / `general.quantization_version` as llama-quantize sets them.
    static func modelMetadata(config: ModelConfig, directory: String, target: Target,
                              tensors: [Planned]) throws(ModelError) -> [(String, GGUFWriter.Value)] {
        func u32(_ value: Int, _ field: String) throws(ModelError) -> GGUFWriter.Value {
            guard let v = UInt32(exactly: value) else { throw ModelError("\(directory)/config.json: \(field) = \(value) does not fit in u32") }
            return .u32(v)
        }
        let nextn = config.nextnLayerCount ?? 0
        let fileType: UInt32
        switch target {
        case .mixture(let mixture): fileType = mixture.fileType
        case .sourceTypes:
            let types = tensors.map(\.tensor.type)
            fileType = types.contains(.bf16) ? 32 : types.contains(.f16) ? 1 : 0
        }
        var m: [(String, GGUFWriter.Value)] = [
            ("general.architecture", .string("bailingmoe2")), ("general.type", .string("model")),
            ("general.name", .string(Self.modelName(directory: directory))),
            ("general.size_label", .string(Self.sizeLabel(tensors: tensors, expertCount: config.expertCount))),
        ]
        func key(_ name: String) -> String { "bailingmoe2." + name }
        m.append((key("block_count"), try u32(config.layerCount + nextn, "num_hidden_layers + num_nextn_predict_layers")))
        m.append((key("context_length"), try u32(config.maxPositionEmbeddings, "max_position_embeddings")))
        m.append((key("embedding_length"), try u32(config.hiddenSize, "hidden_size")))
        m.append((key("feed_forward_length"), try u32(config.intermediateSize, "intermediate_size")))
        m.append((key("attention.head_count"), try u32(config.headCount, "num_attention_heads")))
        m.append((key("attention.head_count_kv"), try u32(config.kvHeadCount, "num_key_value_heads")))
        if let scaling = config.ropeScaling, scaling.kind == "yarn", let factor = scaling.factor {
            m.append((key("rope.scaling.type"), .string("yarn")))
            m.append((key("rope.scaling.factor"), .f32(Float(factor))))
            if let original = scaling.originalMaxPositionEmbeddings {
                m.append((key("rope.scaling.original_context_length"), try u32(original, "rope_scaling.original_max_position_embeddings")))
            }
            if let v = scaling.attentionFactor { m.append((key("rope.scaling.yarn_attn_factor"), .f32(Float(v)))) }
            if let v = scaling.betaFast { m.append((key("rope.scaling.yarn_beta_fast"), .f32(Float(v)))) }
            if let v = scaling.betaSlow { m.append((key("rope.scaling.yarn_beta_slow"), .f32(Float(v)))) }
        }
        m.append((key("rope.freq_base"), .f32(Float(config.ropeTheta))))
        m.append((key("attention.layer_norm_rms_epsilon"), .f32(Float(config.rmsNormEps))))
        m.append((key("expert_count"), try u32(config.expertCount, "num_experts")))
        m.append((key("expert_used_count"), try u32(config.expertsPerToken, "num_experts_per_tok")))
        m.append((key("expert_group_count"), try u32(config.groupCount, "n_group")))
        m.append((key("expert_group_used_count"), try u32(config.keptGroupCount, "topk_group")))
        m.append((key("expert_gating_func"), .u32(2)))  // sigmoid, the only score function Ling 2.0 has
        m.append((key("attention.key_length"), try u32(config.headSize, "head_dim")))
        m.append((key("attention.value_length"), try u32(config.headSize, "head_dim")))
        m.append(("general.file_type", .u32(fileType)))
        // The converter writes int(head_dim * partial_rotary_factor), 0.5 when the factor is absent.
        let rotary = config.partialRotaryFactor != nil ? config.rotaryDimension : config.rotaryDim ?? config.headSize / 2
        m.append((key("rope.dimension_count"), try u32(rotary, "rotary dimension")))
        m.append((key("leading_dense_block_count"), try u32(config.firstDenseLayerCount, "first_k_dense_replace")))
        m.append((key("vocab_size"), try u32(config.vocabSize, "vocab_size")))
        m.append((key("expert_feed_forward_length"), try u32(config.moeIntermediateSize, "moe_intermediate_size")))
        m.append((key("expert_shared_feed_forward_length"), try u32(config.sharedExpertIntermediateSize, "moe_shared_expert_intermediate_size")))
        m.append((key("expert_weights_scale"), .f32(Float(config.routedScalingFactor))))
        m.append((key("expert_shared_count"), try u32(config.sharedExpertCount, "num_shared_experts")))
        m.append((key("expert_weights_norm"), .bool(true)))
        m.append((key("nextn_predict_layers"), try u32(nextn, "num_nextn_predict_layers")))
        m.append(("general.quantization_version", .u32(2)))
        return m
    }

    /// The converter's `general.name` from the folder name: words split on '-', lowercase words title-cased unless
    /// they look like a version or start with a digit ("mini4-bf16" -> "Mini4 Bf16").
    static func modelName(directory: String) -> String {
        let base = URL(fileURLWithPath: directory).standardizedFileURL.lastPathComponent
        let words = base.replacingOccurrences(of: "-", with: " ").split(separator: " ").map(String.init)
        return words.map { word -> String in
            let isLower = word.contains { $0.isLetter } && !word.contains { $0.isUppercase }
            let versionLike = word.range(of: #"^(v\d+(\.\d+)*|\d.*)$"#, options: .regularExpression) != nil
            guard isLower && !versionLike else { return word }
            var out = ""
            var previousLetter = false
            for c in word {
                out += previousLetter ? String(c).lowercased() : String(c).uppercased()
                previousLetter = c.isLetter
            }
            return out
        }.joined(separator: " ")
    }

    /// gguf-py's `size_label`: "{experts}x{shared + one expert's parameters}" rounded to 2+ significant digits.
    static func sizeLabel(tensors: [Planned], expertCount: Int) -> String {
        var shared = 0, expert = 0
        for planned in tensors {
            let size = planned.tensor.ne.reduce(1, *)
            if planned.tensor.name.contains("_exps."), planned.tensor.ne.count >= 3, let count = planned.tensor.ne.last, count > 0 {
                expert += size / count
            } else {
                shared += size
            }
        }
        let n = Double(shared + expert)
        let (scaled, suffix): (Double, String) = n > 1e12 ? (n * 1e-12, "T") : n > 1e9 ? (n * 1e-9, "B")
            : n > 1e6 ? (n * 1e-6, "M") : (n * 1e-3, "K")
        let integerDigits = String(Int(scaled.rounded(.toNearestOrEven))).drop { $0 == "0" }.count
        let digits = max(2 - integerDigits, 0)
        let label = String(format: "%.\(digits)f", scaled) + suffix
        return expertCount > 0 ? "\(expertCount)x\(label)" : label
    }
}
