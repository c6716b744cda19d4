import Foundation
import Models
import Testing

@Suite("make-model random checkpoints")
struct RandomCheckpointTests {
    @Test("a tiny random checkpoint loads, runs, and shards to the same weights")
    func tinyCheckpoint() throws {
        let single = try CheckpointCopy("random-single")
        let sharded = try CheckpointCopy("random-sharded")
        defer {
            single.remove()
            sharded.remove()
        }
        var writer = RandomCheckpoint(preset: .tiny, layerCount: 2, expertCount: 8, dtype: "bf16", seed: 7)
        try writer.write(to: single.directory)
        writer.shardByteLimit = 8 << 20
        try writer.write(to: sharded.directory)
        #expect(FileManager.default.fileExists(atPath: sharded.directory + "/model.safetensors.index.json"))

        let model = try LingModel(directory: single.directory, threadCount: 1)
        #expect(model.hasMTP && model.config.layerCount == 2 && model.config.expertCount == 8)
        #expect(model.config.weightDTypeName == "bfloat16" && model.config.vocabSize == 157_184)
        #expect(model.generationConfig.eosTokenIds == [156_892, 156_895])
        #expect(model.checkpoint?.entries["model.layers.1.mlp.gate.expert_bias"]?.dtypeName == "F32")
        let shardedModel = try LingModel(directory: sharded.directory, threadCount: 1)
        #expect((shardedModel.checkpoint?.files.count ?? 0) > 1)

        let tokens = [156_891, 100, 2_000, 157_151, 30_000]
        let out = try Session(model: model).run(tokens, all: true, hidden: true)
        let outSharded = try Session(model: shardedModel).run(tokens, all: true)
        #expect(out.logits == outSharded.logits)
        #expect(out.logits.allSatisfy(\.isFinite) && Set(out.logits).count > 100)
        let mtp = try Session(model: model).mtp(tokens: tokens, hidden: out.hidden)
        #expect(mtp.rowCount == tokens.count - 1 && mtp.logits.allSatisfy(\.isFinite))

        let tokenizerData = try Data(contentsOf: URL(fileURLWithPath: single.directory + "/tokenizer.json"))
        let tokenizer = try #require(try JSONSerialization.jsonObject(with: tokenizerData) as? [String: Any])
        let added = tokenizer["added_tokens"] as? [[String: Any]] ?? []
        let ids = Dictionary(uniqueKeysWithValues: added.compactMap { entry -> (String, Int)? in
            guard let content = entry["content"] as? String, let id = entry["id"] as? Int else { return nil }
            return (content, id)
        })
        #expect(ids["<|startoftext|>"] == 156_891 && ids["<|endoftext|>"] == 156_892 && ids["<|role_end|>"] == 156_895)
        #expect(ids["<role>"] == 157_151 && ids["</role>"] == 157_152 && ids["[gMASK]"] == 156_894)
        let vocab = (tokenizer["model"] as? [String: Any])?["vocab"] as? [String: Int] ?? [:]
        #expect(vocab.count == 156_891 && vocab.values.max() == 156_890)
    }
}
