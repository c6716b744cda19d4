import Foundation
import JSON
import SocketTestSupport
import Testing

@testable import APIServer
@testable import HTTP

/// Values at the edges of Int64 and Double, huge exponents, signed zeros, fractions where integers are expected.
let numericEdgeValues = [
    "9223372036854775807", "9223372036854775808", "-9223372036854775808", "-9223372036854775809",
    "18446744073709551615", "18446744073709551616", "99999999999999999999999999999999999999999999999",
    "2147483647", "2147483648", "-2147483649", "1e400", "-1e400", "1e-400", "-1e-400", "1e19", "-1e19",
    "9.2e18", "9.3e18", "1.7976931348623157e308", "4.9e-324", "-0", "-0.0", "0", "0.0", "-1", "1", "1.0", "0.5",
    "2.5", "-2.5", "100", "101", "1E2", "1e+2", "5e-1",
]

/// Every numeric field of chat completions (and, through `SamplingOptions`, completions).
let chatNumericFields = [
    "max_tokens", "max_completion_tokens", "temperature", "top_p", "top_k", "min_p", "repetition_penalty",
    "presence_penalty", "frequency_penalty", "seed", "n", "top_logprobs",
]
let completionNumericFields = [
    "max_tokens", "temperature", "top_p", "top_k", "min_p", "repetition_penalty", "presence_penalty",
    "frequency_penalty", "seed", "n", "logprobs", "best_of",
]

@Suite("Numeric edges: every numeric field is range-checked before arithmetic")
struct NumericEdgeTests {
    /// A backend that answers like `OKBackend` and records what reached it (the values must be sane there).
    static func backend() -> FakeBackend {
        FakeBackend { request in
            #expect(request.maxTokens >= 1 && request.maxTokens <= 4096)
            #expect(request.choiceCount >= 1 && request.choiceCount <= 8)
            return (0..<request.choiceCount).flatMap { steps($0, ["ok"], finish: .stopToken) }
        }
    }

    static func check(_ server: APIServer, path: String, body: String, field: String) async -> Int? {
        let sink = RecordingSink()
        await server.handle(post(path, body), sink: sink)
        let status = sink.status
        #expect(status == 200 || status == 400, "\(path) \(body): status \(status.map(String.init) ?? "none")")
        if status == 400 {
            let param = sink.json?["error"]?["param"]?.stringValue
            #expect(param == field || param?.hasPrefix(field) == true, "\(path) \(body): param \(param ?? "null")")
        }
        return status
    }

