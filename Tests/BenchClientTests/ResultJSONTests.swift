import JSON
import XCTest

@testable import BenchClient

final class ResultJSONTests: XCTestCase {
    func makeResult(goodput: GoodputConfig?) -> BenchResult {
        let outputs = BenchMetricsTests.makeOutputs()
        let setup = BenchResult.Setup(
            backend: "openai-chat", label: nil, modelID: "org/Ling-mini-2.0", baseURL: "http://h:1", endpoint: .chat,
            dataset: "random", promptCount: 3, requestRate: .infinity, burstiness: 1, maxConcurrency: 16, seed: 0,
            percentileMetrics: [.ttft, .tpot, .itl, .e2el], metricPercentiles: [99, 99.9], goodput: goodput,
            extraBody: nil, date: "20261123-101500")
        let metrics = BenchMetrics(outputs: outputs, duration: 2.5, goodput: goodput, percentiles: [99, 99.9])
        return BenchResult(setup: setup, metrics: metrics, outputs: outputs, specDecode: nil)
    }

    func keys(_ value: JSONValue) -> [String] {
        guard case .object(let members) = value else { return [] }
        return members.map(\.key)
    }

    func testVLLMKeysInOrder() throws {
        let json = makeResult(goodput: GoodputConfig(ttftMs: 600)).json(detailed: false)
        let vllmKeys = [
            "duration", "completed", "failed", "total_input_tokens", "total_output_tokens", "request_throughput",
            "request_goodput", "output_throughput", "total_token_throughput", "max_output_tokens_per_s",
            "max_concurrent_requests", "mean_ttft_ms", "median_ttft_ms", "std_ttft_ms", "p99_ttft_ms", "p99.9_ttft_ms",
            "mean_tpot_ms", "median_tpot_ms", "std_tpot_ms", "p99_tpot_ms", "p99.9_tpot_ms", "mean_itl_ms",
            "median_itl_ms", "std_itl_ms", "p99_itl_ms", "p99.9_itl_ms", "mean_e2el_ms", "median_e2el_ms",
            "std_e2el_ms", "p99_e2el_ms", "p99.9_e2el_ms",
        ]
        let present = keys(json).filter { vllmKeys.contains($0) }
        XCTAssertEqual(present, vllmKeys)
        XCTAssertEqual(json["request_rate"], .string("inf"))
        XCTAssertEqual(json["request_goodput"]?.doubleValue ?? -1, 0.4, accuracy: 1e-12)
        XCTAssertNil(json["ttfts"], "per-request arrays only with --save-detailed")
        // The file round-trips through the parser.
        XCTAssertEqual(try JSONParser.parse(json.pythonDumps(), limits: .pythonFiles), json)
    }

    func testDetailedArraysAndNullGoodput() {
        let json = makeResult(goodput: nil).json(detailed: true)
        XCTAssertEqual(json["request_goodput"], .null)
        for key in ["input_lens", "output_lens", "ttfts", "itls", "latencies", "start_times", "queue_times",
                    "generated_texts", "errors"] {
            XCTAssertEqual(json[key]?.arrayValue?.count, 3, key)
        }
        XCTAssertEqual(json["errors"]?.arrayValue?[2], .string("boom"))
    }

    func testConsoleBlockLabels() {
        let text = makeResult(goodput: GoodputConfig(ttftMs: 600)).consoleReport()
        let lines = text.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.first, "============ Serving Benchmark Result ============")
        XCTAssertEqual(lines[1], "Successful requests:                     2         ")
        XCTAssertTrue(lines.contains("Request goodput (req/s):                 0.40      "))
        XCTAssertTrue(lines.contains("Peak concurrent requests:                2.00      "))
        XCTAssertTrue(lines.contains("P99.9 ITL (ms):                          " + TextFormat.padRight(
            TextFormat.fixed(Statistics.percentile([0.25, 0.25, 0.5, 0.9], 99.9) * 1000), 10)))
        XCTAssertFalse(text.contains("Request rate configured"), "only printed for a finite rate")
        XCTAssertEqual(lines.last, String(repeating: "=", count: 50))
    }

    func testDefaultFileName() {
        XCTAssertEqual(
            makeResult(goodput: nil).defaultFileName(), "openai-chat-infqps-concurrency16-Ling-mini-2.0-20261123-101500.json")
    }
}
