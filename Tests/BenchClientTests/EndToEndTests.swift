import Foundation
import XCTest

@testable import BenchClient

/// Runs the real `fake-openai-server` binary (built next to the test bundle) and benchmarks it in-process.
final class EndToEndTests: XCTestCase {
    var server: Process?

    func startServer(_ arguments: [String]) throws -> String {
        let directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        var binary = directory.appendingPathComponent("fake-openai-server")
        if !FileManager.default.fileExists(atPath: binary.path) {
            // swift-testing / xctest runners may live one level deeper.
            binary = directory.deletingLastPathComponent().appendingPathComponent("fake-openai-server")
        }
        guard FileManager.default.fileExists(atPath: binary.path) else {
            throw BenchError("fake-openai-server not found next to \(CommandLine.arguments[0])")
        }
        let process = Process()
        process.executableURL = binary
        process.arguments = ["--port", "0"] + arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        server = process
        var line = Data()
        while !line.contains(0x0A) {
            let chunk = pipe.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            line.append(chunk)
        }
        let text = String(decoding: line, as: UTF8.self)
        guard let address = text.split(separator: " ").last?.trimmingCharacters(in: .whitespacesAndNewlines) else {
            throw BenchError("fake server printed '\(text)'")
        }
        return "http://\(address)"
    }

    override func tearDown() {
        server?.terminate()
        server?.waitUntilExit()
    }

    func testTwoHundredRequestsAtConcurrencySixteen() throws {
        let url = try startServer(["--event-delay-us", "100", "--events-per-write", "2", "--tokens-per-event", "2"])
        var config = BenchConfig()
        config.baseURL = url
        config.workload.promptCount = 200
        config.workload.randomInputLength = 32
        config.workload.randomOutputLength = 24
        config.workload.randomRangeRatio = 0.5
        config.workload.seed = 5
        config.percentileMetrics = [.ttft, .tpot, .itl, .e2el]
        let runner = try BenchRunner(config: config)
        runner.log = { _ in }
        let result = try runner.run(maxConcurrency: 16)
        XCTAssertEqual(result.metrics.completed, 200)
        XCTAssertEqual(result.metrics.failed, 0)
        XCTAssertLessThanOrEqual(result.metrics.maxConcurrentRequests, 16)
        var expectedOutput = 0
        for output in result.outputs {
            XCTAssertTrue(output.outputTokensFromUsage)
            // The fixture answers max_completion_tokens tokens, each the word "tN ".
            XCTAssertEqual(output.outputTokenCount, output.expectedOutputLength)
            XCTAssertEqual(output.generatedText.split(separator: " ").count, output.outputTokenCount)
            XCTAssertLessThan(output.ttft, output.latency)
            XCTAssertGreaterThan(output.ttft, 0)
            expectedOutput += output.expectedOutputLength
        }
        XCTAssertEqual(result.metrics.totalOutput, expectedOutput)
        // Prompts were sized with the server's tokenizer: lengths are exact and within the range ratio.
        XCTAssertTrue(result.outputs.allSatisfy { (16...48).contains($0.promptLength) })
        // Two tokens per event: the fixture counts drafts, and the acceptance figures come back from /metrics.
        let spec = try XCTUnwrap(result.specDecode)
        XCTAssertEqual(spec.acceptanceLength, Double(spec.drafts + spec.acceptedTokens) / Double(spec.drafts), accuracy: 1e-9)
        XCTAssertGreaterThan(spec.acceptanceRate, 90)
    }

    func testFailuresAreCountedByKind() throws {
        let url = try startServer(["--fail-every", "4"])
        var config = BenchConfig()
        config.baseURL = url
        config.endpoint = .completions
        config.workload.promptCount = 40
        config.workload.randomInputLength = 8
        config.workload.randomOutputLength = 4
        config.skipTestRequest = true
        let runner = try BenchRunner(config: config)
        runner.log = { _ in }
        let result = try runner.run(maxConcurrency: 4)
        XCTAssertEqual(result.metrics.completed + result.metrics.failed, 40)
        XCTAssertEqual(result.metrics.failed, 10)
        XCTAssertEqual(result.metrics.errorsByKind.first?.0, "HTTP 500")
        XCTAssertEqual(result.metrics.errorsByKind.first?.1, 10)
    }

    func testMultiturnSendsGrowingHistory() throws {
        let url = try startServer([])
        var config = BenchConfig()
        config.baseURL = url
        config.workload.dataset = .multiturn
        config.workload.promptCount = 3
        config.workload.multiturnTurnCount = 3
        config.workload.randomInputLength = 10
        config.workload.randomOutputLength = 5
        config.skipTestRequest = true
        let runner = try BenchRunner(config: config)
        runner.log = { _ in }
        let result = try runner.run(maxConcurrency: 2)
        XCTAssertEqual(result.metrics.completed, 9)
        // Turn k carries k earlier prompts and answers: 10, 10+5+10, 10+5+10+5+10 tokens.
        XCTAssertEqual(result.outputs.prefix(3).map(\.promptLength), [10, 25, 40])
        XCTAssertEqual(result.outputs.prefix(3).compactMap(\.serverPromptTokenCount), [10, 25, 40])
    }
}
