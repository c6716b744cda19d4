import Foundation
import XCTest

@testable import Tokenizers

final class IncrementalDecoderTests: XCTestCase {
    private func tokenizer() throws -> Tokenizer { try Tokenizer(directory: Fixtures.path("stress-f32")) }

    func testTokenByTokenMatchesFullDecode() throws {
        let tokenizer = try tokenizer()
        let texts = [
            "emoji 😀👍🏽 family 👨‍👩‍👧‍👦 flag 🇨🇳", "中文测试：你好，世界！", "naïve café", "<role>HUMAN</role>hi<|role_end|>",
            "def f(x):\n    return x ** 2\n", "",
        ]
        for text in texts {
            for skip in [false, true] {
                let ids = tokenizer.encode(text)
                var decoder = IncrementalDecoder(tokenizer: tokenizer, skipSpecialTokens: skip)
                var deltas: [String] = []
                for id in ids { deltas.append(decoder.append(id)) }
                deltas.append(decoder.finish())
                XCTAssertEqual(deltas.joined(), tokenizer.decode(ids, skipSpecialTokens: skip), text)
                XCTAssertEqual(decoder.text, deltas.joined())
                for delta in deltas { XCTAssertFalse(delta.unicodeScalars.contains("\u{FFFD}"), "split char in \(text)") }
            }
        }
    }

    func testMultiByteCharacterIsHeldUntilComplete() throws {
        let tokenizer = try tokenizer()
        // One byte token per UTF-8 byte of "😀" (F0 9F 98 80).
        let byteIds = [0xF0, 0x9F, 0x98, 0x80].map { byte in
            tokenizer.id(forToken: ByteLevelAlphabet.encode([UInt8(byte)]))!
        }
        var decoder = IncrementalDecoder(tokenizer: tokenizer, skipSpecialTokens: false)
        XCTAssertEqual(decoder.append(byteIds[0]), "")
        XCTAssertEqual(decoder.append(byteIds[1]), "")
        XCTAssertEqual(decoder.append(byteIds[2]), "")
        XCTAssertEqual(decoder.append(byteIds[3]), "😀")
        // An incomplete character at the end comes out as U+FFFD on finish, like a full decode.
        XCTAssertEqual(decoder.append(byteIds[0]), "")
        XCTAssertEqual(decoder.finish(), "\u{FFFD}")
    }

    func testSkipsSpecialTokens() throws {
        let tokenizer = try tokenizer()
        var decoder = IncrementalDecoder(tokenizer: tokenizer, skipSpecialTokens: true)
        let ids = tokenizer.encode("a<|role_end|>b")
        XCTAssertEqual(decoder.append(contentsOf: ids) + decoder.finish(), "ab")
        var keeping = IncrementalDecoder(tokenizer: tokenizer, skipSpecialTokens: false)
        XCTAssertEqual(keeping.append(contentsOf: ids) + keeping.finish(), "a<|role_end|>b")
    }
}

final class StopStringMatcherTests: XCTestCase {
    func testStopAcrossDeltas() {
        var matcher = StopStringMatcher(stopStrings: ["</answer>", "STOP"])
        XCTAssertEqual(matcher.feed("Hello </an"), .init(text: "Hello ", stopIndex: nil))
        XCTAssertEqual(matcher.feed("sw"), .init(text: "", stopIndex: nil))
        XCTAssertEqual(matcher.feed("er> tail"), .init(text: "", stopIndex: 0))
        XCTAssertTrue(matcher.isStopped)
        XCTAssertEqual(matcher.feed("more"), .init(text: "", stopIndex: nil))
    }

    func testReleasesTextThatCannotStop() {
        var matcher = StopStringMatcher(stopStrings: ["abc"])
        XCTAssertEqual(matcher.feed("xxab").text, "xx")
        XCTAssertEqual(matcher.feed("d").text, "abd")
        XCTAssertEqual(matcher.feed("a").text, "")
        XCTAssertEqual(matcher.finish(), "a")
    }

    func testEarliestStopWinsAndIncludeOption() {
        var matcher = StopStringMatcher(stopStrings: ["world", "lo w"], includeStopString: true)
        XCTAssertEqual(matcher.feed("hello world"), .init(text: "hello w", stopIndex: 1))
        var longest = StopStringMatcher(stopStrings: ["ab", "abc"])
        XCTAssertEqual(longest.feed("xab"), .init(text: "x", stopIndex: 0))
    }

    func testFedCharacterByCharacterWithMultiByteText() {
        let text = "你好😀世界<stop>after"
        var matcher = StopStringMatcher(stopStrings: ["<stop>"])
        var released = ""
        var stop: Int? = nil
        for character in text {
            let output = matcher.feed(String(character))
            released += output.text
            if output.stopIndex != nil { stop = output.stopIndex }
        }
        XCTAssertEqual(released, "你好😀世界")
        XCTAssertEqual(stop, 0)
    }
}

final class ConcurrencyTests: XCTestCase {
    /// One shared tokenizer used from many threads gives the same ids as serial use.
    func testConcurrentEncodeMatchesSerial() throws {
        let tokenizer = try Tokenizer(directory: Fixtures.path("golden/ling-style"))
        let texts = (0..<64).map { index in
            String(repeating: "def f\(index)(x):\n    return x ** \(index)  # 中文 😀\n", count: 1 + index * 20)
        }
        let expected = texts.map { tokenizer.encode($0) }
        let results = UnsafeMutableBufferPointer<[Int]>.allocate(capacity: texts.count)
        results.initialize(repeating: [])
        defer { results.deallocate() }
        nonisolated(unsafe) let slots = results
        DispatchQueue.concurrentPerform(iterations: texts.count) { index in
            // Each iteration writes only its own slot.
            slots[index] = tokenizer.encode(texts[index])
        }
        XCTAssertEqual(Array(results), expected)
    }
}
