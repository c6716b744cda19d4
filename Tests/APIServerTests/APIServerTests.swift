import JSON
import OpenAIAPI
import Testing

@testable import APIServer

private let chatBody = #"{"model":"Ling-mini-2.0","messages":[{"role":"user","content":"hi"}]"#

@Suite("API server: chat")
struct APIServerChatTests {
    @Test("Non-streaming chat: message, usage, headers, engine request")
    func nonStreaming() async throws {
        let backend = FakeBackend { request in
            [.scheduled(cachedPromptTokenCount: 2)] + steps(0, ["Hel", "lo"], finish: .stopToken)
        }
        let server = makeServer(backend: backend)
        let sink = RecordingSink()
        await server.handle(
            post("/v1/chat/completions", chatBody + #","seed":7,"temperature":0,"stop_token_ids":[5],"max_tokens":20}"#,
                 headers: [("X-Request-Id", "abc")]),
            sink: sink)
        #expect(sink.status == 200)
        #expect(sink.header("X-Request-Id") == "abc")
        let json = try #require(sink.json)
        #expect(json["object"] == "chat.completion")
        #expect(json["id"]?.stringValue?.hasPrefix("chatcmpl-") == true)
        #expect(json["choices"]?[0]?["message"]?.compactJSON() == #"{"role":"assistant","content":"Hello"}"#)
        #expect(json["choices"]?[0]?["finish_reason"] == "stop")
        let prompt = FakeRenderer().renderPrompt("user", "hi")
        #expect(json["usage"]?.compactJSON() == #"{"prompt_tokens":\#(prompt.utf8.count),"completion_tokens":6,"total_tokens":\#(prompt.utf8.count + 6),"prompt_tokens_details":{"cached_tokens":2},"completion_tokens_details":{"reasoning_tokens":0}}"#)
        let submitted = try #require(backend.submitted.first)
        #expect(submitted.promptTokenIds == FakeCodec().encode(prompt, addSpecialTokens: false))
        #expect(submitted.maxTokens == 20)
        #expect(submitted.sampling.seed == 7 && submitted.sampling.temperature == 0)
        #expect(submitted.stopTokenIds == [5] && submitted.eosTokenIds == [256, 257])
    }

