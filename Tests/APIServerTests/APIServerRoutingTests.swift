import HTTP
import JSON
import OpenAIAPI
import Testing

@testable import APIServer

private let chatBody = #"{"model":"Ling-mini-2.0","messages":[{"role":"user","content":"hi"}]}"#

@Suite("API server: routing, auth, errors, cancellation")
struct APIServerRoutingTests {
    static let allRoutes: [(String, String)] = [
        ("POST", "/v1/chat/completions"), ("POST", "/v1/completions"), ("GET", "/v1/models"),
        ("GET", "/v1/models/Ling-mini-2.0"), ("GET", "/metrics"), ("POST", "/tokenize"), ("POST", "/detokenize"),
        ("GET", "/nope"), ("DELETE", "/v1/models"),
    ]

    /// Moved from HTTPTests when the HTTP layer stopped defining the OpenAI shape: the same body, now from here.
    @Test("The HTTP layer's errors have the OpenAI shape off the Messages paths")
    func errorBodyHasTheOpenAIShape() {
        let body = ErrorResponse.httpLayerBody(
            HTTPErrorInfo(status: 413, message: "too \"big\"\n", type: "invalid_request_error", code: "request_too_large"))
        #expect(body.contentType == "application/json")
        #expect(String(decoding: body.bytes, as: UTF8.self)
            == #"{"error":{"message":"too \"big\"\n","type":"invalid_request_error","param":null,"code":"request_too_large"}}"#)
    }

    @Test("GET / is the chat page when on (no key needed, no external resources); HEAD / and --no-webui keep the empty probe")
    func chatPage() async {
        let on = makeServer(backend: FakeBackend { _ in [] }, apiKeys: ["k1"]) { $0.chatPage = true }
        let page = RecordingSink()
        await on.handle(APIRequest(method: "GET", target: "/"), sink: page)
        #expect(page.status == 200)
        #expect(page.header("Content-Type") == "text/html; charset=utf-8")
        #expect(page.bodyText.contains("<title>LingServe chat</title>") && page.bodyText.contains("/v1/chat/completions"))
        #expect(!page.bodyText.contains("src=\"http") && !page.bodyText.contains("href=\"http"))
        let withQuery = RecordingSink()
        await on.handle(APIRequest(method: "GET", target: "/?test=1"), sink: withQuery)
        #expect(withQuery.bodyText == page.bodyText)
        let head = RecordingSink()
        await on.handle(APIRequest(method: "HEAD", target: "/"), sink: head)
        #expect(head.status == 200 && head.bodyText.isEmpty)
        // The API behind the page still needs the key.
        let models = RecordingSink()
        await on.handle(APIRequest(method: "GET", target: "/v1/models"), sink: models)
        #expect(models.status == 401)
        let off = makeServer(backend: FakeBackend { _ in [] })
        let probe = RecordingSink()
        await off.handle(APIRequest(method: "GET", target: "/"), sink: probe)
        #expect(probe.status == 200 && probe.bodyText.isEmpty)
    }

