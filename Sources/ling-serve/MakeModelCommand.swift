import ArgumentParser
import Foundation
import Models

/// `ling-serve make-model`: a random-weight checkpoint with real Ling 2.0 shapes, in the Hugging Face layout.
struct MakeModelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "make-model",
        abstract: "Write a random-weight Ling 2.0 checkpoint (HF layout, MTP layer, tokenizer) for tests and benchmarks.")

    @Option(help: "Shape preset: tiny, ling-mini-2.0 or ling-flash-2.0.")
    var like: String

    @Option(help: "Decoder layers (default: the preset's). The MTP layer is added on top.")
    var layers: Int?

    @Option(help: "Routed experts per MoE layer (default: the preset's).")
    var experts: Int?

    @Option(help: "Weight dtype: bf16 or f32.")
    var dtype: String

    @Option(help: "Random seed.")
    var seed: UInt64

    @Option(help: "Output folder (created).")
    var out: String

    func validate() throws {
        guard RandomCheckpoint.Preset(rawValue: like) != nil else {
            throw ValidationError("--like must be one of: " + RandomCheckpoint.Preset.allCases.map(\.rawValue).joined(separator: ", "))
        }
        guard dtype == "bf16" || dtype == "f32" else { throw ValidationError("--dtype must be bf16 or f32") }
        if let layers, layers < 1 { throw ValidationError("--layers must be >= 1") }
        if let experts, experts < 2 { throw ValidationError("--experts must be >= 2") }
    }

    func run() throws {
        guard let preset = RandomCheckpoint.Preset(rawValue: like) else { throw ValidationError("--like \(like) is unknown") }
        let checkpoint = RandomCheckpoint(preset: preset, layerCount: layers, expertCount: experts, dtype: dtype, seed: seed)
        let showProgress = isatty(STDERR_FILENO) != 0
        var lastPercent = -1
        let start = Date()
        try checkpoint.write(to: out) { written, total in
            let percent = total > 0 ? written * 100 / total : 100
            if showProgress && percent != lastPercent {
                lastPercent = percent
                FileHandle.standardError.write(Data("\rwriting \(out): \(percent)% of \(total >> 20) MiB".utf8))
            }
        }
        if showProgress { FileHandle.standardError.write(Data("\n".utf8)) }
        print(String(format: "wrote %@ in %.1f s", out, Date().timeIntervalSince(start)))
    }
}
