import Foundation
import JSON
import Tokenizers

/// A byte-level BPE tokenizer.json / tokenizer_config.json in Ling's format for random-weight checkpoints: Ling's
/// pre-tokenizer (NFC, Split on Ling's regex, ByteLevel without regex), the 256 byte tokens, merges filling ids up to
/// 156890, and Ling's special tokens at Ling's ids (156891 <|startoftext|> ... 157152 </role>).
enum RandomTokenizer {
    /// Ling's added tokens: (id, content, special).
    static var addedTokens: [(Int, String, Bool)] {
        var tokens: [(Int, String, Bool)] = [
            (156891, "<|startoftext|>", true), (156892, "<|endoftext|>", true), (156893, "[CLS]", true),
            (156894, "[gMASK]", true), (156895, "<|role_end|>", true), (156896, "<tool_call>", false),
            (156897, "</tool_call>", false), (156898, "<tool_response>", false), (156899, "</tool_response>", false),
        ]
        for i in 5...255 { tokens.append((156895 + i, "<|reserved_token_\(i)|>", true)) }
        tokens.append((157151, "<role>", true))
        tokens.append((157152, "</role>", true))
        return tokens
    }

    static let lastBPEId = 156_890

    /// The one-character byte-level spelling of each byte (GPT-2's alphabet).
    static func byteCharacters() -> [String] { (0..<256).map { ByteLevelAlphabet.encode([UInt8($0)]) } }

    static func write(to directory: String) throws(ModelError) {
        let bytes = byteCharacters()
        var known = Set<String>()
        var ordered: [String] = []   // token of id i
        for b in 0..<256 {
            known.insert(bytes[b])
            ordered.append(bytes[b])
        }
        // Merges: pairs of byte tokens in a letter-first order, then (two-byte token, byte) until the id space is full.
        var priority: [Int] = "etaoinsrhldcumfpgwybvkxjqz".utf8.map { Int($0) }
        priority += "ETAOINSRHLDCUMFPGWYBVKXJQZ".utf8.map { Int($0) }
        priority += [32] + Array(48...57)
        let listed = Set(priority)
        priority += (0..<256).filter { !listed.contains($0) }
        var merges: [String] = []
        var pairs: [String] = []
        outer: for a in priority {
            for b in priority {
                if ordered.count > lastBPEId { break outer }
                let token = bytes[a] + bytes[b]
                known.insert(token)
                ordered.append(token)
                merges.append(bytes[a] + " " + bytes[b])
                pairs.append(token)
            }
        }
        var pairIndex = 0
        outer2: while ordered.count <= lastBPEId {
            let left = pairs[pairIndex]
            for c in priority {
                if ordered.count > lastBPEId { break outer2 }
                let token = left + bytes[c]
                if !known.insert(token).inserted { continue }
                ordered.append(token)
                merges.append(left + " " + bytes[c])
            }
            pairIndex += 1
        }
        var vocab = JSONObject()
        for (id, token) in ordered.enumerated() { vocab[token] = .int(id) }
        let model: JSONValue = [
            "type": "BPE", "dropout": nil, "unk_token": nil, "continuing_subword_prefix": nil, "end_of_word_suffix": nil,
            "fuse_unk": false, "byte_fallback": false, "ignore_merges": false, "vocab": .object(vocab),
            "merges": .array(merges.map(JSONValue.string)),
        ]
        let added: [JSONValue] = addedTokens.map { id, content, special in
            ["id": .int(id), "content": .string(content), "single_word": false, "lstrip": false, "rstrip": false,
             "normalized": false, "special": .bool(special)]
        }
        let regex = #"(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]++[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+"#
        let tokenizer: JSONValue = [
            "version": "1.0",
            "truncation": nil,
            "padding": nil,
            "added_tokens": .array(added),
            "normalizer": ["type": "NFC"],
            "pre_tokenizer": ["type": "Sequence", "pretokenizers": [
                ["type": "Split", "pattern": ["Regex": .string(regex)], "behavior": "Isolated", "invert": false],
                ["type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false],
            ]],
            "post_processor": ["type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": false],
            "decoder": ["type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false],
            "model": model,
        ]
        var decoderMap = JSONObject()
        for (id, content, special) in addedTokens {
            decoderMap[String(id)] = ["content": .string(content), "lstrip": false, "normalized": false, "rstrip": false,
                                      "single_word": false, "special": .bool(special)]
        }
        let config: JSONValue = [
            "tokenizer_class": "PreTrainedTokenizerFast", "add_bos_token": false, "add_eos_token": false,
            "bos_token": "<|startoftext|>", "eos_token": "<|role_end|>", "pad_token": "<|endoftext|>", "cls_token": "[CLS]",
            "gmask_token": "[gMASK]", "model_max_length": 32768, "clean_up_tokenization_spaces": false,
            "added_tokens_decoder": .object(decoderMap), "chat_template": .string(LingChatTemplate.text),
        ]
        let specialMap: JSONValue = ["bos_token": "<|startoftext|>", "eos_token": "<|role_end|>", "pad_token": "<|endoftext|>",
                                     "cls_token": "[CLS]", "gmask_token": "[gMASK]"]
        do {
            try Data(tokenizer.compactJSON().utf8).write(to: URL(fileURLWithPath: directory + "/tokenizer.json"))
            try Data(config.pythonDumps(RandomCheckpoint.fileFormat).utf8)
                .write(to: URL(fileURLWithPath: directory + "/tokenizer_config.json"))
            try Data(specialMap.pythonDumps(RandomCheckpoint.fileFormat).utf8)
                .write(to: URL(fileURLWithPath: directory + "/special_tokens_map.json"))
        } catch { throw ModelError("\(directory): cannot write the tokenizer: \(error.localizedDescription)") }
    }
}