    @Test("Every route but /health needs the key; 401 with WWW-Authenticate; Bearer is case-insensitive")
    func auth() async {
        let server = makeServer(backend: FakeBackend { _ in [] }, apiKeys: ["k1", "secret-2"])
        for (method, path) in Self.allRoutes {
            for header in [nil, "Bearer wrong", "Basic secret-2", "Bearer secret-", "Bearer secret-22"] as [String?] {
                let sink = RecordingSink()
                await server.handle(
                    APIRequest(method: method, target: path, headers: header.map { [("Authorization", $0)] } ?? []), sink: sink)
                #expect(sink.status == 401, "\(method) \(path) \(header ?? "none")")
                #expect(sink.header("WWW-Authenticate") == "Bearer")
                #expect(sink.json?["error"]?["code"] == "invalid_api_key")
            }
        }
        let health = RecordingSink()
        await server.handle(APIRequest(method: "GET", target: "/health"), sink: health)
        #expect(health.status == 200 && health.bodyText == #"{"status":"ok"}"#)
        for header in ["Bearer secret-2", "bearer k1", "BEARER  k1 "] {
            let sink = RecordingSink()
            await server.handle(APIRequest(method: "GET", target: "/v1/models", headers: [("authorization", header)]), sink: sink)
            #expect(sink.status == 200, "\(header)")
        }
        let open = makeServer(backend: FakeBackend { _ in [] }, apiKeys: ["k"], metricsWithoutAuth: true)
        let metrics = RecordingSink()
        await open.handle(APIRequest(method: "GET", target: "/metrics"), sink: metrics)
        #expect(metrics.status == 200)
        #expect(APIKeyAuthenticator.matchesAny([Array("abc".utf8)], token: Array("abc".utf8)))
        #expect(!APIKeyAuthenticator.matchesAny([Array("abc".utf8)], token: Array("abcd".utf8)))
        #expect(!APIKeyAuthenticator.matchesAny([Array("abc".utf8)], token: []))
    }

