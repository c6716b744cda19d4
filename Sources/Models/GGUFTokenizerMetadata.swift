import Foundation
import JSON

/// The `tokenizer.*` metadata llama.cpp's converter writes for a byte-level BPE checkpoint (`_set_vocab_gpt2`,
/// `get_vocab_base`, gguf-py's `SpecialVocab`), read from tokenizer.json, tokenizer_config.json and config.json:
/// `tokenizer.ggml.model = gpt2`, `.pre` (Ling: `bailingmoe2`), `.tokens` for ids 0..<vocab_size (`[PADn]` for ids
/// the vocabulary leaves empty), `.token_type` (1 normal, 3 control, 4 user-defined, 5 unused), `.merges`, the special
/// token ids, `add_bos_token` / `add_eos_token`, and `tokenizer.chat_template`.
enum GGUFTokenizerMetadata {
    /// gguf-py's special token kinds in its order, with their metadata keys ("seperator" is gguf's spelling). The
    /// converter looks cls up too but its writer has no cls key, so it is never written.
    static let specialKinds: [(kind: String, key: String?)] = [
        ("bos", "bos_token_id"), ("eos", "eos_token_id"), ("unk", "unknown_token_id"), ("sep", "seperator_token_id"),
        ("pad", "padding_token_id"), ("cls", nil), ("mask", "mask_token_id"),
    ]