    @Test("Server defaults (--default-temperature, --default-seed) apply on every API when the request omits them")
    func serverSamplingDefaults() async throws {
        let backend = FakeBackend { _ in steps(0, ["ok"], finish: .stopToken) }
        let server = makeServer(backend: backend) { configuration in
            configuration.defaultTemperature = 0.7
            configuration.defaultSeed = 42
        }
        let requests: [(String, String)] = [
            ("/v1/chat/completions", chatBody + "}"),
            ("/v1/completions", #"{"model":"Ling-mini-2.0","prompt":"hi"}"#),
            ("/v1/responses", #"{"model":"Ling-mini-2.0","input":"hi"}"#),
            ("/v1/messages", #"{"model":"m","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}"#),
        ]
        for (path, body) in requests {
            let sink = RecordingSink()
            await server.handle(post(path, body), sink: sink)
            #expect(sink.status == 200, "\(path)")
        }
        #expect(backend.submitted.count == 4)
        for submitted in backend.submitted {
            #expect(submitted.sampling.seed == 42 && submitted.sampling.temperature == 0.7)
        }
        // A request's own values win.
        let sink = RecordingSink()
        await server.handle(post("/v1/chat/completions", chatBody + #","seed":7,"temperature":0.2}"#), sink: sink)
        #expect(backend.submitted.last?.sampling.seed == 7 && backend.submitted.last?.sampling.temperature == 0.2)
        // Without --default-seed a request without one stays unseeded.
        let unseeded = FakeBackend { _ in steps(0, ["ok"], finish: .stopToken) }
        await makeServer(backend: unseeded).handle(post("/v1/chat/completions", chatBody + "}"), sink: RecordingSink())
        #expect(unseeded.submitted.first?.sampling.seed == nil)
    }

    @Test("Streaming chat with usage: role, content, finish, usage chunk, [DONE]")
    func streaming() async throws {
        let backend = FakeBackend { _ in steps(0, ["Hello", ""], finish: .stopToken) }
        let server = makeServer(backend: backend)
        let sink = RecordingSink()
        await server.handle(
            post("/v1/chat/completions", chatBody + #","stream":true,"stream_options":{"include_usage":true}}"#), sink: sink)
        #expect(sink.status == 200)
        #expect(sink.header("Content-Type") == "text/event-stream")
        #expect(sink.header("Cache-Control") == "no-cache")
        let events = sink.events
        #expect(events.count == 5)
        #expect(events.last == "[DONE]")
        #expect(sink.finished)
        let prefix = #"{"id":"chatcmpl-3","object":"chat.completion.chunk","created":1732270000,"model":"Ling-mini-2.0","system_fingerprint":"fp_test","choices":"#
        #expect(events[0] == prefix + #"[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}],"usage":null}"#)
        #expect(events[1] == prefix + #"[{"index":0,"delta":{"content":"Hello"},"logprobs":null,"finish_reason":null}],"usage":null}"#)
        #expect(events[2] == prefix + #"[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}],"usage":null}"#)
        #expect(events[3].hasPrefix(prefix + #"[],"usage":{"prompt_tokens":"#))
        #expect(events[3].contains(#""completion_tokens":6,"#))
    }

    @Test("n = 2 interleaves choices, one role and one finish chunk each, usage sums choices")
    func twoChoices() async throws {
        let backend = FakeBackend { _ in
            [
                .step(choiceIndex: 0, tokens: FakeCodec.ids("A").map { SampledToken(id: $0) }, finish: nil),
                .step(choiceIndex: 1, tokens: FakeCodec.ids("B").map { SampledToken(id: $0) }, finish: nil),
                .step(choiceIndex: 1, tokens: FakeCodec.ids("b").map { SampledToken(id: $0) }, finish: .length),
                .step(choiceIndex: 0, tokens: [SampledToken(id: 256)], finish: .stopToken),
            ]
        }
        let server = makeServer(backend: backend)
        let sink = RecordingSink()
        await server.handle(
            post("/v1/chat/completions", chatBody + #","n":2,"stream":true,"stream_options":{"include_usage":true}}"#), sink: sink)
        let chunks = sink.eventJSON
        let indices = chunks.compactMap { $0["choices"]?[0]?["index"]?.intValue }
        #expect(indices == [0, 0, 1, 1, 1, 0])
        let roles = chunks.filter { $0["choices"]?[0]?["delta"]?["role"] != nil }.compactMap { $0["choices"]?[0]?["index"]?.intValue }
        #expect(roles == [0, 1])
        let finishes = chunks.compactMap { chunk -> String? in
            guard let reason = chunk["choices"]?[0]?["finish_reason"]?.stringValue else { return nil }
            return "\(chunk["choices"]?[0]?["index"]?.intValue ?? -1):\(reason)"
        }
        #expect(finishes == ["1:length", "0:stop"])
        #expect(chunks.last?["usage"]?["completion_tokens"]?.intValue == 4)
        #expect(backend.submitted.first?.choiceCount == 2)

        let plainSink = RecordingSink()
        await server.handle(post("/v1/chat/completions", chatBody + #","n":2}"#), sink: plainSink)
        let choices = try #require(plainSink.json?["choices"]?.arrayValue)
        #expect(choices.map { $0["message"]?["content"]?.stringValue } == ["A", "Bb"])
        #expect(choices.map { $0["finish_reason"]?.stringValue } == ["stop", "length"])
    }

    @Test("Tool calls: streaming deltas and the non-streaming message agree")
    func toolCalls() async throws {
        let output = ["<tool_call>", "\n{\"name\": \"read_file\", \"arguments\": {\"path\": ", "\"a.py\"}}\n", "</tool_call>"]
        let backend = FakeBackend { _ in steps(0, output, finish: .stopToken) }
        let server = makeServer(backend: backend)
        let tools = #","tools":[{"type":"function","function":{"name":"read_file","parameters":{"type":"object"}}}]"#
        let sink = RecordingSink()
        await server.handle(post("/v1/chat/completions", chatBody + tools + #","stream":true}"#), sink: sink)
        let deltas = sink.eventJSON.compactMap { $0["choices"]?[0]?["delta"] }
        let calls = deltas.compactMap { $0["tool_calls"]?[0] }
        #expect(calls.allSatisfy { $0["index"] == 0 })
        #expect(calls.first?["id"]?.stringValue?.hasPrefix("call_") == true)
        #expect(calls.first?["function"]?["name"] == "read_file")
        #expect(calls.first?["function"]?["arguments"] == "")
        #expect(calls.dropFirst().allSatisfy { $0["id"] == nil && $0["type"] == nil && $0["function"]?["name"] == nil })
        let streamed = calls.compactMap { $0["function"]?["arguments"]?.stringValue }.joined()
        #expect(streamed == "{\"path\": \"a.py\"}")
        #expect(sink.eventJSON.last?["choices"]?[0]?["finish_reason"] == "tool_calls")

        let plain = RecordingSink()
        await server.handle(post("/v1/chat/completions", chatBody + tools + "}"), sink: plain)
        let message = try #require(plain.json?["choices"]?[0]?["message"])
        #expect(message["content"] == .null)
        #expect(message["tool_calls"]?[0]?["function"]?["arguments"]?.stringValue == streamed)
        #expect(plain.json?["choices"]?[0]?["finish_reason"] == "tool_calls")

        // tool_choice none: nothing parsed, <tool_call> banned.
        let none = RecordingSink()
        await server.handle(post("/v1/chat/completions", chatBody + tools + #","tool_choice":"none"}"#), sink: none)
        #expect(none.json?["choices"]?[0]?["message"]?["tool_calls"] == nil)
        #expect(backend.submitted.last?.bannedTokenIds == [258])
    }

    @Test("Context length and max tokens (§6.3)")
    func contextLength() async throws {
        let backend = FakeBackend { _ in steps(0, ["x"], finish: .length) }
        let server = makeServer(backend: backend, maxModelLength: 40)
        let tooLong = RecordingSink()
        await server.handle(
            post("/v1/chat/completions", #"{"model":"Ling-mini-2.0","messages":[{"role":"user","content":"\#(String(repeating: "a", count: 50))"}]}"#),
            sink: tooLong)
        #expect(tooLong.status == 400)
        #expect(tooLong.json?["error"]?["code"] == "context_length_exceeded")
        #expect(tooLong.json?["error"]?["param"] == "messages")
        let overAsk = RecordingSink()
        await server.handle(post("/v1/chat/completions", chatBody + #","max_completion_tokens":30}"#), sink: overAsk)
        #expect(overAsk.json?["error"]?["param"] == "max_completion_tokens")
        let fits = RecordingSink()
        await server.handle(post("/v1/chat/completions", chatBody + "}"), sink: fits)
        #expect(fits.status == 200)
        let promptCount = FakeRenderer().renderPrompt("user", "hi").utf8.count
        #expect(backend.submitted.last?.maxTokens == 40 - promptCount)
    }

    @Test("Reasoning: reasoning_content in the message and usage reasoning tokens")
    func reasoning() async throws {
        let backend = FakeBackend { _ in steps(0, ["<think>", "\nhmm\n", "</think>", "\n\nok"], finish: .stopToken) }
        let server = makeServer(backend: backend)
        let sink = RecordingSink()
        await server.handle(post("/v1/chat/completions", chatBody + "}"), sink: sink)
        #expect(sink.json?["choices"]?[0]?["message"]?.compactJSON() == #"{"role":"assistant","content":"ok","reasoning_content":"hmm"}"#)
        #expect(sink.json?["usage"]?["completion_tokens_details"]?["reasoning_tokens"] == 7)
    }
}

extension FakeRenderer {
    func renderPrompt(_ role: String, _ content: String) -> String { "\(role):\(content)\nassistant:" }
}
