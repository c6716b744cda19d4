import Foundation
import XCTest

@testable import Tokenizers

/// The reference checkpoints' tokenizers (cl100k-style regex, NFC, added tokens) against the `tokenizer.cases`
/// that Python `tokenizers` produced.
final class ReferenceCheckpointTests: XCTestCase {
    func testStressCheckpointCases() throws { try checkCases("stress-f32") }
    func testReleaseCheckpointCases() throws { try checkCases("release-bf16") }

    private func checkCases(_ name: String) throws {
        let tokenizer = try Tokenizer(directory: Fixtures.path(name))
        let reference = try XCTUnwrap(Fixtures.json("\(name)/tokenizer_cases.json") as? [String: Any])
        let cases = try XCTUnwrap(reference["cases"] as? [[String: Any]])
        XCTAssertEqual(cases.count, 24)
        for testCase in cases {
            let text = try XCTUnwrap(testCase["text"] as? String)
            let ids = try XCTUnwrap(testCase["ids"] as? [Int])
            let tokens = try XCTUnwrap(testCase["tokens"] as? [String])
            XCTAssertEqual(tokenizer.encode(text, addSpecialTokens: false), ids, "ids of \(text.debugDescription)")
            XCTAssertEqual(
                tokenizer.encode(text, addSpecialTokens: true), try XCTUnwrap(testCase["ids_add_special_tokens"] as? [Int]),
                "ids with special tokens of \(text.debugDescription)")
            XCTAssertEqual(ids.map { tokenizer.tokenString(id: $0) }, tokens, "tokens of \(text.debugDescription)")
            XCTAssertEqual(tokenizer.decode(ids, skipSpecialTokens: false), try XCTUnwrap(testCase["decoded"] as? String))
            XCTAssertEqual(
                tokenizer.decode(ids, skipSpecialTokens: true), try XCTUnwrap(testCase["decoded_skip_special"] as? String))
        }
        let example = try XCTUnwrap(reference["chat_template_example"] as? [String: Any])
        if let rendered = example["rendered"] as? String, let ids = example["ids"] as? [Int] {
            XCTAssertEqual(tokenizer.encode(rendered), ids)
            XCTAssertEqual(tokenizer.decode(ids), rendered)
        }
    }

    func testSpecialTokensFromConfig() throws {
        let tokenizer = try Tokenizer(directory: Fixtures.path("stress-f32"))
        XCTAssertEqual(tokenizer.vocabularySize, 1024)
        XCTAssertEqual(tokenizer.id(forToken: "<|endoftext|>"), 1012)
        XCTAssertEqual(tokenizer.specialTokens.eosId, tokenizer.id(forToken: tokenizer.specialTokens.eosToken ?? ""))
        XCTAssertTrue(tokenizer.isSpecial(id: 1015))
        XCTAssertFalse(tokenizer.isSpecial(id: 1018))
        XCTAssertNil(tokenizer.tokenString(id: 5000))
        XCTAssertEqual(tokenizer.decode([39, 99999, -1, 68]), "He")
    }
}
