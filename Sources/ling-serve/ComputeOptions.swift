import ArgumentParser
import Tensors

/// `--compute-dtype`, shared by generate, logits, bench and expert-stats (serve reads the same setting from
/// ServeSettings).
struct ComputeOptions: ParsableArguments {
    @Option(name: .customLong("compute-dtype"),
            help: "What the linears multiply the weights with: f32 (activations as computed: matches the reference's f32 run to 1e-4) or bf16 (activations rounded to bf16, as PyTorch and llama.cpp run bf16 checkpoints; AVX512-BF16 dot products where the CPU has them).")
    var computeDtype = ComputeDType.f32.rawValue

    func validate() throws {
        guard ComputeDType(rawValue: computeDtype) != nil else {
            throw ValidationError("--compute-dtype must be one of: " + ComputeDType.allCases.map(\.rawValue).joined(separator: ", "))
        }
    }

    var dtype: ComputeDType { ComputeDType(rawValue: computeDtype) ?? .f32 }
}
