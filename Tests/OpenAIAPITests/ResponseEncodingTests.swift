import JSON
import Testing
import TestSupport

@testable import OpenAIAPI

@Suite("Response encoding")
struct ResponseEncodingTests {
    let header = ResponseHeader(id: "chatcmpl-x", created: 1_732_270_000, model: "Ling-mini-2.0", systemFingerprint: "fp_lingserve_0_1_0")

    private func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

    @Test("Chunks have the contract's key order, explicit nulls and usage null")
    func chunk() {
        let role = ChatResponseEncoding.chunk(header: header, index: 0, delta: .role, logprobs: nil, finishReason: nil, includeUsage: true)
        #expect(text(role) == #"{"id":"chatcmpl-x","object":"chat.completion.chunk","created":1732270000,"model":"Ling-mini-2.0","system_fingerprint":"fp_lingserve_0_1_0","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}],"usage":null}"#)
        let finish = ChatResponseEncoding.chunk(header: header, index: 1, delta: .empty, logprobs: nil, finishReason: .stop, includeUsage: false)
        #expect(text(finish).hasSuffix(#""choices":[{"index":1,"delta":{},"logprobs":null,"finish_reason":"stop"}]}"#))
        let start = ChatResponseEncoding.chunk(
            header: header, index: 0, delta: .toolCallStart(index: 2, id: "call_1", name: "f"), logprobs: nil, finishReason: nil,
            includeUsage: false)
        #expect(text(start).contains(#""delta":{"tool_calls":[{"index":2,"id":"call_1","type":"function","function":{"name":"f","arguments":""}}]}"#))
        let fragment = ChatResponseEncoding.chunk(
            header: header, index: 0, delta: .toolCallArguments(index: 2, fragment: "{\"a\""), logprobs: nil, finishReason: nil,
            includeUsage: false)
        #expect(text(fragment).contains(#""delta":{"tool_calls":[{"index":2,"function":{"arguments":"{\"a\""}}]}"#))
        let usage = ChatResponseEncoding.usageChunk(
            header: header, object: "chat.completion.chunk", usage: Usage(promptTokens: 19, completionTokens: 2))
        #expect(text(usage).hasSuffix(#""choices":[],"usage":{"prompt_tokens":19,"completion_tokens":2,"total_tokens":21,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}}"#))
    }

    @Test("Non-streaming response with tool calls and logprobs")
    func response() {
        let choice = ChatChoiceOutput(
            index: 0, content: nil, reasoningContent: nil,
            toolCalls: [ToolCallOutput(id: "call_8", name: "read_file", arguments: "{\"path\": \"a.py\"}")], logprobs: nil,
            finishReason: .toolCalls)
        let body = ChatResponseEncoding.response(
            header: header, choices: [choice], usage: Usage(promptTokens: 412, completionTokens: 23, cachedTokens: 384))
        #expect(text(body) == #"{"id":"chatcmpl-x","object":"chat.completion","created":1732270000,"model":"Ling-mini-2.0","system_fingerprint":"fp_lingserve_0_1_0","choices":[{"index":0,"message":{"role":"assistant","content":null,"tool_calls":[{"id":"call_8","type":"function","function":{"name":"read_file","arguments":"{\"path\": \"a.py\"}"}}]},"logprobs":null,"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":412,"completion_tokens":23,"total_tokens":435,"prompt_tokens_details":{"cached_tokens":384},"completion_tokens_details":{"reasoning_tokens":0}}}"#)
        let entry = LogprobEntry(
            token: "Hi", logprob: -0.0123, bytes: [72, 105],
            topLogprobs: [.init(token: "Hi", logprob: -0.0123, bytes: [72, 105])])
        let withLogprobs = ChatResponseEncoding.chunk(
            header: header, index: 0, delta: .content("Hi"), logprobs: [entry], finishReason: nil, includeUsage: false)
        #expect(text(withLogprobs).contains(#""logprobs":{"content":[{"token":"Hi","logprob":-0.0123,"bytes":[72,105],"top_logprobs":[{"token":"Hi","logprob":-0.0123,"bytes":[72,105]}]}],"refusal":null}"#))
    }

