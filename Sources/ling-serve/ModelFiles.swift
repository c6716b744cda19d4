import ChatTemplates
import Foundation
import Models
import Tokenizers

/// The tokenizer and chat template of a `--model`: a checkpoint folder (tokenizer.json, tokenizer_config.json) or a
/// `bailingmoe2` .gguf file, whose metadata carries both (tokenizer.ggml.*, tokenizer.chat_template).
enum ModelFiles {
    /// The model's config and generation defaults: config.json and generation_config.json of a folder, or the
    /// `bailingmoe2.*` and tokenizer metadata of a GGUF file.
    static func configs(_ model: String) throws -> (ModelConfig, GenerationConfig) {
        guard GGUFCheckpoint.isGGUFPath(model) else {
            let config = try ModelConfig.load(directory: model)
            return (config, try GenerationConfig.load(directory: model, fallback: config))
        }
        let file = try GGUFFile(path: model)
        let config = try ModelConfig(gguf: file)
        return (config, GenerationConfig(gguf: file, config: config))
    }

    static func tokenizer(_ model: String) throws -> Tokenizer {
        guard GGUFCheckpoint.isGGUFPath(model) else { return try Tokenizer(directory: model) }
        let file = try GGUFFile(path: model)
        func strings(_ key: String) throws -> [String] {
            guard let values = file.metadata[key]?.array else { throw ModelError("\(model): metadata \(key) is missing or not an array") }
            var result: [String] = []
            result.reserveCapacity(values.count)
            for (index, value) in values.enumerated() {
                guard let s = value.string else { throw ModelError("\(model): metadata \(key)[\(index)] is not a string") }
                result.append(s)
            }
            return result
        }
        let kind = file.metadata["tokenizer.ggml.model"]?.string ?? "(missing)"
        guard kind == "gpt2" else {
            throw ModelError("\(model): metadata tokenizer.ggml.model is \"\(kind)\"; supported: gpt2 (byte-level BPE)")
        }
        let pre = file.metadata["tokenizer.ggml.pre"]?.string ?? "default"
        guard let preset = BytePairPreset(ggmlPre: pre) else {
            throw ModelError("\(model): metadata tokenizer.ggml.pre \"\(pre)\" is not supported (bailingmoe2, gpt2)")
        }
        var types: [Int]? = nil
        if let values = file.metadata["tokenizer.ggml.token_type"]?.array {
            types = try values.enumerated().map { index, value throws -> Int in
                guard let v = value.int else { throw ModelError("\(model): metadata tokenizer.ggml.token_type[\(index)] is not an integer") }
                return v
            }
        }
        return try Tokenizer(tokens: try strings("tokenizer.ggml.tokens"), merges: try strings("tokenizer.ggml.merges"),
                             tokenTypes: types, preset: preset, bosId: file.metadata["tokenizer.ggml.bos_token_id"]?.int,
                             eosId: file.metadata["tokenizer.ggml.eos_token_id"]?.int,
                             padId: file.metadata["tokenizer.ggml.padding_token_id"]?.int, source: model)
    }

    static func chatTemplate(_ model: String) throws -> ChatTemplate {
        guard GGUFCheckpoint.isGGUFPath(model) else { return try ChatTemplate(modelDirectory: URL(fileURLWithPath: model)) }
        let file = try GGUFFile(path: model)
        guard let text = file.metadata["tokenizer.chat_template"]?.string else {
            throw ModelError("\(model): metadata tokenizer.chat_template is missing")
        }
        var special: [String: String] = [:]
        if let tokens = file.metadata["tokenizer.ggml.tokens"]?.array {
            for (key, name) in [("tokenizer.ggml.bos_token_id", "bos_token"), ("tokenizer.ggml.eos_token_id", "eos_token"),
                                ("tokenizer.ggml.padding_token_id", "pad_token")] {
                if let id = file.metadata[key]?.int, id >= 0, id < tokens.count, let s = tokens[id].string { special[name] = s }
            }
        }
        do {
            return ChatTemplate(defaultTemplate: try Template(text), specialTokens: special)
        } catch {
            throw ModelError("\(model): metadata tokenizer.chat_template: \(error.description)")
        }
    }
}
