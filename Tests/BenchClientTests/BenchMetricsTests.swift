import XCTest

@testable import BenchClient

/// A hand-computed run: two successful requests and one failure over 2.5 s.
///   A: start 100.0, TTFT 0.5, ITL [0.25, 0.25, 0.5] → events at 100.5, 100.75, 101.0, 101.5; 4 tokens; prompt 10
///   B: start 100.2, TTFT 1.0, ITL [0.9]             → events at 101.2, 102.1;               3 tokens; prompt 20
///   TPOT A = (1.5 − 0.5) / 3 = 0.3333 s, TPOT B = (1.9 − 1.0) / 2 = 0.45 s
///   1-s buckets from 100.0: [2, 3, 1, 0] → peak 3; A and B overlap → peak concurrency 2.
final class BenchMetricsTests: XCTestCase {
    static func makeOutputs() -> [RequestOutput] {
        var a = RequestOutput()
        a.success = true
        a.startTime = 100.0
        a.ttft = 0.5
        a.itl = [0.25, 0.25, 0.5]
        a.latency = 1.5
        a.outputTokenCount = 4
        a.outputTokensFromUsage = true
        a.promptLength = 10
        var b = RequestOutput()
        b.success = true
        b.startTime = 100.2
        b.ttft = 1.0
        b.itl = [0.9]
        b.latency = 1.9
        b.outputTokenCount = 3
        b.outputTokensFromUsage = true
        b.promptLength = 20
        var c = RequestOutput()
        c.errorKind = .httpStatus(500)
        c.error = "boom"
        c.promptLength = 99
        return [a, b, c]
    }

    func testAggregates() {
        let m = BenchMetrics(outputs: Self.makeOutputs(), duration: 2.5, goodput: nil, percentiles: [50, 99])
        XCTAssertEqual(m.completed, 2)
        XCTAssertEqual(m.failed, 1)
        XCTAssertEqual(m.totalInput, 30)
        XCTAssertEqual(m.totalOutput, 7)
        XCTAssertEqual(m.requestThroughput, 0.8, accuracy: 1e-12)
        XCTAssertEqual(m.outputThroughput, 2.8, accuracy: 1e-12)
        XCTAssertEqual(m.totalTokenThroughput, 14.8, accuracy: 1e-12)
        XCTAssertNil(m.requestGoodput)
        XCTAssertEqual(m.outputLengths, [4, 3, 0])
        XCTAssertEqual(m.errorsByKind.map(\.0), ["HTTP 500"])
        XCTAssertEqual(m.summaries[.ttft]?.mean ?? -1, 750, accuracy: 1e-9)
        XCTAssertEqual(m.summaries[.tpot]?.mean ?? -1, (1000.0 / 3 + 450) / 2, accuracy: 1e-9)
        XCTAssertEqual(m.summaries[.itl]?.mean ?? -1, 475, accuracy: 1e-9)
        // np.percentile([0.25, 0.25, 0.5, 0.9], 99) = 0.888 (position 2.97 between 0.5 and 0.9)
        XCTAssertEqual(m.summaries[.itl]?.percentiles[1].1 ?? -1, 888, accuracy: 1e-9)
        XCTAssertEqual(m.summaries[.e2el]?.median ?? -1, 1700, accuracy: 1e-9)
        XCTAssertEqual(m.summaries[.e2el]?.std ?? -1, 200, accuracy: 1e-9)
    }

    func testPeakThroughputBucketsAndConcurrency() {
        let outputs = Self.makeOutputs().filter(\.success)
        XCTAssertEqual(BenchMetrics.tokensPerSecond(outputs), [2, 3, 1, 0])
        let m = BenchMetrics(outputs: Self.makeOutputs(), duration: 2.5, goodput: nil, percentiles: [99])
        XCTAssertEqual(m.maxOutputTokensPerSecond, 3)
        XCTAssertEqual(m.maxConcurrentRequests, 2)
    }

    func testPeakConcurrencyIsExactNotPerBucket() {
        // Three back-to-back requests inside one second never overlap: the peak is 1 (vLLM's per-second count says 3).
        var outputs: [RequestOutput] = []
        for i in 0..<3 {
            var o = RequestOutput()
            o.success = true
            o.startTime = 10 + Double(i) * 0.25
            o.latency = 0.25
            outputs.append(o)
        }
        XCTAssertEqual(BenchMetrics.peakConcurrency(outputs), 1)
    }

    func testGoodput() {
        let ttftOnly = BenchMetrics(
            outputs: Self.makeOutputs(), duration: 2.5, goodput: GoodputConfig(ttftMs: 600), percentiles: [99])
        XCTAssertEqual(ttftOnly.requestGoodput ?? -1, 0.4, accuracy: 1e-12)
        let strictTpot = BenchMetrics(
            outputs: Self.makeOutputs(), duration: 2.5, goodput: GoodputConfig(tpotMs: 300), percentiles: [99])
        XCTAssertEqual(strictTpot.requestGoodput ?? -1, 0, accuracy: 1e-12)
        let loose = BenchMetrics(
            outputs: Self.makeOutputs(), duration: 2.5, goodput: GoodputConfig(ttftMs: 1000, tpotMs: 450, e2elMs: 1900),
            percentiles: [99])
        XCTAssertEqual(loose.requestGoodput ?? -1, 0.8, accuracy: 1e-12)
    }

    func testGoodputParsing() throws {
        let config = try GoodputConfig.parse(["ttft:500", "tpot:50 e2el:10000"])
        XCTAssertEqual(config, GoodputConfig(ttftMs: 500, tpotMs: 50, e2elMs: 10000))
        XCTAssertThrowsError(try GoodputConfig.parse(["itl:5"]))
        XCTAssertThrowsError(try GoodputConfig.parse(["ttft"]))
    }
}
