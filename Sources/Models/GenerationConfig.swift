import Foundation
import JSON

/// `generation_config.json`: end-of-sequence ids (an int or a list) and optional sampling defaults.
public struct GenerationConfig: Sendable, Equatable {
    public var eosTokenIds: [Int]
    public var bosTokenId: Int?
    public var padTokenId: Int?
    public var temperature: Double?
    public var topP: Double?
    public var topK: Int?

    public init(eosTokenIds: [Int], bosTokenId: Int? = nil, padTokenId: Int? = nil) {
        self.eosTokenIds = eosTokenIds
        self.bosTokenId = bosTokenId
        self.padTokenId = padTokenId
    }

    /// Reads `DIR/generation_config.json`; when absent, falls back to `config.eos_token_id`.
    public static func load(directory: String, fallback config: ModelConfig) throws(ModelError) -> GenerationConfig {
        let path = directory + "/generation_config.json"
        guard let data = FileManager.default.contents(atPath: path) else {
            return GenerationConfig(eosTokenIds: config.eosTokenId.map { [$0] } ?? [], bosTokenId: config.bosTokenId,
                                    padTokenId: config.padTokenId)
        }
        return try decode(data, path: path)
    }

    public static func decode(_ data: Data, path: String = "generation_config.json") throws(ModelError) -> GenerationConfig {
        let document: JSONValue
        do { document = try JSONParser.parse([UInt8](data)) } catch {
            throw ModelError("\(path): invalid JSON: \(error.description) at byte \(error.offset)")
        }
        guard case .object(let object) = document else { throw ModelError("\(path): top level is not an object") }
        func member(_ field: String) -> JSONValue? {
            guard let value = object[field], value != .null else { return nil }
            return value
        }
        func int(_ field: String) throws(ModelError) -> Int? {
            guard let value = member(field) else { return nil }
            guard let exact = integer(value) else { throw ModelError("\(path): field \"\(field)\" must be an integer") }
            return exact
        }
        func double(_ field: String) throws(ModelError) -> Double? {
            guard let value = member(field) else { return nil }
            guard case .number(let number) = value else { throw ModelError("\(path): field \"\(field)\" must be a number") }
            return number.doubleValue
        }
        var eos: [Int] = []
        switch member("eos_token_id") {
        case nil: break
        case .array(let list)?:
            for item in list {
                guard let id = integer(item) else {
                    throw ModelError("\(path): field \"eos_token_id\" must be an integer or a list of integers")
                }
                eos.append(id)
            }
        case let value?:
            guard let id = integer(value) else {
                throw ModelError("\(path): field \"eos_token_id\" must be an integer or a list of integers")
            }
            eos = [id]
        }
        var config = GenerationConfig(eosTokenIds: eos, bosTokenId: try int("bos_token_id"), padTokenId: try int("pad_token_id"))
        config.temperature = try double("temperature")
        config.topP = try double("top_p")
        config.topK = try int("top_k")
        return config
    }

    /// End ids of a GGUF file: tokenizer.ggml.eos_token_id, and the end-of-turn / end-of-message ids when present.
    public init(gguf file: GGUFFile, config: ModelConfig) {
        var eos: [Int] = []
        for key in ["tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id"] {
            if let id = file.metadata[key]?.int, !eos.contains(id) { eos.append(id) }
        }
        self.init(eosTokenIds: eos, bosTokenId: config.bosTokenId, padTokenId: config.padTokenId)
    }
}

/// An integer-valued JSON number that fits in Int (`7` or `7.0`), else nil.
private func integer(_ value: JSONValue) -> Int? {
    switch value {
    case .number(.int(let integer)): return Int(exactly: integer)
    case .number(.double(let double)): return Int(exactly: double)
    default: return nil
    }
}
