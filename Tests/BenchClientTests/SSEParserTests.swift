import XCTest

@testable import BenchClient

final class SSEParserTests: XCTestCase {
    let stream = Array(
        (": ping\n\n" + "data: {\"a\":1}\n\n" + "event: message\r\ndata:{\"b\":2}\r\n\r\n" + "data: line1\ndata: line2\n\n"
            + "id: 7\n\n" + "data: [DONE]\n\n").utf8)
    let expected = ["{\"a\":1}", "{\"b\":2}", "line1\nline2", "[DONE]"]

    func events(feeding pieces: [[UInt8]]) -> [String] {
        var parser = SSEParser()
        var events: [String] = []
        for piece in pieces { parser.feed(piece) { events.append(String(decoding: $0, as: UTF8.self)) } }
        parser.finish { events.append(String(decoding: $0, as: UTF8.self)) }
        return events
    }

    func testWholeBuffer() { XCTAssertEqual(events(feeding: [stream]), expected) }

    func testByteByByte() { XCTAssertEqual(events(feeding: stream.map { [$0] }), expected) }

    func testRandomSplits() {
        var generator = SeededGenerator(seed: 42)
        for _ in 0..<200 {
            var pieces: [[UInt8]] = []
            var index = 0
            while index < stream.count {
                let size = 1 + Int(generator.next() % 17)
                pieces.append(Array(stream[index..<min(stream.count, index + size)]))
                index += size
            }
            XCTAssertEqual(events(feeding: pieces), expected)
        }
    }

    func testUnterminatedLastEventIsDeliveredAtFinish() {
        XCTAssertEqual(events(feeding: [Array("data: x\n\ndata: tail".utf8)]), ["x", "tail"])
    }

    func testCommentOnlyStreamHasNoEvents() {
        XCTAssertEqual(events(feeding: [Array(": keep-alive\n\n: again\n\n".utf8)]), [])
    }
}
