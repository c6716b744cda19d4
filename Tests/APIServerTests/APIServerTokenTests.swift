import JSON
import OpenAIAPI
import Testing

@testable import APIServer

private let chatBody = #"{"model":"Ling-mini-2.0","messages":[{"role":"user","content":"hi"}]"#

@Suite("API server: token-level behaviour")
struct APIServerTokenTests {
    @Test("A character split across steps is released whole; stop strings match across it")
    func utf8Boundaries() async {
        let bytes = Array("aé€b".utf8).map { Int($0) }  // 1 + 2 + 3 + 1 bytes, one token each
        let backend = FakeBackend { _ in
            bytes.enumerated().map { position, id in
                GenerationEvent.step(
                    choiceIndex: 0, tokens: [SampledToken(id: id)], finish: position == bytes.count - 1 ? .length : nil)
            }
        }
        let server = makeServer(backend: backend)
        let sink = RecordingSink()
        await server.handle(post("/v1/chat/completions", chatBody + #","stream":true}"#), sink: sink)
        let contents = sink.eventJSON.compactMap { $0["choices"]?[0]?["delta"]?["content"]?.stringValue }
        #expect(contents == ["", "a", "é", "€", "b"])
        let stopped = RecordingSink()
        await server.handle(post("/v1/chat/completions", chatBody + #","stop":["é€"]}"#), sink: stopped)
        #expect(stopped.json?["choices"]?[0]?["message"]?["content"] == "a")
        #expect(stopped.json?["usage"]?["completion_tokens"] == 6)
    }

    @Test("Chat logprobs: one entry per token except the stop token, with top alternatives")
    func logprobs() async throws {
        let backend = FakeBackend { _ in
            [
                .step(choiceIndex: 0, tokens: [SampledToken(id: 72, logprob: -0.5, topLogprobs: [(72, -0.5), (73, -1.5)])], finish: nil),
                .step(choiceIndex: 0, tokens: [SampledToken(id: 105, logprob: -0.25, topLogprobs: [(105, -0.25), (106, -2)]),
                                               SampledToken(id: 256, logprob: -0.1, topLogprobs: [(256, -0.1), (1, -3)])], finish: .stopToken),
            ]
        }
        let server = makeServer(backend: backend)
        let sink = RecordingSink()
        await server.handle(post("/v1/chat/completions", chatBody + #","logprobs":true,"top_logprobs":2}"#), sink: sink)
        #expect(backend.submitted.first?.logprobCount == 2)
        let logprobs = try #require(sink.json?["choices"]?[0]?["logprobs"])
        #expect(logprobs.compactJSON() == #"{"content":[{"token":"H","logprob":-0.5,"bytes":[72],"top_logprobs":[{"token":"H","logprob":-0.5,"bytes":[72]},{"token":"I","logprob":-1.5,"bytes":[73]}]},{"token":"i","logprob":-0.25,"bytes":[105],"top_logprobs":[{"token":"i","logprob":-0.25,"bytes":[105]},{"token":"j","logprob":-2.0,"bytes":[106]}]}],"refusal":null}"#)
        let stream = RecordingSink()
        await server.handle(post("/v1/chat/completions", chatBody + #","logprobs":true,"top_logprobs":2,"stream":true}"#), sink: stream)
        let entries = stream.eventJSON.flatMap { $0["choices"]?[0]?["logprobs"]?["content"]?.arrayValue ?? [] }
        #expect(JSONValue.array(entries) == logprobs["content"])
        #expect(stream.eventJSON.first?["choices"]?[0]?["logprobs"] == .null)
    }

    @Test("Completions legacy logprobs")
    func legacyLogprobs() async throws {
        let backend = FakeBackend { _ in
            [.step(choiceIndex: 0, tokens: [SampledToken(id: 120, logprob: -1, topLogprobs: [(120, -1)]),
                                            SampledToken(id: 121, logprob: -2, topLogprobs: [(122, -0.5)])], finish: .length)]
        }
        let server = makeServer(backend: backend)
        let sink = RecordingSink()
        await server.handle(post("/v1/completions", #"{"model":"Ling-mini-2.0","prompt":"a","logprobs":1,"max_tokens":2}"#), sink: sink)
        #expect(sink.json?["choices"]?[0]?["logprobs"]?.compactJSON() == #"{"tokens":["x","y"],"token_logprobs":[-1.0,-2.0],"top_logprobs":[{"x":-1.0},{"z":-0.5}],"text_offset":[0,1]}"#)
        #expect(backend.submitted.first?.maxTokens == 2)
    }
}
