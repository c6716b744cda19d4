import Foundation
import Models
import Tensors
import Testing

/// `--compute-dtype bf16` (activations rounded to bf16 in every linear but the router) on the bf16 reference
/// checkpoint, compared as the reference README prescribes for a bf16-compute port: against the `f32` run with
/// loose tolerances (cosine similarity, top-k overlap, max abs error), since exact agreement is not expected. For
/// scale: the official code's own `native` (bf16) run differs from its `f32` run by 0.05-0.13 per position.
/// On a CPU with AVX512-BF16 this runs the VDPBF16PS kernels, elsewhere the f32 kernels on the rounded values.
@Suite("bf16 compute against the PyTorch reference (release-bf16)")
struct BF16ComputeReferenceTests {
    static func model(threads: Int = 1) throws -> LingModel {
        try LingModel(directory: try ReferenceFixture.load("release-bf16").directory, threadCount: threads, compute: .bf16)
    }

    @Test("compute-dtype auto: bf16 over this bf16 checkpoint exactly where the CPU multiplies bf16 in hardware, else f32")
    func autoCompute() throws {
        let model = try LingModel(directory: try ReferenceFixture.load("release-bf16").directory, threadCount: 1,
                                  compute: .auto)
        #expect(model.computeDType == (Kernels.bf16DotProducts(for: .bf16) ? .bf16 : .f32))
        #expect(ComputeSetting.auto.resolved(weightDType: .f32) == .f32)
        #expect(ComputeSetting.auto.resolved(weightDType: .fp8E4M3) == .f32)
        #expect(ComputeSetting.f32.resolved(weightDType: .bf16) == .f32)
        #expect(ComputeSetting.bf16.resolved(weightDType: .f32) == .bf16)
    }

    @Test("last-position logits of every prompt: cosine >= 0.9999 and max abs <= 0.08 against f32, same top-1, top-5")
    func lastLogits() throws {
        let fixture = try ReferenceFixture.load("release-bf16")
        let model = try Self.model()
        #expect(model.computeDType == .bf16)
        for prompt in fixture.prompts {
            let label = prompt["name"] as? String ?? ""
            let out = try Session(model: model).run(ints(prompt["input_ids"]))
            let ours = Array(out.row(0))
            let f32 = floats((prompt["f32"] as? [String: Any])?["last_logits"])
            let native = floats((prompt["native"] as? [String: Any])?["last_logits"])
            #expect(cosine(ours, f32) >= 0.9999, "\(label): cosine \(cosine(ours, f32)) against f32")
            #expect(cosine(ours, native) >= 0.9999, "\(label): cosine \(cosine(ours, native)) against native")
            #expect(maxAbsDifference(ours, f32) <= 0.08, "\(label): max abs \(maxAbsDifference(ours, f32)) against f32")
            #expect(argmax(ours) == argmax(f32), "\(label): top-1")
            #expect(topIds(ours, 5) == topIds(f32, 5), "\(label): top-5")
            // Not the f32 run's bits: the rounding is really applied.
            #expect(maxAbsDifference(ours, f32) > 1e-4, "\(label): bf16 compute should differ from f32 compute")
        }
    }

    @Test("every position and MTP row of the short prompt: no further from f32 than the official bf16 run")
    func allPositions() throws {
        let fixture = try ReferenceFixture.load("release-bf16")
        let model = try Self.model()
        let ids = ints(fixture.allPositions["input_ids"])
        let f32 = fixture.allPositions["f32"] as? [String: Any] ?? [:]
        let native = fixture.allPositions["native"] as? [String: Any] ?? [:]
        let session = try Session(model: model)
        let out = try session.run(ids, all: true, hidden: true)
        let mtp = try session.mtp(tokens: ids, hidden: out.hidden)
        for (rows, key, label) in [(out, "logits", "logits"), (mtp, "mtp_logits_valid_rows", "MTP")] {
            let expected = floatRows(f32[key])
            let official = floatRows(native[key])
            #expect(rows.rowCount == expected.count && official.count == expected.count)
            let count = min(rows.rowCount, expected.count, official.count)
            let ours = (0..<count).map { cosine(Array(rows.row($0)), expected[$0]) }
            let theirs = (0..<count).map { cosine(official[$0], expected[$0]) }
            // Where bf16 rounding flips an expert choice (2 of 23 positions in the official run) a row moves
            // further; elsewhere rows stay within 2e-4 of f32 in cosine.
            #expect((ours.min() ?? 0) >= (theirs.min() ?? 1) - 0.005, "\(label): worst cosine \(ours.min() ?? 0), official \(theirs.min() ?? 0)")
            #expect(ours.sorted()[count / 2] >= 0.9998, "\(label): median cosine \(ours.sorted()[count / 2])")
            let sameTop1 = (0..<count).filter { argmax(rows.row($0)) == argmax(expected[$0]) }.count
            let officialTop1 = (0..<count).filter { argmax(official[$0]) == argmax(expected[$0]) }.count
            #expect(sameTop1 >= officialTop1, "\(label): top-1 agrees at \(sameTop1) of \(count), official \(officialTop1)")
        }
    }

    @Test("greedy continuation of every prompt with the KV cache: the reference's f32 tokens while their margin allows")
    func greedy() throws {
        let fixture = try ReferenceFixture.load("release-bf16")
        let model = try Self.model(threads: 2)
        var identical = 0
        var officialIdentical = 0  // the official code's own bf16 run against its f32 run
        for prompt in fixture.prompts {
            let f32 = prompt["f32"] as? [String: Any] ?? [:]
            let expected = ints(f32["greedy_kv_cache_ids"])
            if ints((prompt["native"] as? [String: Any])?["greedy_kv_cache_ids"]) == expected { officialIdentical += 1 }
            let session = try Session(model: model)
            var context = ints(prompt["input_ids"])
            var out = try session.run(context)
            var generated: [Int] = []
            for _ in expected.indices {
                let next = argmax(out.row(0))
                generated.append(next)
                out = try session.run([next], start: context.count)
                context.append(next)
            }
            // The first token follows the last-position logits checked above; later ones may part ways at a
            // near-tie (the reference's smallest top-1/top-2 margin is 2.9e-3, under bf16 rounding noise).
            #expect(generated.first == expected.first, "\(prompt["name"] ?? ""): first greedy token")
            if generated == expected { identical += 1 }
        }
        // The bar is the official bf16 run's (1 of 5 here); the dot-product kernel gives 4, AMX tiles 3 (their sums run
        // in another order: each is one rounding path among many equally valid ones).
        #expect(officialIdentical >= 1 && identical >= officialIdentical,
                "greedy continuations identical for \(identical) of \(fixture.prompts.count), official bf16 \(officialIdentical)")
    }
}

func cosine(_ a: [Float], _ b: [Float]) -> Double {
    guard a.count == b.count, !a.isEmpty else { return 0 }
    var dot = 0.0, na = 0.0, nb = 0.0
    for (x, y) in zip(a, b) {
        dot += Double(x) * Double(y)
        na += Double(x) * Double(x)
        nb += Double(y) * Double(y)
    }
    return dot / (na.squareRoot() * nb.squareRoot())
}

/// The k largest ids, as a set.
func topIds(_ row: [Float], _ k: Int) -> Set<Int> {
    Set(row.indices.sorted { row[$0] > row[$1] || (row[$0] == row[$1] && $0 < $1) }.prefix(k))
}
