import Foundation
import XCTest

@testable import Tokenizers

final class MalformedTokenizerTests: XCTestCase {
    private func minimal(_ modify: (inout [String: Any]) -> Void) throws -> Data {
        var root: [String: Any] = [
            "model": ["type": "BPE", "vocab": ["a": 0, "b": 1, "ab": 2], "merges": ["a b"]] as [String: Any],
            "pre_tokenizer": ["type": "Split", "pattern": ["Regex": "\\s+"], "behavior": "Isolated"],
            "decoder": ["type": "Fuse"],
        ]
        modify(&root)
        return try JSONSerialization.data(withJSONObject: root)
    }

    private func assertError(_ data: Data, contains fragment: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try Tokenizer(tokenizerJSON: data), file: file, line: line) { error in
            let message = String(describing: error)
            XCTAssertTrue(message.contains(fragment), "\(message) lacks \(fragment)", file: file, line: line)
        }
    }

    func testMinimalCharacterBPEWorks() throws {
        let tokenizer = try Tokenizer(tokenizerJSON: try minimal { _ in })
        XCTAssertEqual(tokenizer.encode("abab ba"), [2, 2, 1, 0])
        XCTAssertEqual(tokenizer.decode([2, 1]), "abb")
    }

    func testNotJSON() {
        assertError(Data("{\"model\": ".utf8), contains: "not valid JSON")
    }

    func testMissingModel() throws {
        assertError(try minimal { $0.removeValue(forKey: "model") }, contains: "tokenizer.json.model: missing")
    }

    func testUnsupportedModelType() throws {
        assertError(try minimal { $0["model"] = ["type": "Unigram", "vocab": []] }, contains: "unsupported model \"Unigram\"")
    }

    func testBadMerge() throws {
        assertError(
            try minimal { $0["model"] = ["type": "BPE", "vocab": ["a": 0], "merges": ["a"]] }, contains: "merges[0]")
        assertError(
            try minimal { $0["model"] = ["type": "BPE", "vocab": ["a": 0, "b": 1], "merges": [["a", "b"]]] },
            contains: "merged token \"ab\" not in vocab")
    }

    func testUnsupportedComponents() throws {
        assertError(try minimal { $0["normalizer"] = ["type": "Precompiled"] }, contains: "unsupported normalizer")
        assertError(try minimal { $0["pre_tokenizer"] = ["type": "UnicodeScripts"] }, contains: "unsupported pre-tokenizer")
        assertError(try minimal { $0["decoder"] = ["type": "CTC"] }, contains: "unsupported decoder")
        assertError(try minimal { $0["post_processor"] = ["type": "Nope"] }, contains: "unsupported post-processor")
        assertError(
            try minimal { $0["pre_tokenizer"] = ["type": "Split", "pattern": ["Regex": "\\s+"], "behavior": "Sideways"] },
            contains: "unknown split behavior")
        assertError(
            try minimal { $0["pre_tokenizer"] = ["type": "Split", "pattern": ["Regex": "(unclosed"], "behavior": "Isolated"] },
            contains: "is not supported")
    }

    func testWrongFieldType() throws {
        assertError(
            try minimal { $0["added_tokens"] = [["id": "seven", "content": "x"]] }, contains: "added_tokens[0].id: expected an integer")
    }

    func testMissingDirectory() {
        XCTAssertThrowsError(try Tokenizer(directory: "/nonexistent/model")) { error in
            XCTAssertTrue(String(describing: error).contains("cannot read"))
        }
    }
}
