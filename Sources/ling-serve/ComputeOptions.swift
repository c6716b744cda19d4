import ArgumentParser
import Tensors

/// `--compute-dtype`, shared by generate, logits, bench and expert-stats (serve reads the same setting from
/// ServeSettings).
struct ComputeOptions: ParsableArguments {
    @Option(name: .customLong("compute-dtype"),
            help: ArgumentHelp(ComputeOptions.help))
    var computeDtype = ComputeSetting.auto.rawValue

    static let help = "What the linears multiply the weights with: auto (default: int8 over Q8_0 weights, bf16 over bf16 weights on a CPU with AVX512-BF16 or AMX, else f32), f32 (activations as computed: matches the reference's f32 run to 1e-4; Q8_0 weights dequantized exactly), bf16 (activations rounded to bf16, as PyTorch and llama.cpp run bf16 checkpoints; AVX512-BF16 dot products or AMX tiles where the CPU has them) or int8 (Q8_0 weights: activations quantized per block of 32, as llama.cpp does; integer dot products, AVX512-VNNI where the CPU has it)."

    func validate() throws {
        guard ComputeSetting(rawValue: computeDtype) != nil else {
            throw ValidationError("--compute-dtype must be one of: " + ComputeSetting.allCases.map(\.rawValue).joined(separator: ", "))
        }
    }

    var setting: ComputeSetting { ComputeSetting(rawValue: computeDtype) ?? .auto }
}
