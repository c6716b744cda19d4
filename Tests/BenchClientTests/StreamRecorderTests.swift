import JSON
import XCTest

@testable import BenchClient

final class StreamRecorderTests: XCTestCase {
    func feed(_ recorder: inout StreamRecorder, _ event: String, at time: Double) {
        Array(event.utf8).withUnsafeBufferPointer { recorder.handleEvent($0, timestamp: time) }
    }

    func testChatTimingsAndUsage() {
        var recorder = StreamRecorder(startTime: 10, promptLength: 5, expectedOutputLength: 3)
        feed(&recorder, #"{"choices":[{"index":0,"delta":{"role":"assistant","content":""}}],"usage":null}"#, at: 10.5)
        feed(&recorder, #"{"choices":[{"index":0,"delta":{"content":"Hel"}}],"usage":null}"#, at: 10.75)
        feed(&recorder, #"{"choices":[{"index":0,"delta":{"content":"lo!"},"finish_reason":"length"}]}"#, at: 11.0)
        feed(&recorder, #"{"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":3,"total_tokens":8}}"#, at: 11.5)
        feed(&recorder, "[DONE]", at: 11.6)
        let output = recorder.finish()
        XCTAssertTrue(output.success)
        XCTAssertEqual(output.ttft, 0.5, "TTFT is the role chunk: the first event with choices")
        XCTAssertEqual(output.itl, [0.25, 0.25])
        XCTAssertEqual(output.latency, 1.0, "E2EL stops at the last choices event, not the usage chunk")
        XCTAssertEqual(output.outputTokenCount, 3)
        XCTAssertTrue(output.outputTokensFromUsage)
        XCTAssertEqual(output.generatedText, "Hello!")
        XCTAssertTrue(recorder.sawDone)
    }

    func testCompletionsWithoutUsageCountsContentEvents() {
        var recorder = StreamRecorder(startTime: 0, promptLength: 1, expectedOutputLength: 4)
        feed(&recorder, #"{"choices":[{"index":0,"text":"a"}]}"#, at: 1)
        feed(&recorder, #"{"choices":[{"index":0,"text":"b"}]}"#, at: 2)
        feed(&recorder, #"{"choices":[{"index":0,"text":"","finish_reason":"stop"}]}"#, at: 3)
        let output = recorder.finish()
        XCTAssertEqual(output.outputTokenCount, 2)
        XCTAssertFalse(output.outputTokensFromUsage)
        XCTAssertEqual(output.latency, 3)
    }

    func testInStreamErrorFails() {
        var recorder = StreamRecorder(startTime: 0, promptLength: 1, expectedOutputLength: 4)
        feed(&recorder, #"{"choices":[{"index":0,"delta":{"content":"x"}}]}"#, at: 1)
        feed(&recorder, #"{"error":{"message":"engine died","type":"server_error","param":null,"code":"internal_error"}}"#, at: 2)
        let output = recorder.finish()
        XCTAssertFalse(output.success)
        XCTAssertEqual(output.errorKind, .streamError)
        XCTAssertEqual(output.error, "engine died")
    }

    func testEmptyStreamFails() {
        var recorder = StreamRecorder(startTime: 0, promptLength: 1, expectedOutputLength: 4)
        feed(&recorder, "[DONE]", at: 1)
        XCTAssertEqual(recorder.finish().errorKind, .noOutput)
    }
}

final class RequestFactoryTests: XCTestCase {
    let conversation = Conversation(turns: [
        PromptTurn(text: "hi", promptLength: 1, outputLength: 8), PromptTurn(text: "more", promptLength: 1, outputLength: 4),
    ])

    func testChatBodyMatchesVLLM() {
        let factory = RequestFactory(
            baseURL: "http://h:1/", endpoint: .chat, model: "m", ignoreEOS: true, extraBody: [("temperature", .int(0))])
        XCTAssertEqual(factory.url, "http://h:1/v1/chat/completions")
        XCTAssertEqual(
            factory.body(conversation: conversation, turnIndex: 0, answers: []).compactJSON(),
            #"{"model":"m","messages":[{"role":"user","content":"hi"}],"max_completion_tokens":8,"stream":true,"stream_options":{"include_usage":true},"ignore_eos":true,"temperature":0}"#
        )
    }

    func testMultiturnReplaysActualAnswers() {
        let factory = RequestFactory(baseURL: "http://h:1", endpoint: .chat, model: "m", ignoreEOS: false, extraBody: [])
        let body = factory.body(conversation: conversation, turnIndex: 1, answers: ["hello there"])
        XCTAssertEqual(
            body["messages"]?.compactJSON(),
            #"[{"role":"user","content":"hi"},{"role":"assistant","content":"hello there"},{"role":"user","content":"more"}]"#)
        XCTAssertEqual(RequestFactory.promptLength(conversation: conversation, turnIndex: 1, answerTokenCounts: [2]), 4)
    }

    func testCompletionsBody() {
        let factory = RequestFactory(baseURL: "http://h:1", endpoint: .completions, model: "m", ignoreEOS: false, extraBody: [])
        XCTAssertEqual(
            factory.body(conversation: conversation, turnIndex: 0, answers: []).compactJSON(),
            #"{"model":"m","prompt":"hi","repetition_penalty":1,"max_tokens":8,"logprobs":null,"stream":true,"stream_options":{"include_usage":true}}"#
        )
    }
}

final class SpecDecodeTests: XCTestCase {
    func testScrapeAndDifference() {
        let before = SpecDecodeCounters.parse(prometheusText: """
            # TYPE vllm:spec_decode_num_drafts_total counter
            lingserve:spec_decode_num_drafts_total{model_name="m"} 10
            lingserve:spec_decode_num_draft_tokens_total{model_name="m"} 30
            lingserve:spec_decode_num_accepted_tokens_total{model_name="m"} 15
            lingserve:spec_decode_num_accepted_tokens_per_pos_total{model_name="m",position="0"} 9
            lingserve:spec_decode_num_accepted_tokens_per_pos_total{model_name="m",position="1"} 6
            lingserve:generation_tokens_total{model_name="m"} 100
            """)
        let after = SpecDecodeCounters.parse(prometheusText: """
            lingserve:spec_decode_num_drafts_total{model_name="m"} 110
            lingserve:spec_decode_num_draft_tokens_total{model_name="m"} 230
            lingserve:spec_decode_num_accepted_tokens_total{model_name="m"} 165
            lingserve:spec_decode_num_accepted_tokens_per_pos_total{model_name="m",position="0"} 89
            lingserve:spec_decode_num_accepted_tokens_per_pos_total{model_name="m",position="1"} 76
            """)
        guard let stats = SpecDecodeStats(before: before, after: after) else { return XCTFail("no stats") }
        XCTAssertEqual(stats.drafts, 100)
        XCTAssertEqual(stats.draftTokens, 200)
        XCTAssertEqual(stats.acceptedTokens, 150)
        XCTAssertEqual(stats.acceptanceRate, 75, accuracy: 1e-12)
        XCTAssertEqual(stats.acceptanceLength, 2.5, accuracy: 1e-12)
        XCTAssertEqual(stats.perPositionRates, [0.8, 0.7])
    }

    func testVLLMNamesWinOverLingServeAliases() {
        let counters = SpecDecodeCounters.parse(prometheusText: """
            vllm:spec_decode_num_drafts_total{model_name="m"} 5
            lingserve:spec_decode_num_drafts_total{model_name="m"} 5
            """)
        XCTAssertEqual(counters.drafts, 5)
        XCTAssertNil(SpecDecodeStats(before: SpecDecodeCounters(), after: SpecDecodeCounters.parse(prometheusText: "x 1")))
    }
}
