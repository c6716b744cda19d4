import Foundation
import JSON
import TestSupport
import XCTest

@testable import Tokenizers

/// Mutated tokenizer.json / tokenizer_config.json: each loads (and then encodes and decodes) or fails with a
/// `TokenizerError` naming the file; no trap on a huge, negative or fractional id, and no table sized by one.
/// The safetensors and config.json twin is in ModelsTests. (The name avoids "FuzzTests": no process of its own.)
final class TokenizerLoaderFuzzing: XCTestCase {
    /// A small Ling-style byte-level BPE: the 256 byte tokens, merges spelling a few words, two added tokens, a
    /// template post-processor and the byte-level decoder.
    static func sample() -> (tokenizer: JSONValue, config: JSONValue) {
        var vocab = JSONObject()
        func spell(_ text: String) -> String { ByteLevelAlphabet.encode(Array(text.utf8)) }
        for byte in 0..<256 { vocab[ByteLevelAlphabet.encode([UInt8(byte)])] = .int(byte) }
        var merges: [JSONValue] = []
        for word in ["the", "and", "ing", "hello", " world", " the"] {
            var prefix = String(word.prefix(1))
            for character in word.dropFirst() {
                let merged = prefix + String(character)
                if vocab[spell(merged)] == nil {
                    merges.append(.string(spell(prefix) + " " + spell(String(character))))
                    vocab[spell(merged)] = .int(vocab.count)
                }
                prefix = merged
            }
        }
        let end = vocab.count
        let tokenizer: JSONValue = [
            "version": "1.0",
            "added_tokens": [
                ["id": .int(end), "content": "<|end|>", "single_word": false, "lstrip": false, "rstrip": false,
                 "normalized": false, "special": true],
                ["id": .int(end + 1), "content": "<tool_call>", "single_word": false, "lstrip": false, "rstrip": false,
                 "normalized": true, "special": false],
            ],
            "normalizer": ["type": "NFC"],
            "pre_tokenizer": ["type": "Sequence", "pretokenizers": [
                ["type": "Split", "pattern": ["Regex": .string(GPTPatternScanner.lingPattern)], "behavior": "Isolated",
                 "invert": false],
                ["type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false],
            ]],
            "post_processor": [
                "type": "TemplateProcessing",
                "single": [["SpecialToken": ["id": "<|end|>", "type_id": 0]], ["Sequence": ["id": "A", "type_id": 0]]],
                "special_tokens": ["<|end|>": ["id": "<|end|>", "ids": [.int(end)], "tokens": ["<|end|>"]]],
            ],
            "decoder": ["type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true],
            "model": ["type": "BPE", "dropout": nil, "unk_token": nil, "fuse_unk": false, "byte_fallback": false,
                      "ignore_merges": false, "vocab": .object(vocab), "merges": .array(merges)],
        ]
        let config: JSONValue = ["bos_token": "<|end|>", "eos_token": ["content": "<|end|>"], "pad_token": nil]
        return (tokenizer, config)
    }

    func testThreeThousandMutatedTokenizerFilesLoadOrFailCleanly() throws {
        let (tokenizer, config) = Self.sample()
        let validJSON = Data(tokenizer.compactJSON().utf8)
        let validConfig = Data(config.compactJSON().utf8)
        let original = try Tokenizer(tokenizerJSON: validJSON, tokenizerConfigJSON: validConfig, fileName: "fuzz/tokenizer.json")
        XCTAssertEqual(original.decode(original.encode("hello the world")), "hello the world")
        var generator = SplitMix(state: 0x70CE_41E5)
        var loaded = 0
        var failed = 0
        for round in 0..<3_000 {
            let mutatesConfig = round % 5 == 4
            let json = mutatesConfig ? validJSON : Data(JSONMutation.mutate(tokenizer, using: &generator))
            let configJSON = mutatesConfig ? Data(JSONMutation.mutate(config, using: &generator)) : validConfig
            do {
                let loadedTokenizer = try Tokenizer(
                    tokenizerJSON: json, tokenizerConfigJSON: configJSON, fileName: "fuzz/tokenizer.json")
                let ids = loadedTokenizer.encode("hello the world <|end|> <tool_call> 123 ü", addSpecialTokens: true)
                _ = loadedTokenizer.decode(ids + [-1, Int.max, loadedTokenizer.vocabularySize], skipSpecialTokens: true)
                for id in 0..<loadedTokenizer.vocabularySize { _ = (loadedTokenizer.tokenString(id: id), loadedTokenizer.isSpecial(id: id)) }
                loaded += 1
            } catch let error as TokenizerError {
                XCTAssertTrue("\(error)".contains("tokenizer"), "\(error)")
                failed += 1
            }
        }
        XCTAssertEqual(loaded + failed, 3_000)
        XCTAssertGreaterThan(failed, 500)
        XCTAssertGreaterThan(loaded, 100)
    }
}
