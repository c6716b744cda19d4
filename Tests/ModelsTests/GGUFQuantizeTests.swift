import Foundation
@testable import Models
import Tensors
import Testing
import TestSupport
import Tokenizers

/// Checkpoint folders the quantizer reads in these tests: a reference fixture with its tokenizer (from the
/// tokenizer tests' fixtures, which hold the same vocabulary), or a small random checkpoint whose dims are
/// multiples of 256 so the K-quant types are used as they are on real models.
struct QuantizeSource {
    let directory: String
    /// Key into Fixtures/llama-quantize-types.json.
    let name: String

    static let tokenizerFixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("TokenizersTests/Fixtures").path

    static func temporaryDirectory(_ label: String) throws -> String {
        let path = NSTemporaryDirectory() + "lingserve-quantize-\(label)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))/" + label
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// A reference fixture plus its tokenizer.json / tokenizer_config.json, as links in a temporary folder.
    static func fixture(_ name: String) throws -> QuantizeSource {
        let fixture = try ReferenceFixture.load(name)
        let directory = try temporaryDirectory(name)
        for file in ["config.json", "generation_config.json", "model.safetensors"] {
            try? FileManager.default.removeItem(atPath: directory + "/" + file)
            try FileManager.default.createSymbolicLink(atPath: directory + "/" + file, withDestinationPath: fixture.directory + "/" + file)
        }
        for file in ["tokenizer.json", "tokenizer_config.json"] {
            try? FileManager.default.removeItem(atPath: directory + "/" + file)
            try FileManager.default.copyItem(atPath: tokenizerFixtures + "/\(name)/" + file, toPath: directory + "/" + file)
        }
        return QuantizeSource(directory: directory, name: name)
    }

    /// "s256": release-bf16's config and tokenizer with hidden 256, 4 heads of 64 (2 KV), dense width 512, 16
    /// experts of width 256, 3 layers + MTP; bf16 weights with std 0.02 (about 12 MB). The tensor names and shapes
    /// are those the llama-quantize types were recorded for.
    static func random256() throws -> QuantizeSource {
        let base = try ReferenceFixture.load("release-bf16")
        let directory = try temporaryDirectory("s256")
        var config = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: base.directory + "/config.json"))) as? [String: Any] ?? [:]
        let edits: [String: Any] = [
            "hidden_size": 256, "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 64, "intermediate_size": 512,
            "moe_intermediate_size": 256, "moe_shared_expert_intermediate_size": 256, "num_experts": 16,
            "num_experts_per_tok": 4, "n_group": 4, "topk_group": 2, "num_hidden_layers": 3,
        ]
        for (key, value) in edits { config[key] = value }
        try JSONSerialization.data(withJSONObject: config, options: [.sortedKeys]).write(to: URL(fileURLWithPath: directory + "/config.json"))
        for file in ["tokenizer.json", "tokenizer_config.json"] {
            try? FileManager.default.removeItem(atPath: directory + "/" + file)
            try FileManager.default.copyItem(atPath: tokenizerFixtures + "/release-bf16/" + file, toPath: directory + "/" + file)
        }
        let h = 256
        var tensors: [(SafetensorsWriter.Tensor, Bool)] = []  // (tensor, is a norm of ones)
        func add(_ name: String, _ shape: [Int], ones: Bool = false, dtype: String = "BF16") {
            tensors.append((SafetensorsWriter.Tensor(name: name, dtype: dtype, shape: shape), ones))
        }
        add("model.word_embeddings.weight", [768, h])
        add("lm_head.weight", [768, h])
        add("model.norm.weight", [h], ones: true)
        for layer in 0..<4 {
            let p = "model.layers.\(layer)."
            for norm in ["input_layernorm", "post_attention_layernorm"] { add(p + norm + ".weight", [h], ones: true) }
            add(p + "attention.query_layernorm.weight", [64], ones: true)
            add(p + "attention.key_layernorm.weight", [64], ones: true)
            add(p + "attention.query_key_value.weight", [512, h])
            add(p + "attention.dense.weight", [h, 256])
            func swiGLU(_ q: String, _ width: Int) {
                add(q + "gate_proj.weight", [width, h])
                add(q + "up_proj.weight", [width, h])
                add(q + "down_proj.weight", [h, width])
            }
            if layer == 0 {
                swiGLU(p + "mlp.", 512)
            } else {
                add(p + "mlp.gate.weight", [16, h])
                add(p + "mlp.gate.expert_bias", [16], dtype: "F32")
                for e in 0..<16 { swiGLU(p + "mlp.experts.\(e).", 256) }
                swiGLU(p + "mlp.shared_experts.", 256)
            }
            if layer == 3 {
                for norm in ["enorm", "hnorm", "final_layernorm"] { add(p + norm + ".weight", [h], ones: true) }
                add(p + "eh_proj.weight", [h, 2 * h])
            }
        }
        var random = SplitMix(state: 0x5132_3536)
        try SafetensorsWriter.write(path: directory + "/model.safetensors", tensors: tensors.map(\.0)) { index, sink throws(ModelError) in
            let (tensor, ones) = tensors[index]
            let count = tensor.shape.reduce(1, *)
            var values = [Float](repeating: 1, count: count)
            if !ones {
                // Sum of 4 uniforms: roughly normal, std 0.02.
                for i in 0..<count {
                    var s: Float = 0
                    for _ in 0..<4 { s += Float(random.next() >> 40) / Float(1 << 24) - 0.5 }
                    values[i] = s * 0.02 * Float(3).squareRoot()
                }
            }
            if tensor.dtype == "F32" {
                try sink.write(values)
            } else {
                var bf16 = [UInt16](repeating: 0, count: count)
                values.withUnsafeBufferPointer { v in bf16.withUnsafeMutableBufferPointer { Kernels.f32ToBF16($0.baseAddress!, v.baseAddress!, count: count) } }
                try sink.write(bf16)
            }
        }
        return QuantizeSource(directory: directory, name: "s256")
    }

    func remove() { try? FileManager.default.removeItem(atPath: URL(fileURLWithPath: directory).deletingLastPathComponent().path) }

    static let all: [String] = ["release-bf16", "stress-f32", "s256"]

    static func make(_ name: String) throws -> QuantizeSource { name == "s256" ? try random256() : try fixture(name) }

    /// llama-quantize's per-tensor types (recorded with scripts/quantize-check.py --record-types).
    static func llamaTypes() throws -> [String: [String: [String: String]]] {
        guard let url = Bundle.module.url(forResource: "Fixtures/llama-quantize-types", withExtension: "json") else {
            throw ModelError("Fixtures/llama-quantize-types.json not found")
        }
        return try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: [String: [String: String]]] ?? [:]
    }
}