    @Test("Chat and completions: every numeric field at every edge value gets 200 or a 400 naming the field")
    func everyFieldEveryEdge() async {
        let server = makeServer(backend: Self.backend())
        for field in chatNumericFields {
            for value in numericEdgeValues {
                var body = #"{"model":"Ling-mini-2.0","messages":[{"role":"user","content":"hi"}],"\#(field)":\#(value)"#
                if field == "top_logprobs" { body += #","logprobs":true"# }
                _ = await Self.check(server, path: "/v1/chat/completions", body: body + "}", field: field)
            }
        }
        for field in completionNumericFields {
            for value in numericEdgeValues {
                let body = #"{"model":"Ling-mini-2.0","prompt":"hi","\#(field)":\#(value)}"#
                _ = await Self.check(server, path: "/v1/completions", body: body, field: field)
            }
        }
        // Keys and values of logit_bias, elements of stop_token_ids, prompt and detokenize token ids.
        for value in numericEdgeValues {
            let key = "\"\(value)\""
            _ = await Self.check(
                server, path: "/v1/chat/completions",
                body: #"{"model":"Ling-mini-2.0","messages":[{"role":"user","content":"hi"}],"logit_bias":{\#(key):1}}"#,
                field: "logit_bias")
            _ = await Self.check(
                server, path: "/v1/chat/completions",
                body: #"{"model":"Ling-mini-2.0","messages":[{"role":"user","content":"hi"}],"logit_bias":{"5":\#(value)}}"#,
                field: "logit_bias")
            _ = await Self.check(
                server, path: "/v1/chat/completions",
                body: #"{"model":"Ling-mini-2.0","messages":[{"role":"user","content":"hi"}],"stop_token_ids":[\#(value)]}"#,
                field: "stop_token_ids")
            _ = await Self.check(
                server, path: "/v1/completions", body: #"{"model":"Ling-mini-2.0","prompt":[\#(value)]}"#, field: "prompt")
            _ = await Self.check(server, path: "/detokenize", body: #"{"tokens":[\#(value)]}"#, field: "tokens")
            _ = await Self.check(
                server, path: "/tokenize", body: #"{"prompt":"hi","add_special_tokens":\#(value)}"#, field: "add_special_tokens")
        }
    }

    @Test("The values that overflowed or make no sense are 400s naming the field, with the range in the message")
    func outOfRangeIsNamed() async {
        let server = makeServer(backend: Self.backend())
        let cases: [(String, String)] = [
            ("max_tokens", "9223372036854775807"), ("max_completion_tokens", "9223372036854775807"),
            ("max_tokens", "9223372036854775808"), ("max_tokens", "1e400"), ("max_tokens", "-9223372036854775808"),
            ("max_tokens", "2147483648"), ("max_tokens", "0"), ("max_tokens", "1e19"), ("max_tokens", "2.5"),
            ("n", "9223372036854775807"), ("n", "-1"), ("n", "1e400"), ("top_k", "-2"), ("top_k", "9223372036854775807"),
            ("top_k", "-9223372036854775809"), ("seed", "18446744073709551616"), ("seed", "-9223372036854775809"),
            ("seed", "1e400"), ("seed", "0.5"), ("temperature", "1e400"), ("temperature", "-1e-400") , ("top_p", "-0.0"),
            ("presence_penalty", "-1e400"), ("min_p", "1.7976931348623157e308"), ("top_logprobs", "9223372036854775807"),
        ]
        for (field, value) in cases {
            var body = #"{"model":"Ling-mini-2.0","messages":[{"role":"user","content":"hi"}],"\#(field)":\#(value)"#
            if field == "top_logprobs" { body += #","logprobs":true"# }
            let sink = RecordingSink()
            await server.handle(post("/v1/chat/completions", body + "}"), sink: sink)
            if field == "temperature" && value == "-1e-400" {
                #expect(sink.status == 200, "-1e-400 rounds to -0.0, a valid temperature")
                continue
            }
            #expect(sink.status == 400, "\(field)=\(value)")
            #expect(sink.json?["error"]?["param"]?.stringValue == field, "\(field)=\(value)")
        }
        let sink = RecordingSink()
        await server.handle(
            post("/v1/chat/completions", #"{"model":"Ling-mini-2.0","messages":[{"role":"user","content":"hi"}],"max_tokens":9223372036854775807}"#),
            sink: sink)
        #expect(sink.json?["error"]?["message"]?.stringValue == "max_tokens must be between 1 and 2147483647, got 9223372036854775807")
        // Within the sanity bound but beyond the context: the context error, computed without overflow.
        let beyond = RecordingSink()
        await server.handle(
            post("/v1/completions", #"{"model":"Ling-mini-2.0","prompt":"hi","max_tokens":2147483647}"#), sink: beyond)
        #expect(beyond.status == 400 && beyond.json?["error"]?["code"]?.stringValue == "context_length_exceeded")
    }

    @Test("Over a socket: max_tokens 2^63-1 gets 400 and the server keeps serving")
    func hugeMaxTokensOverSocket() async throws { try await offCooperativePool { try Self.hugeMaxTokensOverSocketBody() } }

    static func hugeMaxTokensOverSocketBody() throws {
        let harness = try SocketHarness()  // the real engine over the noise model
        defer { harness.stop() }
        let base = #"{"model":"Ling-mini-2.0","messages":[{"role":"user","content":"hi"}]"#
        for field in ["max_tokens", "max_completion_tokens"] {
            for stream in ["false", "true"] {
                let response = try harness.send(
                    "POST", "/v1/chat/completions", body: base + #","\#(field)":9223372036854775807,"stream":\#(stream)}"#)
                #expect(response.status == 400)
                #expect(try JSONParser.parse(response.body)["error"]?["param"]?.stringValue == field)
            }
        }
        let completion = try harness.send(
            "POST", "/v1/completions", body: #"{"model":"Ling-mini-2.0","prompt":"hi","max_tokens":9223372036854775807}"#)
        #expect(completion.status == 400)
        let after = try harness.send("POST", "/v1/chat/completions", body: base + #","max_tokens":2}"#)
        #expect(after.status == 200)
        #expect(try harness.send("GET", "/health").status == 200)
    }
}

@Suite("Metrics are current at scrape time", .serialized)
struct CurrentMetricsTests {
    @Test("A scrape right after a response shows that response's cached tokens (no timer in between)")
    func scrapeShowsCachedTokens() async throws { try await offCooperativePool { try Self.scrapeShowsCachedTokensBody() } }

    static func scrapeShowsCachedTokensBody() throws {
        let harness = try SocketHarness(enablePrefixCaching: true)
        defer { harness.stop() }
        #expect(try harness.metric("lingserve:prefix_cache_hits_total") == 0, "every series exists from start-up")
        #expect(try harness.metric("lingserve:spec_decode_num_drafts_total") == 0)
        let content = String(repeating: "a long shared prefix ", count: 8)
        let body = #"{"model":"Ling-mini-2.0","messages":[{"role":"user","content":"\#(content)"}],"max_tokens":2}"#
        let first = try harness.send("POST", "/v1/chat/completions", body: body)
        #expect(first.status == 200)
        let second = try harness.send("POST", "/v1/chat/completions", body: body)
        let cached = try JSONParser.parse(second.body)["usage"]?["prompt_tokens_details"]?["cached_tokens"]?.doubleValue
        #expect((cached ?? 0) > 0)
        #expect(try harness.metric("lingserve:prefix_cache_hits_total") == cached)
        #expect((try harness.metric("lingserve:prefix_cache_queries_total") ?? 0) >= cached ?? 1)
    }
}
