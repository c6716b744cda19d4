import Foundation

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
        let object: Any
        do { object = try JSONSerialization.jsonObject(with: data) } catch { throw ModelError("\(path): invalid JSON: \(error)") }
        guard let dictionary = object as? [String: Any] else { throw ModelError("\(path): top level is not an object") }
        func int(_ field: String) throws(ModelError) -> Int? {
            guard let value = dictionary[field], !(value is NSNull) else { return nil }
            guard let number = value as? NSNumber, let exact = Int(exactly: number.doubleValue) else {
                throw ModelError("\(path): field \"\(field)\" must be an integer")
            }
            return exact
        }
        func double(_ field: String) throws(ModelError) -> Double? {
            guard let value = dictionary[field], !(value is NSNull) else { return nil }
            guard let number = value as? NSNumber else { throw ModelError("\(path): field \"\(field)\" must be a number") }
            return number.doubleValue
        }
        var eos: [Int] = []
        switch dictionary["eos_token_id"] {
        case nil, is NSNull: break
        case let list as [Any]:
            for item in list {
                guard let number = item as? NSNumber, let id = Int(exactly: number.doubleValue) else {
                    throw ModelError("\(path): field \"eos_token_id\" must be an integer or a list of integers")
                }
                eos.append(id)
            }
        case let number as NSNumber:
            guard let id = Int(exactly: number.doubleValue) else { throw ModelError("\(path): field \"eos_token_id\" must be an integer") }
            eos = [id]
        default: throw ModelError("\(path): field \"eos_token_id\" must be an integer or a list of integers")
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
