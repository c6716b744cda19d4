import Foundation
import Models
import Testing

@Suite("Corrupt checkpoints and configs give clear errors")
struct CorruptCheckpointTests {
    /// Loads `directory` and returns the error message (nil when it loads).
    func loadError(_ directory: String) -> String? {
        do {
            _ = try LingModel(directory: directory, threadCount: 1)
            return nil
        } catch {
            return error.description
        }
    }

    func copyEditingConfig(_ label: String, _ editConfig: @escaping (inout [String: Any]) -> Void) throws -> CheckpointCopy {
        try copy(label, editConfig: editConfig)
    }

    func copy(_ label: String, items edit: (inout [CheckpointCopy.Item]) -> Void = { _ in },
              editConfig: ((inout [String: Any]) -> Void)? = nil) throws -> CheckpointCopy {
        let fixture = try ReferenceFixture.load("release-bf16")
        let copy = try CheckpointCopy(label)
        try copy.copyConfigs(from: fixture.directory, editConfig: editConfig)
        var items = try CheckpointCopy.items(of: fixture.directory)
        edit(&items)
        try copy.write(items)
        return copy
    }

    @Test("the unmodified copy loads")
    func control() throws {
        let copy = try copy("control")
        defer { copy.remove() }
        #expect(loadError(copy.directory) == nil)
    }

    @Test("truncated file")
    func truncated() throws {
        let copy = try copy("truncated")
        defer { copy.remove() }
        let path = copy.directory + "/model.safetensors"
        let size = try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int ?? 0
        #expect(truncate(path, off_t(size / 2)) == 0)
        let message = loadError(copy.directory) ?? ""
        #expect(message.contains("model.safetensors") && message.contains("past the end"), "\(message)")
        #expect(truncate(path, 4) == 0)
        let short = loadError(copy.directory) ?? ""
        #expect(short.contains("truncated"), "\(short)")
    }

    @Test("header that is not JSON")
    func badHeader() throws {
        let copy = try copy("bad-header")
        defer { copy.remove() }
        let path = copy.directory + "/model.safetensors"
        let handle = try #require(FileHandle(forUpdatingAtPath: path))
        try handle.seek(toOffset: 8)
        try handle.write(contentsOf: Data("}{oops".utf8))
        try handle.close()
        let message = loadError(copy.directory) ?? ""
        #expect(message.contains("model.safetensors") && message.contains("not valid JSON"), "\(message)")
    }

    @Test("data_offsets that disagree with dtype and shape")
    func spanMismatch() throws {
        let copy = try copy("span")
        defer { copy.remove() }
        // Patch the header in place: the shape claims one element fewer than data_offsets span.
        let path = copy.directory + "/model.safetensors"
        var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        let original = Data("\"model.norm.weight\":{\"dtype\":\"BF16\",\"shape\":[96]".utf8)
        let range = try #require(bytes.range(of: original))
        bytes.replaceSubrange(range, with: Data("\"model.norm.weight\":{\"dtype\":\"BF16\",\"shape\":[95]".utf8))
        try bytes.write(to: URL(fileURLWithPath: path))
        let message = loadError(copy.directory) ?? ""
        #expect(message.contains("model.norm.weight") && message.contains("data_offsets span"), "\(message)")
    }

    @Test("wrong shape names the tensor")
    func wrongShape() throws {
        let copy = try copy("shape") { items in
            if let i = items.firstIndex(where: { $0.name == "model.layers.0.attention.query_key_value.weight" }) {
                items[i].shape = [items[i].shape[1], items[i].shape[0]]
            }
        }
        defer { copy.remove() }
        let message = loadError(copy.directory) ?? ""
        #expect(message.contains("model.layers.0.attention.query_key_value.weight") && message.contains("expected [160, 96]"), "\(message)")
    }

    @Test("missing tensor names the tensor")
    func missingTensor() throws {
        let copy = try copy("missing") { items in items.removeAll { $0.name == "model.layers.2.mlp.experts.5.up_proj.weight" } }
        defer { copy.remove() }
        let message = loadError(copy.directory) ?? ""
        #expect(message.contains("missing tensor model.layers.2.mlp.experts.5.up_proj.weight"), "\(message)")
    }

    @Test("unknown extra tensor is rejected, a rotary table is ignored")
    func extraTensor() throws {
        let copy = try copy("extra") { items in items.append(.f32("model.layers.0.mystery.weight", [2], [1, 2])) }
        defer { copy.remove() }
        let message = loadError(copy.directory) ?? ""
        #expect(message.contains("unexpected tensor model.layers.0.mystery.weight"), "\(message)")
        let ignorable = try self.copy("rotary") { items in items.append(.f32("model.layers.0.attention.rotary_emb.inv_freq", [4], [1, 2, 3, 4])) }
        defer { ignorable.remove() }
        #expect(loadError(ignorable.directory) == nil)
    }

    @Test("bad config fields are named", arguments: [
        ("num_experts_per_tok", "\"eight\""), ("n_group", "5"), ("hidden_act", "\"gelu\""), ("num_attention_heads", "0"),
        ("architectures", "[\"LlamaForCausalLM\"]"), ("rope_scaling", "{\"type\": \"dynamic\", \"factor\": 2.0}"),
    ])
    func badConfig(field: String, json: String) throws {
        let value = try JSONSerialization.jsonObject(with: Data(json.utf8), options: [.fragmentsAllowed])
        let copy = try copyEditingConfig("config") { config in config[field] = value }
        defer { copy.remove() }
        let message = loadError(copy.directory) ?? ""
        let named = field == "rope_scaling" ? "rope_scaling.type" : field
        #expect(message.contains("config.json") && message.contains(named), "\(message)")
    }

    @Test("missing config field and torch_dtype spelling")
    func configFields() throws {
        let missing = try copyEditingConfig("missing-field") { config in config.removeValue(forKey: "hidden_size") }
        defer { missing.remove() }
        #expect((loadError(missing.directory) ?? "").contains("hidden_size"))
        let legacy = try copyEditingConfig("torch-dtype") { config in
            config["torch_dtype"] = config.removeValue(forKey: "dtype")
        }
        defer { legacy.remove() }
        #expect(loadError(legacy.directory) == nil)
        let config = try ModelConfig.load(directory: legacy.directory)
        #expect(config.weightDTypeName == "bfloat16" && config.rotaryDimension == 8)
    }

    @Test("generation_config eos ids may be an int or a list")
    func generationConfig() throws {
        #expect(try GenerationConfig.decode(Data("{\"eos_token_id\": 7}".utf8)).eosTokenIds == [7])
        #expect(try GenerationConfig.decode(Data("{\"eos_token_id\": [7, 9]}".utf8)).eosTokenIds == [7, 9])
        #expect(throws: ModelError.self) { try GenerationConfig.decode(Data("{\"eos_token_id\": \"x\"}".utf8)) }
    }
}