@Suite("GGUF quantization")
struct GGUFQuantizeTests {
    /// Largest error each format allows for one value of a block, given the block (and, for the two-level
    /// formats, its super-block), from how the scales are built: half a step for round-to-nearest, a whole step where
    /// the grid clamps an end value or the fit may stretch the grid, plus the f16 / 6-bit / 8-bit rounding of the scales.
    static func bound(_ type: GGUFTensorType, value: Float, block: ArraySlice<Float>, superBlock: ArraySlice<Float>) -> Float {
        let amax = block.reduce(0) { max($0, abs($1)) }
        let superMax = superBlock.reduce(0) { max($0, abs($1)) }
        let lo = min(block.min() ?? 0, 0), hi = block.max() ?? 0
        let tiny: Float = 1e-6
        switch type {
        case .f32: return 0
        case .f16, .bf16: return abs(value) * (type == .f16 ? 1.0 / 2048 : 1.0 / 256) + tiny
        case .q8_0: return amax / 127 * (0.5 + 127.0 / 2048) + tiny
        case .q5_0: return amax / 16 * (1 + 16.0 / 2048) + tiny
        case .q5_1: return (hi - lo) / 31 * (0.5 + 31.0 / 2048) + amax / 2048 + tiny
        case .q4K, .q5K:
            let levels: Float = type == .q4K ? 15 : 31
            let superRange = (superBlock.max() ?? 0) - min(superBlock.min() ?? 0, 0)
            return (hi - lo) / levels + superRange / 63 + tiny
        case .q6K: return amax / 31 + superMax / 128 + tiny
        default: return .infinity
        }
    }