    @Test("Completions, errors, models, ids")
    func others() {
        var logprobs = LegacyLogprobs()
        logprobs.tokens = ["a"]
        logprobs.tokenLogprobs = [-1.5]
        logprobs.topLogprobs = [[("a", -1.5), ("b", -2.0)]]
        logprobs.textOffset = [3]
        let chunk = CompletionResponseEncoding.chunk(header: header, index: 3, text: "a", logprobs: logprobs, finishReason: .length, includeUsage: false)
        #expect(text(chunk).contains(#""object":"text_completion""#))
        #expect(text(chunk).contains(#""choices":[{"index":3,"text":"a","logprobs":{"tokens":["a"],"token_logprobs":[-1.5],"top_logprobs":[{"a":-1.5,"b":-2.0}],"text_offset":[3]},"finish_reason":"length"}]"#))
        #expect(text(APIError.invalidAPIKey.body.encoded) == #"{"error":{"message":"Incorrect or missing API key. Send it as 'Authorization: Bearer <key>'.","type":"authentication_error","param":null,"code":"invalid_api_key"}}"#)
        let card = ModelCard(id: "Ling-mini-2.0", root: "Ling-mini-2.0", created: 1_732_270_000, maxModelLength: 32768, aliases: ["ling"])
        #expect(text(card.listEncoded) == #"{"object":"list","data":[{"id":"Ling-mini-2.0","object":"model","created":1732270000,"owned_by":"lingserve","root":"Ling-mini-2.0","parent":null,"max_model_len":32768,"type":"model","display_name":"Ling-mini-2.0","created_at":"2024-11-22T10:06:40Z","max_input_tokens":32768}],"has_more":false,"first_id":"Ling-mini-2.0","last_id":"Ling-mini-2.0"}"#)
        #expect(card.matches("ling") && !card.matches("other"))
        let quantized = ModelCard(id: "m", root: "m", created: 0, maxModelLength: 8, weightFormat: "Q8_0", computeDType: "int8")
        #expect(text(quantized.encoded).hasSuffix(#""max_input_tokens":8,"weight_format":"Q8_0","compute_dtype":"int8"}"#))
        let id = ResponseID.make(prefix: "call_")
        #expect(id.hasPrefix("call_") && id.count == 29)
        #expect(id.dropFirst(5).allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber) })
        #expect(ResponseID.make(prefix: "x") != ResponseID.make(prefix: "x"))
        // Every character of the alphabet comes out, about equally often, from a seeded generator; a generator
        // stuck past the alphabet still ends.
        var seeded = SplitMix(state: 7)
        var counts: [Character: Int] = [:]
        for _ in 0..<2000 { for c in ResponseID.make(prefix: "", using: &seeded) { counts[c, default: 0] += 1 } }
        #expect(counts.count == 62)
        #expect(counts.values.allSatisfy { $0 > 48000 / 62 * 8 / 10 && $0 < 48000 / 62 * 12 / 10 })
        var stuck = Stuck()
        #expect(ResponseID.make(prefix: "s_", using: &stuck).count == 26)
        #expect(text(ServerSentEvent.data(Array("{}".utf8))) == "data: {}\n\n")
    }
}

@Suite("Fast chunk path")
struct FastChunkTests {
    @Test("The byte writer matches the JSONValue encoder for every delta kind and awkward text")
    func matchesReference() {
        let header = ResponseHeader(id: "chatcmpl-\"q\"", created: 17, model: "Ling/mini é", systemFingerprint: "fp\n")
        let texts = ["", "plain", "quote \" backslash \\ slash /", "controls \u{0}\u{1}\u{8}\u{C}\n\r\t\u{1F}", "ünïcødé 日本 🎉", "\u{7F}\u{2028}"]
        var deltas: [ChatDelta] = [.empty, .role]
        for text in texts { deltas += [.content(text), .reasoning(text)] }
        for delta in deltas {
            for finish in [nil, FinishReason.stop, .length, .toolCalls] {
                for usage in [false, true] {
                    let fast = ChatResponseEncoding.chunk(header: header, index: 3, delta: delta, logprobs: nil, finishReason: finish, includeUsage: usage)
                    let reference = ChatResponseEncoding.slowChunk(header: header, index: 3, delta: delta, logprobs: nil, finishReason: finish, includeUsage: usage)
                    #expect(fast == reference, "\(delta)")
                }
            }
        }
        #expect(ChatResponseEncoding.fastChunk(header: header, index: 0, delta: .toolCallArguments(index: 0, fragment: ""), finishReason: nil, includeUsage: false) == nil)
    }
}

private struct Stuck: RandomNumberGenerator {
    mutating func next() -> UInt64 { .max }
}
