import Foundation

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

    /// GPT-2 bytes_to_unicode: printable bytes map to themselves, the rest to U+0100 upwards.
    static func byteCharacters() -> [String] {
        var printable = Array(33...126) + Array(161...172) + Array(174...255)
        var codes = printable
        var extra = 0
        for b in 0..<256 where !printable.contains(b) {
            printable.append(b)
            codes.append(256 + extra)
            extra += 1
        }
        var table = [String](repeating: "", count: 256)
        for (b, c) in zip(printable, codes) { table[b] = String(UnicodeScalar(UInt32(c)).map(Character.init) ?? "?") }
        return table
    }

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
        // The BPE model is written by hand (vocab in id order, like tokenizers does); JSONSerialization is far too
        // slow for 157k entries. Byte-level tokens contain no control characters; only " and \ need escaping.
        func quoted(_ text: String) -> String {
            "\"" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
        }
        var model = "{\"type\":\"BPE\",\"dropout\":null,\"unk_token\":null,\"continuing_subword_prefix\":null,"
            + "\"end_of_word_suffix\":null,\"fuse_unk\":false,\"byte_fallback\":false,\"ignore_merges\":false,\"vocab\":{"
        model.reserveCapacity(8 << 20)
        for (id, token) in ordered.enumerated() {
            if id > 0 { model += "," }
            model += quoted(token) + ":" + String(id)
        }
        model += "},\"merges\":["
        for (i, merge) in merges.enumerated() {
            if i > 0 { model += "," }
            model += quoted(merge)
        }
        model += "]}"
        let added: [[String: Any]] = addedTokens.map { id, content, special in
            ["id": id, "content": content, "single_word": false, "lstrip": false, "rstrip": false, "normalized": false,
             "special": special]
        }
        let regex = #"(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]++[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+"#
        let tokenizer: [String: Any] = [
            "version": "1.0",
            "truncation": NSNull(),
            "padding": NSNull(),
            "added_tokens": added,
            "normalizer": ["type": "NFC"],
            "pre_tokenizer": ["type": "Sequence", "pretokenizers": [
                ["type": "Split", "pattern": ["Regex": regex], "behavior": "Isolated", "invert": false],
                ["type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false],
            ]],
            "post_processor": ["type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": false],
            "decoder": ["type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false],
            "model": "@MODEL@",
        ]
        var decoderMap: [String: Any] = [:]
        for (id, content, special) in addedTokens {
            decoderMap[String(id)] = ["content": content, "lstrip": false, "normalized": false, "rstrip": false,
                                      "single_word": false, "special": special]
        }
        let config: [String: Any] = [
            "tokenizer_class": "PreTrainedTokenizerFast", "add_bos_token": false, "add_eos_token": false,
            "bos_token": "<|startoftext|>", "eos_token": "<|role_end|>", "pad_token": "<|endoftext|>", "cls_token": "[CLS]",
            "gmask_token": "[gMASK]", "model_max_length": 32768, "clean_up_tokenization_spaces": false,
            "added_tokens_decoder": decoderMap, "chat_template": LingChatTemplate.text,
        ]
        let specialMap: [String: Any] = ["bos_token": "<|startoftext|>", "eos_token": "<|role_end|>", "pad_token": "<|endoftext|>",
                                         "cls_token": "[CLS]", "gmask_token": "[gMASK]"]
        do {
            let outer = String(decoding: try JSONSerialization.data(withJSONObject: tokenizer, options: [.sortedKeys, .withoutEscapingSlashes]),
                               as: UTF8.self)
            try Data(outer.replacingOccurrences(of: "\"@MODEL@\"", with: model).utf8)
                .write(to: URL(fileURLWithPath: directory + "/tokenizer.json"))
            try JSONSerialization.data(withJSONObject: config, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
                .write(to: URL(fileURLWithPath: directory + "/tokenizer_config.json"))
            try JSONSerialization.data(withJSONObject: specialMap, options: [.prettyPrinted, .sortedKeys])
                .write(to: URL(fileURLWithPath: directory + "/special_tokens_map.json"))
        } catch { throw ModelError("\(directory): cannot write the tokenizer: \(error.localizedDescription)") }
    }
}