    /// Relative RMS error (error RMS / value RMS) a whole tensor of normal-ish weights stays under, per format: about
    /// 1.4x what llama.cpp's reference quantizers give on the same data (scripts/quantize-check.py measures both).
    static let rmsLimit: [String: Double] = ["F32": 0, "F16": 0.001, "Q8_0": 0.008, "Q6_K": 0.025, "Q5_K": 0.045,
                                             "Q5_1": 0.04, "Q5_0": 0.045, "Q4_K": 0.085]

    @Test("Q8_0 round-trips values it can represent exactly")
    func q8Exact() {
        var random = SplitMix(state: 8)
        let d: Float = 1.0 / 128  // exact in f16
        var values = (0..<256).map { _ in Float(random.below(255) - 127) * d }
        for block in 0..<8 { values[32 * block + random.below(32)] = (block % 2 == 0 ? 127 : -127) * d }  // |max| = 127 d
        var bytes = [UInt8](repeating: 0, count: 8 * 34)
        var back = [Float](repeating: .nan, count: 256)
        values.withUnsafeBufferPointer { v in
            bytes.withUnsafeMutableBytes { GGMLQuantizer.quantize(.q8_0, v, into: $0) }
        }
        bytes.withUnsafeBytes { b in back.withUnsafeMutableBufferPointer { GGMLDequantizer.dequantize(.q8_0, b, into: $0) } }
        #expect(back == values)
    }