    static func read(_ path: String) throws(ModelError) -> JSONValue? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        do { return try JSONParser.parse([UInt8](data)) } catch {
            throw ModelError("\(path): invalid JSON: \(error.description)")
        }
    }

    static func entries(directory: String, vocabSize: Int, pre: String) throws(ModelError) -> [(String, GGUFWriter.Value)] {
        let tokenizerPath = directory + "/tokenizer.json"
        guard let tokenizer = try read(tokenizerPath) else {
            throw ModelError("\(directory): no tokenizer.json (the GGUF file carries the tokenizer; copy it next to config.json)")
        }
        let tokenizerConfig = try read(directory + "/tokenizer_config.json")
        let config = try read(directory + "/config.json")
        guard let model = tokenizer["model"], model["type"]?.stringValue ?? "BPE" == "BPE",
              let vocab = model["vocab"]?.objectValue else {
            throw ModelError("\(tokenizerPath): model is not a BPE model with a \"vocab\" object (only byte-level BPE is supported)")
        }
        var byId = [String?](repeating: nil, count: vocabSize)
        func place(_ token: String, _ id: Int, _ what: String) throws(ModelError) {
            guard id >= 0 else { throw ModelError("\(tokenizerPath): \(what) \(token.debugDescription) has negative id \(id)") }
            guard id < vocabSize else {
                throw ModelError("\(tokenizerPath): \(what) \(token.debugDescription) has id \(id), not below vocab_size \(vocabSize)")
            }
            byId[id] = token
        }
        for member in vocab {
            guard let id = member.value.intValue else {
                throw ModelError("\(tokenizerPath): vocab entry \(member.key.debugDescription) is not an integer id")
            }
            try place(member.key, id, "token")
        }
        struct Added { let content: String; let special: Bool; let normalized: Bool }
        var added: [String: Added] = [:]
        var addedIds: [(String, Int)] = []
        for (index, item) in (tokenizer["added_tokens"]?.arrayValue ?? []).enumerated() {
            guard let content = item["content"]?.stringValue, let id = item["id"]?.intValue else {
                throw ModelError("\(tokenizerPath): added_tokens[\(index)] needs \"content\" and an integer \"id\"")
            }
            try place(content, id, "added token")
            added[content] = Added(content: content, special: item["special"]?.boolValue ?? false,
                                   normalized: item["normalized"]?.boolValue ?? true)
            addedIds.append((content, id))
        }
        var tokens: [String] = []
        var types: [Int32] = []
        tokens.reserveCapacity(vocabSize)
        types.reserveCapacity(vocabSize)
        for id in 0..<vocabSize {
            guard let token = byId[id] else {
                tokens.append("[PAD\(id)]")
                types.append(5)
                continue
            }
            if let info = added[token] {
                // The converter round-trips non-normalized added tokens through the tokenizer (an identity for
                // byte-level BPE tokens) and marks special-looking ones as control tokens.
                if info.special || looksSpecial(token) {
                    tokens.append(token)
                    types.append(3)
                } else {
                    tokens.append(token.replacingOccurrences(of: "\u{2581}", with: " "))
                    types.append(4)
                }
            } else {
                tokens.append(token)
                types.append(1)
            }
        }
        var merges: [String] = []
        for (rank, merge) in (model["merges"]?.arrayValue ?? []).enumerated() {
            if let text = merge.stringValue {
                merges.append(text)
            } else if let pair = merge.arrayValue, pair.count == 2, let a = pair[0].stringValue, let b = pair[1].stringValue {
                // gguf-py encodes a space inside a pair member as U+0120, the byte-level spelling of a space.
                func escaped(_ s: String) -> String { s.replacingOccurrences(of: " ", with: "\u{0120}") }
                merges.append(escaped(a) + " " + escaped(b))
            } else {
                throw ModelError("\(tokenizerPath): merges[\(rank)] is neither \"left right\" nor [left, right]")
            }
        }
        if merges.isEmpty { throw ModelError("\(tokenizerPath): model.merges is empty (a BPE tokenizer needs merges)") }

        // Special ids: tokenizer_config.json's *_token (a string or {"content": ...}) looked up among the added
        // tokens first, then config.json's *_token_id; the first value found for a kind wins.
        var special: [(String, Int)] = []
        func setSpecial(_ kind: String, _ id: Int?) {
            guard let id, id >= 0, id < vocabSize, !special.contains(where: { $0.0 == kind }) else { return }
            special.append((kind, id))
        }
        var addSpecial: [(String, Bool)] = []
        func setAdd(_ kind: String, _ value: Bool) {
            if !addSpecial.contains(where: { $0.0 == kind }) { addSpecial.append((kind, value)) }
        }
        if let post = tokenizer["post_processor"], !post.isNull {
            for processor in post["processors"]?.arrayValue ?? [post] where processor["type"]?.stringValue == "ByteLevel" {
                setAdd("bos", false)
                setAdd("eos", false)
            }
        }
        var chatTemplate: String? = nil
        if let tc = tokenizerConfig {
            func content(_ kind: String) -> String? {
                let entry = tc[kind + "_token"]
                return entry?.stringValue ?? entry?["content"]?.stringValue
            }
            for (kind, _) in specialKinds {
                if let value = tc["add_\(kind)_token"]?.boolValue { setAdd(kind, value) }
                var text = content(kind)
                if text == nil && kind == "bos" { text = content("cls") }
                if text == nil && kind == "eos" { text = content("sep") }
                if let text { setSpecial(kind, addedIds.first { $0.0 == text }?.1) }
            }
            if let template = tc["chat_template"]?.stringValue {
                chatTemplate = template
            } else if let list = tc["chat_template"]?.arrayValue {
                chatTemplate = list.first { $0["name"]?.stringValue == "default" }?["template"]?.stringValue
            }
        }
        if chatTemplate == nil, let data = FileManager.default.contents(atPath: directory + "/chat_template.jinja") {
            chatTemplate = String(decoding: data, as: UTF8.self)
        }
        for (kind, _) in specialKinds { setSpecial(kind, config?[kind + "_token_id"]?.intValue) }

        var result: [(String, GGUFWriter.Value)] = [
            ("tokenizer.ggml.model", .string("gpt2")), ("tokenizer.ggml.pre", .string(pre)),
            ("tokenizer.ggml.tokens", .strings(tokens)), ("tokenizer.ggml.token_type", .i32s(types)),
            ("tokenizer.ggml.merges", .strings(merges)),
        ]
        for (kind, id) in special {
            guard let key = specialKinds.first(where: { $0.kind == kind })?.key ?? nil, let value = UInt32(exactly: id) else { continue }
            result.append(("tokenizer.ggml." + key, .u32(value)))
        }
        for (kind, value) in addSpecial where kind == "bos" || kind == "eos" || kind == "sep" {
            result.append(("tokenizer.ggml.add_\(kind)_token", .bool(value)))
        }
        if let chatTemplate { result.append(("tokenizer.chat_template", .string(chatTemplate))) }
        return result
    }

    /// The converter's `does_token_look_special`.
    static func looksSpecial(_ token: String) -> Bool {
        ["<pad>", "<mask>", "<2mass>", "[@BOS@]"].contains(token)
            || (token.hasPrefix("<|") && token.hasSuffix("|>"))
            || (token.hasPrefix("<\u{FF5C}") && token.hasSuffix("\u{FF5C}>"))
            || (token.hasPrefix("<unused") && token.hasSuffix(">"))
    }
}
