import Foundation
import JSON

/// The pre-tokenizer pipelines a vocabulary-only description (a GGUF file's `tokenizer.ggml.pre`) can name.
public enum BytePairPreset: String, Sendable {
    /// Ling 2.0 (llama.cpp `bailingmoe2` / `bailingmoe`): NFC, Ling's split regex (isolated), byte-level without a
    /// prefix space, byte-level decoding; exactly what Ling's tokenizer.json declares.
    case ling = "bailingmoe2"
    /// GPT-2: byte-level with GPT-2's regex, no prefix space.
    case gpt2 = "gpt2"

    /// llama.cpp's `tokenizer.ggml.pre` names mapped onto a preset; nil for one LingServe does not implement.
    public init?(ggmlPre: String) {
        switch ggmlPre {
        case "bailingmoe2", "bailingmoe": self = .ling
        case "gpt2", "default": self = .gpt2
        default: return nil
        }
    }
}

/// Token roles of a vocabulary-only description (llama.cpp's `tokenizer.ggml.token_type`).
public enum VocabularyTokenType: Int, Sendable {
    case normal = 1, unknown = 2, control = 3, userDefined = 4, unused = 5, byte = 6
}

extension Tokenizer {
    /// A byte-level BPE tokenizer from its parts, as a GGUF file stores them: `tokens[id]` (byte-level spellings),
    /// `merges` ("left right", in rank order), `tokenTypes[id]` (control tokens become special added tokens,
    /// user-defined ones plain added tokens), and the pipeline `preset`. Built through the same loader as
    /// tokenizer.json, so the ids are those of the equivalent tokenizer.json. `source` names the origin in errors.
    public convenience init(tokens: [String], merges: [String], tokenTypes: [Int]?, preset: BytePairPreset,
                            bosId: Int? = nil, eosId: Int? = nil, padId: Int? = nil, source: String) throws {
        if let tokenTypes, tokenTypes.count != tokens.count {
            throw TokenizerError("\(source): token_type has \(tokenTypes.count) entries for \(tokens.count) tokens")
        }
        var vocab = JSONObject()
        var added: [JSONValue] = []
        for (id, token) in tokens.enumerated() {
            let type = tokenTypes.map { VocabularyTokenType(rawValue: $0[id]) ?? .normal } ?? .normal
            switch type {
            case .control, .userDefined:
                added.append([
                    "id": .int(id), "content": .string(token), "single_word": false, "lstrip": false, "rstrip": false,
                    "normalized": .bool(type == .userDefined), "special": .bool(type == .control),
                ])
            default:
                break
            }
            if let first = vocab[token] {
                if type != .control && type != .userDefined {
                    throw TokenizerError("\(source): token \(token.debugDescription) appears twice (ids \(first) and \(id))")
                }
            } else {
                vocab[token] = .int(id)
            }
        }
        var mergePairs: [JSONValue] = []
        mergePairs.reserveCapacity(merges.count)
        for (rank, merge) in merges.enumerated() {
            let parts = merge.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                throw TokenizerError("\(source): merge #\(rank) \(merge.debugDescription) is not \"left right\"")
            }
            mergePairs.append([.string(String(parts[0])), .string(String(parts[1]))])
        }
        let preTokenizer: JSONValue
        let normalizer: JSONValue
        switch preset {
        case .ling:
            normalizer = ["type": "NFC"]
            preTokenizer = ["type": "Sequence", "pretokenizers": [
                ["type": "Split", "pattern": ["Regex": .string(GPTPatternScanner.lingPattern)], "behavior": "Isolated", "invert": false],
                ["type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false],
            ]]
        case .gpt2:
            normalizer = .null
            preTokenizer = ["type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true]
        }
        let json: JSONValue = [
            "version": "1.0", "added_tokens": .array(added), "normalizer": normalizer, "pre_tokenizer": preTokenizer,
            "post_processor": ["type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": false],
            "decoder": ["type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true],
            "model": ["type": "BPE", "dropout": nil, "unk_token": nil, "fuse_unk": false, "byte_fallback": false,
                      "ignore_merges": false, "vocab": .object(vocab), "merges": .array(mergePairs)],
        ]
        var config = JSONObject()
        func name(_ id: Int?) -> String? { id.flatMap { $0 >= 0 && $0 < tokens.count ? tokens[$0] : nil } }
        if let bos = name(bosId) { config["bos_token"] = .string(bos) }
        if let eos = name(eosId) { config["eos_token"] = .string(eos) }
        if let pad = name(padId) { config["pad_token"] = .string(pad) }
        let data = Data(json.compactJSON().utf8)
        let configData = Data(JSONValue.object(config).compactJSON().utf8)
        try self.init(tokenizerJSON: data, tokenizerConfigJSON: configData, fileName: source)
    }
}
