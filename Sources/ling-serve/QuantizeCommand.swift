import ArgumentParser
import Foundation
import Models
import ProgressDisplay

/// `ling-serve quantize`: a safetensors checkpoint folder -> one `bailingmoe2` GGUF file (llama.cpp's layout and
/// per-tensor types for the chosen mixture, tokenizer and chat template included), streamed tensor by tensor.
struct QuantizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quantize",
        abstract: "Write a quantized GGUF (q8_0, q4_k_m, q5_k_m, q6_k) of a safetensors Ling 2.0 checkpoint.",
        discussion: """
            The file has llama.cpp's bailingmoe2 layout (merged 3-D experts, fused attn_qkv, the MTP layer as blk.L.nextn.*) \
            and the tensor types llama-quantize picks for the same type: norms, router and expert bias stay F32; the _m \
            mixtures give output.weight, part of attn_qkv and of ffn_down Q6_K; rows a block does not divide fall back \
            to Q5_0 / Q5_1 / Q8_0 / F16 as llama.cpp does. Memory: the source stays memory-mapped and a few MiB of \
            buffers per thread; the output goes to FILE.partial and is renamed when complete.
            """)

    @Option(help: "Checkpoint folder (config.json, safetensors in bf16, f32 or FP8-E4M3 with block scales, tokenizer.json), or a Hugging Face repository ORG/NAME[@REVISION].")
    var model: String
    @OptionGroup var hub: HubOptions

    @Option(help: "Quantization: q8_0, q4_k_m, q5_k_m or q6_k.")
    var type: String

    @Option(help: "Output .gguf file.")
    var out: String

    @Option(help: "Quantizing threads (default: the active processor count).")
    var threads: Int?

    mutating func validate() throws {
        model = try hub.resolve(model)
        guard GGUFMixture(rawValue: type.lowercased()) != nil else {
            throw ValidationError("--type must be one of: " + GGUFMixture.allCases.map(\.rawValue).joined(separator: ", "))
        }
        if let threads, threads < 1 { throw ValidationError("--threads must be >= 1") }
        guard GGUFCheckpoint.isGGUFPath(out) else { throw ValidationError("--out must end in .gguf") }
    }

    func run() throws {
        guard let mixture = GGUFMixture(rawValue: type.lowercased()) else { throw ValidationError("--type \(type) is unknown") }
        let start = Date()
        let export = try GGUFExport(directory: model, target: .mixture(mixture))
        var counts: [String: Int] = [:]
        for planned in export.tensors { counts[planned.tensor.type.description, default: 0] += 1 }
        let summary = counts.sorted { $0.value > $1.value || ($0.value == $1.value && $0.key < $1.key) }
            .map { "\($0.key): \($0.value)" }.joined(separator: ", ")
        let total = export.dataByteCount
        FileHandle.standardError.write(Data(String(format: "quantizing %@ to %@ (%@): %d tensors (%@), %.2f GiB of data\n",
                                                   model, out, mixture.rawValue, export.tensors.count, summary,
                                                   Double(total) / Double(1 << 30)).utf8))
        let reporter = ProgressReporter(label: "quantizing", unit: .bytes)
        do {
            try export.write(to: out, threadCount: threads ?? ProcessInfo.processInfo.activeProcessorCount) { done, total in
                reporter.update(done: Int64(done), total: Int64(total))
            }
        } catch {
            reporter.finish("quantizing \(model): failed")
            throw error
        }
        reporter.finish()
        print(String(format: "wrote %@ (%.2f GiB) in %.1f s", out, Double(total) / Double(1 << 30), Date().timeIntervalSince(start)))
    }
}
