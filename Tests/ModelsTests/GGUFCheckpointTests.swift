import Foundation
import Models
import Testing

/// Writes a reference checkpoint as a `bailingmoe2` GGUF through the production writer (`GGUFExport`, the one
/// `ling-serve quantize` uses) with the source types kept (F32 / BF16; norms, router and bias in F32), so the logits
/// must be the safetensors checkpoint's. The fixtures carry no tokenizer, so the file has no tokenizer metadata.
enum GGUFConversion {
    static func write(fixture directory: String, to path: String) throws {
        try GGUFExport(directory: directory, target: .sourceTypes, tokenizer: false).write(to: path)
    }
}

@Suite("GGUF checkpoints")
struct GGUFCheckpointTests {
    @Test("a GGUF of the same weights gives the same logits bits as the safetensors checkpoint", arguments: ReferenceFixture.names)
    func sameLogits(name: String) throws {
        let fixture = try ReferenceFixture.load(name)
        let path = NSTemporaryDirectory() + "lingserve-\(name)-\(getpid()).gguf"
        try GGUFConversion.write(fixture: fixture.directory, to: path)
        defer { unlink(path) }
        let reference = try LingModel(directory: fixture.directory, threadCount: 2)
        let gguf = try LingModel(directory: path, threadCount: 2)
        #expect(gguf.config.layerCount == reference.config.layerCount)
        #expect(gguf.config.rotaryDimension == reference.config.rotaryDimension)
        #expect(gguf.hasMTP == reference.hasMTP)
        #expect(gguf.weightFormat.hasPrefix("GGUF ("), "\(gguf.weightFormat)")
        var compared = 0
        for prompt in fixture.prompts {
            let ids = ints(prompt["input_ids"])
            guard ids.count >= 2 else { continue }
            compared += 1
            let sa = try Session(model: reference), sb = try Session(model: gguf)
            let a = try sa.run(ids, all: true, hidden: true)
            let b = try sb.run(ids, all: true, hidden: true)
            #expect(a.logits == b.logits && a.hidden == b.hidden, "\(name): logits differ")
            if reference.hasMTP {
                let ma = try sa.mtp(tokens: ids, hidden: a.hidden)
                let mb = try sb.mtp(tokens: ids, hidden: b.hidden)
                #expect(ma.logits == mb.logits, "\(name): MTP logits differ")
            }
        }
        #expect(compared >= 1)
    }

    @Test("missing and wrong metadata keys are named")
    func badMetadata() throws {
        let fixture = try ReferenceFixture.load("release-bf16")
        let path = NSTemporaryDirectory() + "lingserve-meta-\(getpid()).gguf"
        try GGUFConversion.write(fixture: fixture.directory, to: path)
        defer { unlink(path) }
        let original = try Data(contentsOf: URL(fileURLWithPath: path))
        func loadError(_ data: Data) -> String {
            try? data.write(to: URL(fileURLWithPath: path))
            do { _ = try LingModel(directory: path, threadCount: 1); return "" } catch { return error.description }
        }
        // Rename a key (same length) so it is missing.
        var missing = original
        if let r = missing.range(of: Data("bailingmoe2.expert_count".utf8)) {
            missing.replaceSubrange(r, with: Data("bailingmoe2.expert_xxxxx".utf8))
        }
        #expect(loadError(missing).contains("metadata bailingmoe2.expert_count is missing"))
        try original.write(to: URL(fileURLWithPath: path))
        #expect(loadError(original) == "")
    }
}
