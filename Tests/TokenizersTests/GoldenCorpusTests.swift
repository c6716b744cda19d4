import Foundation
import XCTest

@testable import Tokenizers

/// Golden corpora made by scripts/tokenizer/make_golden.py with Python `tokenizers`: ids and decoded text must be
/// identical for every string.
final class GoldenCorpusTests: XCTestCase {
    func testLingStyleCorpus() throws {
        let tokenizer = try Tokenizer(directory: Fixtures.path("golden/ling-style"))
        let count = try checkCorpus(tokenizer, "golden/ling-style/golden.json")
        XCTAssertGreaterThanOrEqual(count, 2000)
    }

    /// The same tokenizer rebuilt from the parts a GGUF file stores (tokens by id, "left right" merges, token types,
    /// tokenizer.ggml.pre = bailingmoe2), as llama.cpp's converter writes them from this tokenizer.json: same ids.
    func testLingStyleCorpusFromGGUFVocabulary() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("golden/ling-style/tokenizer.json")))
        let root = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let model = try XCTUnwrap(root["model"] as? [String: Any])
        let vocab = try XCTUnwrap(model["vocab"] as? [String: Int])
        let added = try XCTUnwrap(root["added_tokens"] as? [[String: Any]])
        let size = max(vocab.values.max() ?? 0, added.compactMap { $0["id"] as? Int }.max() ?? 0) + 1
        var tokens = (0..<size).map { "[PAD\($0)]" }
        var types = [Int](repeating: VocabularyTokenType.unused.rawValue, count: size)
        for (token, id) in vocab { tokens[id] = token; types[id] = VocabularyTokenType.normal.rawValue }
        for token in added {
            let id = try XCTUnwrap(token["id"] as? Int)
            tokens[id] = try XCTUnwrap(token["content"] as? String)
            types[id] = (token["special"] as? Bool ?? false) ? VocabularyTokenType.control.rawValue : VocabularyTokenType.userDefined.rawValue
        }
        let merges = (model["merges"] as? [[String]] ?? []).map { $0.joined(separator: " ") }
        let preset = try XCTUnwrap(BytePairPreset(ggmlPre: "bailingmoe2"))
        let tokenizer = try Tokenizer(tokens: tokens, merges: merges, tokenTypes: types, preset: preset, source: "test.gguf")
        let count = try checkCorpus(tokenizer, "golden/ling-style/golden.json")
        XCTAssertGreaterThanOrEqual(count, 2000)
        XCTAssertThrowsError(try Tokenizer(tokens: tokens, merges: ["bad"], tokenTypes: types, preset: preset, source: "x.gguf")) {
            XCTAssertTrue("\($0)".contains("merge #0"))
        }
    }

    func testCl100kStyleCorpus() throws {
        let tokenizer = try Tokenizer(directory: Fixtures.path("stress-f32"))
        let count = try checkCorpus(tokenizer, "golden/cl100k-style-golden.json")
        XCTAssertGreaterThanOrEqual(count, 2000)
    }

    func testAddedTokenFlagsCorpus() throws {
        let tokenizer = try Tokenizer(directory: Fixtures.path("golden/added-flags"))
        _ = try checkCorpus(tokenizer, "golden/added-flags/golden.json")
    }

    /// Other components, each on 700 corpus strings: ByteLevel with GPT-2's regex and a prefix space plus
    /// TemplateProcessing; Metaspace with byte fallback and <unk>; Llama-2's Prepend/Replace normalizer with the
    /// Replace/ByteFallback/Fuse/Strip decoders; NFKC/Lowercase/Strip with Whitespace/Digits/Punctuation and
    /// BertProcessing; WhitespaceSplit and Split behaviours with general regexes and invert.
    func testComponentVariants() throws {
        for name in ["gpt2-style", "metaspace-style", "llama2-style", "bert-chain", "split-behaviors"] {
            let tokenizer = try Tokenizer(directory: Fixtures.path("golden/\(name)"))
            XCTAssertEqual(try checkCorpus(tokenizer, "golden/\(name)/golden.json"), 700)
        }
    }

    /// The general regex engine (Swift `Regex`) agrees with the hand scanner on the corpus: the Ling pattern wrapped
    /// in a group is not recognised, so it takes the fallback path.
    func testGeneralRegexFallbackAgreesWithScanner() throws {
        let path = Fixtures.path("golden/ling-style/tokenizer.json")
        let original = try String(contentsOfFile: path, encoding: .utf8)
        let escaped = GPTPatternScanner.lingPattern.replacingOccurrences(of: "\\", with: "\\\\")
        XCTAssertTrue(original.contains(escaped))
        let wrapped = original.replacingOccurrences(of: escaped, with: "(?:" + escaped + ")")
        let fallback = try Tokenizer(tokenizerJSON: Data(wrapped.utf8))
        let scanner = try Tokenizer(tokenizerJSON: Data(original.utf8))
        guard case .split(.regex, _, _) = fallback.preTokenizer.steps[0] else {
            return XCTFail("wrapped pattern should use the general regex engine")
        }
        let cases = try loadCases("golden/ling-style/golden.json")
        var mismatches = 0
        for testCase in cases.prefix(1500) {
            let text = testCase.text
            if fallback.encode(text) != scanner.encode(text) {
                mismatches += 1
                if mismatches < 5 { XCTFail("fallback differs on \(text.debugDescription)") }
            }
        }
        XCTAssertEqual(mismatches, 0)
    }

    /// NOTE: decoded with `JSONDecoder`: corelibs' `JSONSerialization` drops some U+FEFF characters in strings.
    private struct GoldenFile: Decodable {
        struct Case: Decodable {
            let text: String
            let ids: [Int]
            let ids_add_special_tokens: [Int]
            let decoded: String
            let decoded_skip_special: String
        }
        let cases: [Case]
    }

    private func loadCases(_ name: String) throws -> [GoldenFile.Case] {
        try JSONDecoder().decode(GoldenFile.self, from: try Fixtures.data(name)).cases
    }

    private func checkCorpus(_ tokenizer: Tokenizer, _ name: String) throws -> Int {
        let cases = try loadCases(name)
        var failures = 0
        for testCase in cases {
            let text = testCase.text
            let ids = testCase.ids
            let ours = tokenizer.encode(text, addSpecialTokens: false)
            let withSpecial = tokenizer.encode(text, addSpecialTokens: true)
            let decoded = tokenizer.decode(ids, skipSpecialTokens: false)
            let decodedSkip = tokenizer.decode(ids, skipSpecialTokens: true)
            let ok =
                ours == ids && withSpecial == testCase.ids_add_special_tokens && decoded == testCase.decoded
                && decodedSkip == testCase.decoded_skip_special
            if !ok {
                failures += 1
                if failures <= 5 {
                    XCTFail(
                        "\(name): \(text.debugDescription)\n ours \(ours)\n want \(ids)\n decoded \(decoded.debugDescription)"
                    )
                }
            }
        }
        XCTAssertEqual(failures, 0, "\(failures) of \(cases.count) strings differ in \(name)")
        return cases.count
    }
}