    @Test("404, 405 with Allow, models, percent-decoded ids")
    func routing() async {
        let server = makeServer(backend: FakeBackend { _ in [] })
        let notFound = RecordingSink()
        await server.handle(APIRequest(method: "GET", target: "/v2/whatever"), sink: notFound)
        #expect(notFound.status == 404 && notFound.json?["error"]?["code"] == "not_found")
        let wrongMethod = RecordingSink()
        await server.handle(APIRequest(method: "GET", target: "/v1/chat/completions"), sink: wrongMethod)
        #expect(wrongMethod.status == 405 && wrongMethod.header("Allow") == "POST")
        #expect(wrongMethod.json?["error"]?["code"] == "method_not_allowed")
        let model = RecordingSink()
        await server.handle(APIRequest(method: "GET", target: "/v1/models/Ling%2Dmini-2.0?x=1"), sink: model)
        #expect(model.status == 200 && model.json?["id"] == "Ling-mini-2.0")
        let missing = RecordingSink()
        await server.handle(APIRequest(method: "GET", target: "/v1/models/org%2Fother"), sink: missing)
        #expect(missing.status == 404 && missing.json?["error"]?["param"] == "model")
        #expect(missing.json?["error"]?["message"] == "The model 'org/other' does not exist")
        let list = RecordingSink()
        await server.handle(APIRequest(method: "GET", target: "/v1/models"), sink: list)
        #expect(list.json?["data"]?[0]?["root"] == "Ling-mini-2.0")
        let unknownModel = RecordingSink()
        await server.handle(post("/v1/chat/completions", #"{"model":"gpt-4","messages":[{"role":"user","content":"x"}]}"#), sink: unknownModel)
        #expect(unknownModel.status == 404 && unknownModel.json?["error"]?["code"] == "model_not_found")
    }

    @Test("Bad JSON, deep JSON, content type, validation error bodies")
    func badBodies() async {
        let server = makeServer(backend: FakeBackend { _ in [] })
        let cases: [(String, String?, String)] = [
            ("{", "application/json", "invalid_json"),
            (String(repeating: "[", count: 70) + String(repeating: "]", count: 70), "application/json", "invalid_json"),
            ("[1]", "application/json", "invalid_json"),
            (chatBody, "text/plain", "invalid_value"),
            (#"{"model":"Ling-mini-2.0","messages":[{"role":"user","content":"x"}],"temperature":3}"#, nil, "invalid_value"),
        ]
        for (body, contentType, code) in cases {
            let sink = RecordingSink()
            await server.handle(
                APIRequest(method: "POST", target: "/v1/chat/completions", headers: contentType.map { [("Content-Type", $0)] } ?? [], body: Array(body.utf8)),
                sink: sink)
            #expect(sink.status == 400, "\(body.prefix(30))")
            #expect(sink.json?["error"]?["code"]?.stringValue == code)
            #expect(sink.json?["error"]?.objectValue?.keys == ["message", "type", "param", "code"])
        }
        let curl = RecordingSink()
        await server.handle(
            APIRequest(method: "POST", target: "/tokenize", headers: [("Content-Type", "application/x-www-form-urlencoded")], body: Array(#"{"prompt":"ab"}"#.utf8)),
            sink: curl)
        #expect(curl.bodyText == #"{"count":2,"max_model_len":4096,"tokens":[97,98],"token_strs":null}"#)
    }

    @Test("429 with Retry-After from the backend's admission, decided before any byte")
    func overloaded() async {
        let server = makeServer(backend: FakeBackend(admission: .queueFull(retryAfterSeconds: 7)) { _ in [] })
        for stream in [false, true] {
            let sink = RecordingSink()
            await server.handle(post("/v1/chat/completions", chatBody.dropLast() + ",\"stream\":\(stream)}"), sink: sink)
            #expect(sink.status == 429)
            #expect(sink.header("Retry-After") == "7")
            #expect(sink.json?["error"]?["type"] == "rate_limit_error")
            #expect(sink.json?["error"]?["code"] == "server_overloaded")
            #expect(sink.events.isEmpty)
        }
        let loading = makeServer(backend: FakeBackend(admission: .rejected(status: 503, code: "model_loading", message: "loading", retryAfterSeconds: 3)) { _ in [] })
        let sink = RecordingSink()
        await loading.handle(post("/v1/completions", #"{"model":"Ling-mini-2.0","prompt":"a"}"#), sink: sink)
        #expect(sink.status == 503 && sink.header("Retry-After") == "3")
    }

    @Test("A disconnect is forwarded to the backend as a cancel, streaming and not; counted as abort")
    func cancellation() async {
        // Streaming: the client goes away after the role chunk while the request is still running.
        let backend = FakeBackend(holdOpen: true) { _ in steps(0, ["a", "b"], finish: .length).dropLast() }
        let server = makeServer(backend: backend)
        let sink = RecordingSink(disconnectAfterWrites: 1)
        await server.handle(post("/v1/chat/completions", chatBody.dropLast() + #","stream":true}"#), sink: sink)
        #expect(backend.cancelled.count == 1)
        #expect(backend.cancelled.first == backend.submitted.first?.id)
        #expect(sink.events.count == 1)
        // Non-streaming: the client left while the request was queued.
        let queued = FakeBackend(holdOpen: true) { _ in [] }
        let queuedServer = makeServer(backend: queued)
        let gone = RecordingSink(disconnectOnRegister: true)
        await queuedServer.handle(post("/v1/chat/completions", chatBody), sink: gone)
        #expect(queued.cancelled.count == 1)
        #expect(queuedServer.metrics.render().contains(#"lingserve:request_success_total{model_name="Ling-mini-2.0",finished_reason="abort"} 1"#))
    }

    @Test("Stop strings stop the choice at the backend")
    func stopString() async {
        let backend = FakeBackend { _ in steps(0, ["one. T", "WO three", "four"], finish: .length) }
        let server = makeServer(backend: backend)
        let sink = RecordingSink()
        await server.handle(post("/v1/chat/completions", chatBody.dropLast() + #","stop":["TWO"]}"#), sink: sink)
        #expect(sink.json?["choices"]?[0]?["message"]?["content"] == "one. ")
        #expect(sink.json?["choices"]?[0]?["finish_reason"] == "stop")
        #expect(backend.stoppedChoices == [0])
    }

    @Test("An engine failure: 500 before streaming, in-stream error event after")
    func failures() async {
        let backend = FakeBackend { _ in [.failed(message: "boom")] }
        let server = makeServer(backend: backend)
        let plain = RecordingSink()
        await server.handle(post("/v1/chat/completions", chatBody), sink: plain)
        #expect(plain.status == 500 && plain.json?["error"]?["code"] == "internal_error")
        let streamed = RecordingSink()
        await server.handle(post("/v1/chat/completions", chatBody.dropLast() + #","stream":true}"#), sink: streamed)
        #expect(streamed.events.count == 2)
        #expect(streamed.eventJSON.first?["error"]?["type"] == "server_error")
        #expect(streamed.events.last == "[DONE]")
    }

    @Test("Completions: indices prompt_index * n + j, echo, streaming text chunks")
    func completions() async throws {
        let backend = FakeBackend { request in
            let text = request.promptTokenIds == [97] ? "X" : "Y"
            return steps(0, [text], finish: .length) + steps(1, [text.lowercased()], finish: .stopToken)
        }
        let server = makeServer(backend: backend)
        let sink = RecordingSink()
        await server.handle(post("/v1/completions", #"{"model":"Ling-mini-2.0","prompt":["a","b"],"n":2,"echo":true}"#), sink: sink)
        let choices = try #require(sink.json?["choices"]?.arrayValue)
        #expect(choices.map { $0["index"]?.intValue } == [0, 1, 2, 3])
        #expect(choices.map { $0["text"]?.stringValue } == ["aX", "ax", "bY", "by"])
        #expect(choices.map { $0["finish_reason"]?.stringValue } == ["length", "stop", "length", "stop"])
        #expect(sink.json?["usage"]?["prompt_tokens"] == 2)
        #expect(sink.json?["object"] == "text_completion")
        let stream = RecordingSink()
        await server.handle(
            post("/v1/completions", #"{"model":"Ling-mini-2.0","prompt":[97],"stream":true,"stream_options":{"include_usage":true}}"#),
            sink: stream)
        let chunks = stream.eventJSON
        #expect(chunks.first?["choices"]?[0]?.compactJSON() == #"{"index":0,"text":"X","logprobs":null,"finish_reason":"length"}"#)
        #expect(chunks.last?["usage"]?["completion_tokens"] == 1)
        #expect(stream.events.last == "[DONE]")
    }

    @Test("Tokenize messages, detokenize, health states, metrics exposition")
    func misc() async {
        let server = makeServer(backend: FakeBackend { _ in steps(0, ["ok"], finish: .stopToken) })
        let tokenize = RecordingSink()
        await server.handle(post("/tokenize", #"{"messages":[{"role":"developer","content":"s"}],"add_generation_prompt":false,"return_token_strs":true}"#), sink: tokenize)
        #expect(tokenize.json?["count"] == 9)
        #expect(tokenize.json?["token_strs"]?[0] == "s")
        let detokenize = RecordingSink()
        await server.handle(post("/detokenize", #"{"tokens":[104,105,256]}"#), sink: detokenize)
        #expect(detokenize.bodyText == #"{"prompt":"hi<|role_end|>"}"#)
        let badIds = RecordingSink()
        await server.handle(post("/detokenize", #"{"tokens":[200000]}"#), sink: badIds)
        #expect(badIds.status == 400 && badIds.json?["error"]?["param"] == "tokens")

        let chat = RecordingSink()
        await server.handle(post("/v1/chat/completions", chatBody), sink: chat)
        let metrics = RecordingSink()
        await server.handle(APIRequest(method: "GET", target: "/metrics"), sink: metrics)
        #expect(metrics.header("Content-Type") == "text/plain; version=0.0.4; charset=utf-8")
        let text = metrics.bodyText
        #expect(text.contains(#"lingserve:request_success_total{model_name="Ling-mini-2.0",finished_reason="stop"} 1"#))
        #expect(text.contains(#"lingserve:generation_tokens_total{model_name="Ling-mini-2.0"} 3"#))
        #expect(text.contains(#"lingserve:time_to_first_token_seconds_bucket{model_name="Ling-mini-2.0",le="640.0"} 1"#))
        #expect(text.contains(#"lingserve:e2e_request_latency_seconds_bucket{model_name="Ling-mini-2.0",le="+Inf"} 1"#))
        #expect(text.contains("# TYPE lingserve:inter_token_latency_seconds histogram"))
        #expect(text.contains("# TYPE lingserve:spec_decode_num_drafts_total counter"))

        let statuses: [(HealthStatus, String)] = [(.loading, "model_loading"), (.shuttingDown, "shutting_down"), (.unhealthy, "engine_unhealthy")]
        for (status, code) in statuses {
            let unhealthy = APIServer(
                configuration: server.configuration, backend: FakeBackend { _ in [] }, codec: FakeCodec(), renderer: FakeRenderer(),
                health: { status }, clock: { 0 })
            let sink = RecordingSink()
            await unhealthy.handle(APIRequest(method: "GET", target: "/health"), sink: sink)
            #expect(sink.status == 503 && sink.json?["error"]?["code"]?.stringValue == code)
        }
    }

    @Test("Metrics histograms are cumulative with the contract's buckets")
    func histograms() {
        let registry = MetricsRegistry(modelName: "m")
        registry.observeInterTokenLatency(0.004)
        registry.observeInterTokenLatency(0.2)
        registry.observeInterTokenLatency(9)
        registry.addSpecDecode(draftTokens: 2, acceptedTokens: 1, acceptedByPosition: [1, 0])
        let text = registry.render()
        #expect(text.contains(#"lingserve:inter_token_latency_seconds_bucket{model_name="m",le="0.005"} 1"#))
        #expect(text.contains(#"lingserve:inter_token_latency_seconds_bucket{model_name="m",le="0.2"} 2"#))
        #expect(text.contains(#"lingserve:inter_token_latency_seconds_bucket{model_name="m",le="5.0"} 2"#))
        #expect(text.contains(#"lingserve:inter_token_latency_seconds_bucket{model_name="m",le="+Inf"} 3"#))
        #expect(text.contains(#"lingserve:inter_token_latency_seconds_count{model_name="m"} 3"#))
        #expect(text.contains(#"lingserve:spec_decode_num_accepted_tokens_per_pos_total{model_name="m",position="0"} 1"#))
        #expect(MetricsRegistry.ttftBuckets.count == 15 && MetricsRegistry.e2eBuckets.count == 13 && MetricsRegistry.itlBuckets.count == 14)
    }

    @Test("Metrics: model_info names the weight format and compute dtype; absent when not given")
    func modelInfo() {
        #expect(!MetricsRegistry(modelName: "m").render().contains("model_info"))
        let text = MetricsRegistry(modelName: "m", info: [("weight_format", "Q8_0"), ("compute_dtype", "int8")]).render()
        #expect(text.contains(#"lingserve:model_info{model_name="m",weight_format="Q8_0",compute_dtype="int8"} 1"#))
        #expect(text.contains("# TYPE lingserve:model_info gauge"))
    }

    @Test("Metrics: expert-parallel workers' busy/idle seconds, tokens, rows and experts, one series per worker")
    func expertWorkers() {
        let registry = MetricsRegistry(modelName: "m")
        #expect(!registry.render().contains("expert_worker"))
        registry.setExpertWorkers([
            .init(busySeconds: 1.5, idleSeconds: 0.25, tokens: 10, rows: 40, sharedRows: 3, experts: 16),
            .init(busySeconds: 2, idleSeconds: 0, tokens: 7, rows: 24, experts: 17),
        ])
        let text = registry.render()
        #expect(text.contains(#"lingserve:expert_worker_busy_seconds_total{model_name="m",worker="0"} 1.5"#))
        #expect(text.contains(#"lingserve:expert_worker_idle_seconds_total{model_name="m",worker="1"} 0.0"#))
        #expect(text.contains(#"lingserve:expert_worker_tokens_total{model_name="m",worker="1"} 7"#))
        #expect(text.contains(#"lingserve:expert_worker_rows_total{model_name="m",worker="0"} 40"#))
        #expect(text.contains(#"lingserve:expert_worker_experts{model_name="m",worker="1"} 17"#))
        #expect(text.contains(#"lingserve:expert_worker_shared_rows_total{model_name="m",worker="0"} 3"#))
        #expect(text.contains("# TYPE lingserve:expert_worker_experts gauge"))
    }
}