    @Test("each format stays within its error bound on random blocks, and odd inputs do not trap",
          arguments: [GGUFTensorType.q8_0, .q5_0, .q5_1, .q4K, .q5K, .q6K, .f16])
    func bounds(type: GGUFTensorType) throws {
        var random = SplitMix(state: 0x4B51)
        let n = 256 * 16
        // Blocks of different scales and offsets (some all-positive, some with a spike), to exercise the fits.
        var values = [Float](repeating: 0, count: n)
        for block in 0..<(n / 32) {
            let scale = Float(1 << (block % 7)) * 0.003
            let offset: Float = block % 5 == 0 ? 2 * scale : 0
            for j in 0..<32 { values[32 * block + j] = offset + scale * (Float(random.next() >> 40) / Float(1 << 23) - 1) }
            if block % 11 == 3 { values[32 * block + random.below(32)] *= 25 }
        }
        for j in 0..<32 { values[64 + j] = 0 }  // an all-zero block
        let bytes = try #require(GGMLQuantizer.rowByteCount(type, count: n))
        var encoded = [UInt8](repeating: 0, count: bytes)
        var decoded = [Float](repeating: .nan, count: n)
        values.withUnsafeBufferPointer { v in encoded.withUnsafeMutableBytes { GGMLQuantizer.quantize(type, v, into: $0) } }
        encoded.withUnsafeBytes { b in decoded.withUnsafeMutableBufferPointer { GGMLDequantizer.dequantize(type, b, into: $0) } }
        let blockSize = type.block?.elements == 256 ? (type == .q6K ? 16 : 32) : 32
        let superSize = type.block?.elements ?? 32
        var worst: Float = 0
        for i in 0..<n {
            let b = i / blockSize * blockSize, s = i / superSize * superSize
            let limit = Self.bound(type, value: values[i], block: values[b..<(b + blockSize)], superBlock: values[s..<(s + superSize)])
            worst = max(worst, abs(decoded[i] - values[i]) / limit)
        }
        #expect(worst <= 1, "\(type): worst error is \(worst)x the bound")
        #expect(decoded[64..<96].allSatisfy { $0 == 0 }, "\(type): a zero block decodes to zeros")
        // NaN, infinities and huge values: some output, no trap.
        let odd: [Float] = [.nan, .infinity, -.infinity, 1e30, -1e30, .leastNonzeroMagnitude] + [Float](repeating: 0.5, count: 250)
        var oddBytes = [UInt8](repeating: 0, count: try #require(GGMLQuantizer.rowByteCount(type, count: 256)))
        odd.withUnsafeBufferPointer { v in oddBytes.withUnsafeMutableBytes { GGMLQuantizer.quantize(type, v, into: $0) } }
        var oddBack = [Float](repeating: 0, count: 256)
        oddBytes.withUnsafeBytes { b in oddBack.withUnsafeMutableBufferPointer { GGMLDequantizer.dequantize(type, b, into: $0) } }
    }

    @Test("quantize writes llama-quantize's tensor types, and every tensor dequantizes within its format's bound",
          arguments: QuantizeSource.all)
    func checkpoint(name: String) throws {
        let source = try QuantizeSource.make(name)
        defer { source.remove() }
        let expected = try #require(QuantizeSource.llamaTypes()[name])
        for mixture in GGUFMixture.allCases {
            let export = try GGUFExport(directory: source.directory, target: .mixture(mixture))
            let path = source.directory + "/out-\(mixture.rawValue).gguf"
            var lastDone = 0
            try export.write(to: path, threadCount: 2) { done, total in
                #expect(done > lastDone && done <= total)
                lastDone = done
            }
            #expect(lastDone == export.dataByteCount)
            defer { unlink(path) }
            let file = try GGUFFile(path: path)
            let types = Dictionary(uniqueKeysWithValues: file.tensorNames.compactMap { n in file.tensors[n].map { (n, $0.type.description) } })
            #expect(types == expected[mixture.rawValue], "\(name) \(mixture.rawValue): types differ from llama-quantize's")
            #expect(file.metadata["general.file_type"]?.int == Int(mixture.fileType))
            #expect(file.metadata["general.quantization_version"]?.int == 2)
            #expect(file.tensorNames == file.tensorNames.sorted(by: GGUFExport.llamaOrder))
            for planned in export.tensors {
                let tensor = try #require(file.tensors[planned.tensor.name])
                #expect(tensor.shape == planned.tensor.ne.reversed())
                let (rowCount, rowLength) = tensor.rowShape
                var decoded = [Float](repeating: 0, count: rowCount * rowLength)
                try decoded.withUnsafeMutableBufferPointer { try tensor.dequantize(rows: 0..<rowCount, into: $0) }
                var original = [Float](repeating: 0, count: rowCount * rowLength)
                let perSource = planned.sources[0].rowCount
                original.withUnsafeMutableBufferPointer { o in
                    for r in 0..<rowCount {
                        Kernels.rowToF32(o.baseAddress! + r * rowLength, planned.sources[r / perSource], row: r % perSource)
                    }
                }
                let type = tensor.type
                let blockSize = type.block?.elements == 256 ? (type == .q6K ? 16 : 32) : (type.block?.elements == 1 ? 1 : 32)
                let superSize = max(type.block?.elements ?? 1, blockSize)
                var worst: Float = 0, errorSquares = 0.0, valueSquares = 0.0
                for i in 0..<original.count {
                    let b = i / blockSize * blockSize, s = i / superSize * superSize
                    let limit = Self.bound(type, value: original[i], block: original[b..<(b + blockSize)],
                                           superBlock: original[s..<(s + superSize)])
                    let error = abs(decoded[i] - original[i])
                    worst = max(worst, limit > 0 ? error / limit : (error == 0 ? 0 : .infinity))
                    errorSquares += Double(error * error)
                    valueSquares += Double(original[i] * original[i])
                }
                let rms = valueSquares > 0 ? (errorSquares / valueSquares).squareRoot() : 0
                #expect(worst <= 1, "\(name) \(mixture.rawValue) \(tensor.name) \(type): worst error \(worst)x the bound")
                #expect(rms <= Self.rmsLimit[type.description] ?? 0, "\(name) \(mixture.rawValue) \(tensor.name) \(type): RMS \(rms)")
            }
        }
    }

    @Test("the file is a complete model: config, tensor names and tokenizer metadata read back", arguments: ["release-bf16", "s256"])
    func readBack(name: String) throws {
        let source = try QuantizeSource.make(name)
        defer { source.remove() }
        let path = source.directory + "/out.gguf"
        try GGUFExport(directory: source.directory, target: .mixture(.q4KM)).write(to: path)
        defer { unlink(path) }
        let checkpoint = try GGUFCheckpoint(path: path)
        let config = try ModelConfig.load(directory: source.directory)
        #expect(checkpoint.config.layerCount == config.layerCount && checkpoint.config.hiddenSize == config.hiddenSize)
        #expect(checkpoint.config.expertCount == config.expertCount && checkpoint.config.rotaryDimension == config.rotaryDimension)
        #expect(checkpoint.config.nextnLayerCount == config.nextnLayerCount && checkpoint.config.headSize == config.headSize)
        let sourceNames = Set(try SafetensorsCheckpoint(directory: source.directory).entries.keys)
        #expect(Set(checkpoint.entries.keys) == sourceNames, "every source tensor comes back under its Hugging Face name")

        let file = checkpoint.files[0]
        #expect(file.metadata["tokenizer.ggml.pre"]?.string == "bailingmoe2")
        #expect(file.metadata["tokenizer.chat_template"]?.string?.isEmpty == false)
        #expect(file.metadata["tokenizer.ggml.eos_token_id"]?.int == 759, "eos from tokenizer_config.json (<|role_end|>)")
        #expect(file.metadata["tokenizer.ggml.tokens"]?.array?.count == config.vocabSize)
    }

    /// The fixtures' tokenizers split digits in threes (cl100k style), which `tokenizer.ggml.pre = bailingmoe2` cannot
    /// express (llama.cpp's converter forces that name for Ling too); the ling-style golden tokenizer has Ling's own
    /// pre-tokenizer, so its GGUF metadata must give tokenizer.json's ids exactly.
    @Test("the tokenizer read back from the GGUF metadata gives tokenizer.json's ids")
    func tokenizerRoundTrip() throws {
        let directory = try QuantizeSource.temporaryDirectory("tokenizer")
        defer { try? FileManager.default.removeItem(atPath: URL(fileURLWithPath: directory).deletingLastPathComponent().path) }
        let golden = QuantizeSource.tokenizerFixtures + "/golden/ling-style"
        try FileManager.default.copyItem(atPath: golden + "/tokenizer.json", toPath: directory + "/tokenizer.json")
        // 6020 ids are used; a larger vocab_size adds [PAD] slots, as Ling's 157184 does.
        let metadata = try GGUFTokenizerMetadata.entries(directory: directory, vocabSize: 6048, pre: "bailingmoe2")
        let path = directory + "/tokenizer.gguf"
        try GGUFWriter.write(path: path, metadata: metadata, tensors: []) { _, _ throws(ModelError) in }
        let file = try GGUFFile(path: path)
        let tokens = (file.metadata["tokenizer.ggml.tokens"]?.array ?? []).compactMap { $0.string }
        let merges = (file.metadata["tokenizer.ggml.merges"]?.array ?? []).compactMap { $0.string }
        let types = file.metadata["tokenizer.ggml.token_type"]?.array?.compactMap(\.int)
        #expect(tokens.count == 6048 && tokens[6047] == "[PAD6047]" && types?[6047] == 5)
        // Built the way ling-serve's ModelFiles builds a GGUF --model's tokenizer.
        let fromGGUF = try Tokenizer(tokens: tokens, merges: merges, tokenTypes: types, preset: .ling, source: path)
        let fromJSON = try Tokenizer(directory: directory)
        let cases = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: golden + "/golden.json"))) as? [String: Any]
        let texts = (cases?["cases"] as? [[String: Any]] ?? []).compactMap { $0["text"] as? String }
        #expect(texts.count > 1000)
        var differing = 0
        for text in texts where fromGGUF.encode(text, addSpecialTokens: false) != fromJSON.encode(text, addSpecialTokens: false) {
            differing += 1
            if differing <= 3 { Issue.record("ids of \(text.debugDescription) differ") }
        }
        #expect(differing == 0)
    }

    @Test("an FP8 block-scaled checkpoint quantizes to the same bytes as its exact f32 twin")
    func fp8Source() throws {
        let fixture = try ReferenceFixture.load("stress-f32")
        let (quantised, dequantised) = try CheckpointCopy.fp8Items(of: fixture.directory, block: 32)
        let fp8Copy = try CheckpointCopy("quantize-fp8"), twinCopy = try CheckpointCopy("quantize-fp8-twin")
        defer {
            fp8Copy.remove()
            twinCopy.remove()
        }
        try fp8Copy.copyConfigs(from: fixture.directory) { config in
            config["quantization_config"] = ["quant_method": "fp8", "fmt": "e4m3", "weight_block_size": [32, 32]]
        }
        try fp8Copy.write(quantised)
        try twinCopy.copyConfigs(from: fixture.directory)
        try twinCopy.write(dequantised)
        for mixture in [GGUFMixture.q8_0, .q4KM] {
            let a = fp8Copy.directory + "/out.gguf", b = twinCopy.directory + "/out.gguf"
            try GGUFExport(directory: fp8Copy.directory, target: .mixture(mixture), tokenizer: false).write(to: a)
            try GGUFExport(directory: twinCopy.directory, target: .mixture(mixture), tokenizer: false).write(to: b)
            let fa = try GGUFFile(path: a), fb = try GGUFFile(path: b)
            #expect(fa.tensorNames == fb.tensorNames)
            #expect(!fa.tensorNames.contains { $0.contains("scale_inv") })
            for name in fa.tensorNames {
                let ta = try #require(fa.tensors[name]), tb = try #require(fb.tensors[name])
                #expect(ta.type == tb.type && ta.byteCount == tb.byteCount)
                #expect(memcmp(ta.data, tb.data, min(ta.byteCount, tb.byteCount)) == 0, "\(mixture.rawValue) \(name): data differ")
            }
        }
    }

    @Test("bad input is refused with a message naming the problem")
    func badInput() throws {
        let source = try QuantizeSource.fixture("release-bf16")
        defer { source.remove() }
        func message(_ body: () throws -> Void) -> String {
            do { try body(); return "" } catch { return "\(error)" }
        }
        unlink(source.directory + "/tokenizer.json")
        #expect(message { _ = try GGUFExport(directory: source.directory, target: .mixture(.q8_0)) }.contains("no tokenizer.json"))
        #expect(message { _ = try GGUFExport(directory: source.directory + "/missing", target: .mixture(.q8_0)) }.contains("config.json"))
        // A truncated safetensors file.
        let broken = try QuantizeSource.temporaryDirectory("broken")
        defer { try? FileManager.default.removeItem(atPath: URL(fileURLWithPath: broken).deletingLastPathComponent().path) }
        try FileManager.default.copyItem(atPath: source.directory + "/config.json", toPath: broken + "/config.json")
        let weights = try Data(contentsOf: URL(fileURLWithPath: source.directory + "/model.safetensors"))
        try weights.prefix(weights.count / 2).write(to: URL(fileURLWithPath: broken + "/model.safetensors"))
        let truncated = message { _ = try GGUFExport(directory: broken, target: .mixture(.q8_0), tokenizer: false) }
        #expect(truncated.contains("model.safetensors") && (truncated.contains("truncated") || truncated.contains("past the end")), "\(truncated)")
    }
}
