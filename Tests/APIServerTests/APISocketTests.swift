import Dispatch
import Engine
import Foundation
import Glibc
import JSON
import KVCache
import OpenAIAPI
import Synchronization
import SocketTestSupport
import Testing

@testable import APIServer
@testable import HTTP

/// Lets a test hold the fake model between steps (a request then stays queued, or running), without timing.
final class StepGate: Sendable {
    /// Steps the model may still run before it waits; Int.max = open.
    private let budget = Mutex(Int.max)
    var isOpen: Bool {
        get { budget.withLock { $0 > 0 } }
        set { budget.withLock { $0 = newValue ? Int.max : 0 } }
    }
    func allow(steps: Int) { budget.withLock { $0 = steps } }

    /// Blocks the engine thread until a step may run, and takes it.
    func enter() {
        while true {
            let entered = budget.withLock { budget -> Bool in
                guard budget > 0 else { return false }
                if budget != Int.max { budget -= 1 }
                return true
            }
            if entered { return }
            usleep(1000)
        }
    }
}

/// A model over `FakeCodec`'s ids (bytes 0...255, specials 256...261) whose logits favour a token derived from the
/// history: its unconstrained output is noise, so only constrained decoding can make it a valid tool call or JSON.
final class NoiseStepModel: StepModel {
    let vocabularySize = 262
    let kvBlockCount = 256
    let kvBlockSize = 16
    let gate: StepGate
    private var logits: [Float] = []

    init(gate: StepGate) { self.gate = gate }

    func run(_ step: SchedulerStep, body: (UnsafeMutableBufferPointer<Float>) -> Void) throws {
        gate.enter()
        logits.removeAll(keepingCapacity: true)
        for item in step.sequences where item.samples {
            var hash: UInt64 = 14_695_981_039_346_656_037
            for token in item.tokenIds { hash = (hash ^ UInt64(token)) &* 1_099_511_628_211 }
            hash ^= UInt64(item.startPosition) &* 0x9E37_79B9_7F4A_7C15
            for id in 0..<vocabularySize {
                var mixed = (hash ^ UInt64(id)) &* 0xBF58_476D_1CE4_E5B9
                mixed ^= mixed >> 29
                logits.append(Float(mixed % 1000) / 100)
            }
        }
        logits.withUnsafeMutableBufferPointer { body($0) }
    }
}

/// An API server on a real socket: the APIServer routes over the HTTP layer, with either a scripted backend or the
/// real engine (and grammar compiler) over `NoiseStepModel`.
struct SocketHarness {
    let http: HTTPServer
    let port: Int
    let api: APIServer
    let engineBackend: EngineBackend?

    static let model = "Ling-mini-2.0"

    static func compiler() -> ConstraintCompiler {
        let codec = FakeCodec()
        return ConstraintCompiler(
            tokenBytes: (0..<262).map { codec.tokenBytes($0) }, specialIds: Set(256..<262),
            toolCallStart: codec.toolCallStartTokenId, toolCallEnd: codec.toolCallEndTokenId)
    }

    init(
        backend: (any GenerationBackend)? = nil, gate: StepGate = StepGate(), maxQueuedRequests: Int = 8,
        apiKeys: [String] = [], metricsWithoutAuth: Bool = false, keepAliveSeconds: Double = 0,
        enablePrefixCaching: Bool = false, accessLog: AccessLog? = nil, responsesKeepAliveSeconds: Double = 15,
        messagesPingSeconds: Double = 15, strictModelNames: Bool = false
    ) throws {
        let metrics = MetricsRegistry(modelName: Self.model)
        var engineBackend: EngineBackend?
        if backend == nil {
            let engine = try Engine(
                configuration: EngineConfiguration(
                    scheduler: SchedulerConfiguration(
                        maxBatchedTokenCount: 512, maxRunningSequenceCount: 1, maxModelLength: 2048,
                        enablePrefixCaching: enablePrefixCaching)),
                makeModel: { NoiseStepModel(gate: gate) })
            engineBackend = EngineBackend(
                engine: engine, limits: EngineBackend.Limits(maxQueuedRequests: maxQueuedRequests), metrics: metrics)
        }
        self.engineBackend = engineBackend
        let counter = Atomic<Int>(0)
        var configuration = APIServerConfiguration(
            model: ModelCard(id: Self.model, root: Self.model, created: 1_732_270_000, maxModelLength: 2048),
            systemFingerprint: "fp_test", apiKeys: apiKeys, metricsWithoutAuth: metricsWithoutAuth,
            strictModelNames: strictModelNames, messagesPingSeconds: messagesPingSeconds)
        configuration.responsesKeepAliveSeconds = responsesKeepAliveSeconds
        api = APIServer(
            configuration: configuration,
            backend: backend ?? engineBackend!, codec: FakeCodec(), renderer: FakeRenderer(), metrics: metrics,
            clock: { Date().timeIntervalSince1970 },
            makeID: { prefix in prefix + String(counter.wrappingAdd(1, ordering: .relaxed).newValue) },
            constraintCompiler: Self.compiler())
        var httpConfiguration = HTTPServerConfiguration(host: "127.0.0.1", port: 0)
        httpConfiguration.errorBody = ErrorResponse.httpLayerBody  // as `ling-serve serve` sets it
        http = HTTPServer(
            configuration: httpConfiguration,
            handler: APIHTTPHandler(server: api, sseKeepAliveSeconds: keepAliveSeconds, accessLog: accessLog))
        try http.start()
        guard let port = http.localPort else { throw TestClientError("no port") }
        self.port = port
    }

    func stop() {
        http.shutdown(deadline: .now() + .seconds(5))
        engineBackend?.engine.shutdown()
    }

    func client(timeout: Int = 60) throws -> TestClient { try TestClient(port: port, receiveTimeout: timeout) }

    /// One request on a fresh connection.
    func send(_ method: String, _ path: String, body: String? = nil, key: String? = nil) throws -> TestResponse {
        let client = try client()
        client.send(Self.request(method, path, body: body, key: key))
        return try client.readResponse()
    }

    static func request(_ method: String, _ path: String, body: String? = nil, key: String? = nil) -> String {
        var text = "\(method) \(path) HTTP/1.1\r\nHost: test\r\n"
        if let key { text += "Authorization: Bearer \(key)\r\n" }
        if let body { text += "Content-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)" } else { text += "\r\n" }
        return text
    }

    /// A metric's value from /metrics (first series whose line starts with `prefix`).
    func metric(_ prefix: String, key: String? = nil) throws -> Double? {
        let text = try send("GET", "/metrics", key: key).text
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix(prefix) }) else { return nil }
        return line.split(separator: " ").last.flatMap { Double($0) }
    }
}

/// The `data:` payloads of an SSE body, in order, and the comment lines.
func sseEvents(_ body: [UInt8]) -> (data: [String], comments: [String]) {
    var data: [String] = []
    var comments: [String] = []
    for event in String(decoding: body, as: UTF8.self).components(separatedBy: "\n\n") where !event.isEmpty {
        if event.hasPrefix(":") { comments.append(event) } else if event.hasPrefix("data: ") { data.append(String(event.dropFirst(6))) }
    }
    return (data, comments)
}

private let chat = #"{"model":"Ling-mini-2.0","messages":[{"role":"user","content":"hi"}]"#
/// No free strings, so the noise model's output is bounded: its strings would run on for hundreds of tokens.
private let unitTool =
    #"{"type":"function","function":{"name":"set_unit","parameters":{"type":"object","properties":{"unit":{"enum":["c","f"]},"days":{"type":"integer"},"flag":{"type":"boolean"}},"required":["unit","days"],"additionalProperties":false}}}"#
private let pickTool =
    #"{"type":"function","function":{"name":"pick","parameters":{"type":"object","properties":{"choice":{"enum":["a","b",1,null]}},"required":["choice"]}}}"#
private let weatherTool =
    #"{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"},"unit":{"enum":["c","f"]},"days":{"type":"integer"}},"required":["city","unit"],"additionalProperties":false}}}"#

@Suite("API server over real sockets", .serialized)
struct APISocketTests {
    static let routes: [(String, String, String?)] = [
        ("POST", "/v1/chat/completions", chat + "}"), ("POST", "/v1/completions", #"{"model":"m","prompt":"x"}"#),
        ("GET", "/v1/models", nil), ("GET", "/v1/models/Ling-mini-2.0", nil), ("GET", "/metrics", nil),
        ("POST", "/tokenize", #"{"prompt":"x"}"#), ("POST", "/detokenize", #"{"tokens":[65]}"#), ("GET", "/nope", nil),
        ("DELETE", "/v1/models", nil), ("POST", "/health", nil),
    ]

    @Test("Auth on every route over the socket: 401 everywhere but GET /health; /metrics open only with the flag")
    func authOnEveryRoute() async throws { try await offCooperativePool { try Self.authOnEveryRouteBody() } }

    static func authOnEveryRouteBody() throws {
        for metricsOpen in [false, true] {
            let harness = try SocketHarness(
                backend: FakeBackend { _ in [.step(choiceIndex: 0, tokens: [SampledToken(id: 256)], finish: .stopToken)] },
                apiKeys: ["right-key"], metricsWithoutAuth: metricsOpen)
            defer { harness.stop() }
            for (method, path, body) in Self.routes {
                for key in [nil, "wrong-key", "right-ke", "right-key2"] as [String?] {
                    let response = try harness.send(method, path, body: body, key: key)
                    if metricsOpen && method == "GET" && path == "/metrics" {
                        #expect(response.status == 200)
                        continue
                    }
                    #expect(response.status == 401, "\(method) \(path) key \(key ?? "none")")
                    #expect(response.headers[first: "WWW-Authenticate"] == "Bearer")
                    let error = try JSONParser.parse(response.body)["error"]
                    #expect(error?["type"] == "authentication_error" && error?["code"] == "invalid_api_key")
                    #expect(response.headers[first: "Content-Length"] == String(response.body.count))
                }
                let authorized = try harness.send(method, path, body: body, key: "right-key")
                #expect(authorized.status != 401, "\(method) \(path) with the key")
            }
            let health = try harness.send("GET", "/health")
            #expect(health.status == 200 && health.text == #"{"status":"ok"}"#)
        }
    }

    @Test("429 with Retry-After when the engine's waiting queue is full, before any byte; the queue drains after")
    func fullQueueGets429() async throws { try await offCooperativePool { try Self.fullQueueGets429Body() } }

    static func fullQueueGets429Body() throws {
        let gate = StepGate()
        gate.isOpen = false
        let harness = try SocketHarness(gate: gate, maxQueuedRequests: 1)
        defer { harness.stop() }
        // The first request is scheduled (held in its first step), the second waits, the third does not fit.
        let body = chat + #","max_tokens":4,"stream":true}"#
        let running = try harness.client()
        running.send(SocketHarness.request("POST", "/v1/chat/completions", body: body))
        #expect(try running.readHead().status == 200)
        var queued: TestClient?
        for _ in 0..<2000 {  // until the first request has left the waiting count
            let probe = try harness.client()
            probe.send(SocketHarness.request("POST", "/v1/chat/completions", body: body))
            let head = try probe.readHead()
            if head.status == 200 {
                queued = probe
                break
            }
            #expect(head.status == 429)
            usleep(2000)
        }
        #expect(queued != nil)
        for stream in [false, true] {
            let rejected = try harness.send(
                "POST", "/v1/chat/completions", body: chat + #","max_tokens":4,"stream":\#(stream)}"#)
            #expect(rejected.status == 429)
            #expect(Int(rejected.headers[first: "Retry-After"] ?? "") ?? 0 >= 1)
            #expect(rejected.headers[first: "Content-Type"]?.hasPrefix("application/json") == true)
            let error = try JSONParser.parse(rejected.body)["error"]
            #expect(error?["type"] == "rate_limit_error" && error?["code"] == "server_overloaded")
        }
        gate.isOpen = true
        for client in [running, queued].compactMap({ $0 }) {
            var text: [UInt8] = []
            while let chunk = try client.readChunk() { text += chunk }
            #expect(sseEvents(text).data.last == "[DONE]")
        }
        #expect(try harness.send("POST", "/v1/chat/completions", body: chat + #","max_tokens":2}"#).status == 200)
    }

    @Test("SSE shape: role chunk first, content deltas, one finish chunk, usage chunk, [DONE], headers")
    func sseShape() async throws { try await offCooperativePool { try Self.sseShapeBody() } }

    static func sseShapeBody() throws {
        let harness = try SocketHarness(backend: FakeBackend { _ in
            [.scheduled(cachedPromptTokenCount: 0),
             .step(choiceIndex: 0, tokens: FakeCodec.ids("Hel").map { SampledToken(id: $0) }, finish: nil),
             .step(choiceIndex: 0, tokens: FakeCodec.ids("lo").map { SampledToken(id: $0) }, finish: nil),
             .step(choiceIndex: 0, tokens: [SampledToken(id: 256)], finish: .stopToken)]
        })
        defer { harness.stop() }
        let response = try harness.send(
            "POST", "/v1/chat/completions", body: chat + #","stream":true,"stream_options":{"include_usage":true}}"#)
        #expect(response.status == 200)
        #expect(response.headers[first: "Content-Type"] == "text/event-stream")
        #expect(response.headers[first: "Cache-Control"] == "no-cache")
        #expect(response.headers.containsToken(name: "Transfer-Encoding", token: "chunked"))
        let events = sseEvents(response.body)
        #expect(events.comments.isEmpty, "no pings unless enabled")
        #expect(events.data.last == "[DONE]")
        let chunks = try events.data.dropLast().map { try JSONParser.parse($0) }
        #expect(chunks.count == 5)
        #expect(chunks[0]["choices"]?[0]?["delta"] == ["role": "assistant", "content": ""])
        #expect(chunks[1]["choices"]?[0]?["delta"]?["content"] == "Hel")
        #expect(chunks[2]["choices"]?[0]?["delta"]?["content"] == "lo")
        #expect(chunks[3]["choices"]?[0]?["delta"] == .object(JSONObject()))
        #expect(chunks[3]["choices"]?[0]?["finish_reason"] == "stop")
        #expect(chunks[..<3].allSatisfy { $0["choices"]?[0]?["finish_reason"] == .null })
        #expect(chunks[4]["choices"] == [] && chunks[4]["usage"]?["completion_tokens"] == 6)
        #expect(chunks[..<4].allSatisfy { $0["usage"] == .null && $0["object"] == "chat.completion.chunk" })
        #expect(chunks.allSatisfy { $0["id"] == chunks[0]["id"] && $0["created"] == chunks[0]["created"] })
        // Each event is its own chunk on the wire (flushed per event).
        #expect(response.chunks.count >= events.data.count)
    }

    @Test("Tool-call deltas over the socket: index on every delta, id/type/name only on the first, arguments concatenate")
    func toolCallDeltas() async throws { try await offCooperativePool { try Self.toolCallDeltasBody() } }

    static func toolCallDeltasBody() throws {
        let output = "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"unit\": \"c\"}}\n</tool_call>"
            + "\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Rome\", \"unit\": \"f\"}}\n</tool_call>"
        let ids = FakeCodec.ids(output)
        let harness = try SocketHarness(backend: FakeBackend { _ in
            stride(from: 0, to: ids.count, by: 5).map { start in
                .step(choiceIndex: 0, tokens: ids[start..<min(ids.count, start + 5)].map { SampledToken(id: $0) }, finish: nil)
            } + [.step(choiceIndex: 0, tokens: [SampledToken(id: 256)], finish: .stopToken)]
        })
        defer { harness.stop() }
        let response = try harness.send(
            "POST", "/v1/chat/completions", body: chat + #","stream":true,"tools":[\#(weatherTool)]}"#)
        let chunks = try sseEvents(response.body).data.dropLast().map { try JSONParser.parse($0) }
        var arguments: [Int: String] = [:]
        var firsts: [Int] = []
        for chunk in chunks {
            for delta in chunk["choices"]?[0]?["delta"]?["tool_calls"]?.arrayValue ?? [] {
                let index = try #require(delta["index"]?.intValue)
                if arguments[index] == nil {
                    firsts.append(index)
                    #expect(delta["id"]?.stringValue?.hasPrefix("call_") == true && delta["type"] == "function")
                    #expect(delta["function"]?["name"] == "get_weather" && delta["function"]?["arguments"] == "")
                } else {
                    #expect(delta["id"] == nil && delta["type"] == nil && delta["function"]?["name"] == nil)
                }
                arguments[index, default: ""] += delta["function"]?["arguments"]?.stringValue ?? ""
            }
        }
        #expect(firsts == [0, 1])
        #expect(arguments[0] == #"{"city": "Paris", "unit": "c"}"# && arguments[1] == #"{"city": "Rome", "unit": "f"}"#)
        #expect(chunks.last?["choices"]?[0]?["finish_reason"] == "tool_calls")
    }

    @Test("tool_choice required through the engine: a weak (noise) model still returns a valid call", arguments: [false, true])
    func requiredToolChoiceConstrainsTheEngine(stream: Bool) async throws { try await offCooperativePool { try Self.requiredToolChoiceConstrainsTheEngineBody(stream: stream) } }

    static func requiredToolChoiceConstrainsTheEngineBody(stream: Bool) throws {
        let harness = try SocketHarness()
        defer { harness.stop() }
        for seed in 1...3 {
            let response = try harness.send(
                "POST", "/v1/chat/completions",
                body: chat + #","tools":[\#(pickTool),\#(unitTool)],"tool_choice":"required","parallel_tool_calls":false,"max_tokens":400,"seed":\#(seed),"stream":\#(stream)}"#)
            #expect(response.status == 200)
            var name: String?
            var arguments = ""
            var finish: JSONValue?
            if stream {
                for text in sseEvents(response.body).data.dropLast() {
                    let choice = try JSONParser.parse(text)["choices"]?[0]
                    for delta in choice?["delta"]?["tool_calls"]?.arrayValue ?? [] {
                        #expect(delta["index"] == 0, "parallel calls would have index 1, 2, ...")
                        name = name ?? delta["function"]?["name"]?.stringValue
                        arguments += delta["function"]?["arguments"]?.stringValue ?? ""
                    }
                    if let reason = choice?["finish_reason"], reason != .null { finish = reason }
                }
            } else {
                let choice = try JSONParser.parse(response.body)["choices"]?[0]
                let call = choice?["message"]?["tool_calls"]?[0]
                name = call?["function"]?["name"]?.stringValue
                arguments = call?["function"]?["arguments"]?.stringValue ?? ""
                finish = choice?["finish_reason"]
            }
            #expect(finish == "tool_calls", "\(String(decoding: response.body, as: UTF8.self))")
            let parsed = try JSONParser.parse(arguments)
            if name == "pick" {
                #expect(["a", "b", 1, nil].contains(parsed["choice"]))
                #expect(parsed.objectValue?.count == 1)
            } else {
                #expect(name == "set_unit")
                #expect(parsed["unit"] == "c" || parsed["unit"] == "f")
                #expect(parsed["days"]?.intValue != nil)
                #expect(parsed.objectValue?.keys.allSatisfy { ["unit", "days", "flag"].contains($0) } == true)
            }
        }
    }

    @Test("response_format json_schema through the engine: the noise model's content parses and conforms")
    func jsonSchemaConstrainsTheEngine() async throws { try await offCooperativePool { try Self.jsonSchemaConstrainsTheEngineBody() } }

    static func jsonSchemaConstrainsTheEngineBody() throws {
        let harness = try SocketHarness()
        defer { harness.stop() }
        let schema = #"{"type":"object","properties":{"ok":{"type":"boolean"},"n":{"type":"integer"},"tags":{"type":"array","items":{"enum":["a","b"]},"maxItems":3}},"required":["ok","n","tags"],"additionalProperties":false}"#
        for seed in 1...3 {
            let response = try harness.send(
                "POST", "/v1/chat/completions",
                body: chat + #","response_format":{"type":"json_schema","json_schema":{"name":"r","schema":\#(schema)}},"max_tokens":300,"seed":\#(seed)}"#)
            let choice = try JSONParser.parse(response.body)["choices"]?[0]
            #expect(choice?["finish_reason"] == "stop")
            let content = try #require(choice?["message"]?["content"]?.stringValue)
            let value = try JSONParser.parse(content)
            #expect(value["ok"]?.boolValue != nil && value["n"]?.intValue != nil)
            #expect(value["tags"]?.arrayValue?.allSatisfy { $0 == "a" || $0 == "b" } == true)
            #expect(value.objectValue?.count == 3)
        }
        let unsupported = try harness.send(
            "POST", "/v1/chat/completions",
            body: chat + ##","response_format":{"type":"json_schema","json_schema":{"name":"r","schema":{"$ref":"#/nowhere"}}}}"##)
        #expect(unsupported.status == 400)
        #expect(try JSONParser.parse(unsupported.body)["error"]?["param"] == "response_format.json_schema.schema")
    }

    @Test("A client that disconnects mid-stream frees its request: running back to 0, counted as abort in /metrics")
    func disconnectMidStreamFreesTheRequest() async throws { try await offCooperativePool { try Self.disconnectMidStreamFreesTheRequestBody() } }

    static func disconnectMidStreamFreesTheRequestBody() throws {
        let gate = StepGate()
        gate.allow(steps: 3)  // prefill + two tokens, then the model waits: the request stays running
        let harness = try SocketHarness(gate: gate)
        defer { harness.stop() }
        let aborted = #"lingserve:request_success_total{model_name="Ling-mini-2.0",finished_reason="abort"}"#
        let before = try harness.metric(aborted) ?? 0
        let client = try harness.client()
        client.send(SocketHarness.request(
            "POST", "/v1/chat/completions", body: chat + #","stream":true,"max_tokens":1000,"ignore_eos":true}"#))
        #expect(try client.readHead().status == 200)
        _ = try client.readChunk()  // the role chunk: the request is running
        var runningBefore: Double?
        for _ in 0..<1000 where runningBefore != 1 {  // the engine publishes its gauges after the step
            runningBefore = try harness.metric("lingserve:num_requests_running")
            usleep(1000)
        }
        #expect(runningBefore == 1)
        client.shutdownWrite()
        Glibc.shutdown(client.fd, Int32(SHUT_RDWR))
        gate.isOpen = true
        var running: Double?
        var abortCount = before
        for _ in 0..<1000 {
            running = try harness.metric("lingserve:num_requests_running")
            abortCount = try harness.metric(aborted) ?? 0
            if running == 0 && abortCount == before + 1 { break }
            usleep(10_000)
        }
        #expect(running == 0)
        #expect(abortCount == before + 1)
        #expect(harness.engineBackend?.engine.metrics.kvCacheUsage == 0)
        #expect(try harness.send("POST", "/v1/chat/completions", body: chat + #","max_tokens":2}"#).status == 200)
    }

    @Test("Graceful shutdown: the stream in progress completes, then new connections are refused")
    func gracefulShutdown() async throws { try await offCooperativePool { try Self.gracefulShutdownBody() } }

    static func gracefulShutdownBody() throws {
        let gate = StepGate()
        gate.isOpen = false
        let harness = try SocketHarness(gate: gate)
        let client = try harness.client()
        client.send(SocketHarness.request("POST", "/v1/chat/completions", body: chat + #","stream":true,"max_tokens":5}"#))
        #expect(try client.readHead().status == 200)
        let done = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            harness.http.shutdown(deadline: .now() + .seconds(20))
            done.signal()
        }
        while (try? TestClient(port: harness.port, receiveTimeout: 1)) != nil { usleep(1000) }  // until refused
        gate.isOpen = true
        var body: [UInt8] = []
        while let chunk = try client.readChunk() { body += chunk }
        let events = sseEvents(body).data
        #expect(events.last == "[DONE]")
        #expect(events.contains { $0.contains(#""finish_reason":"length""#) })
        done.wait()
        #expect(throws: (any Error).self) { _ = try harness.client() }
        harness.engineBackend?.engine.shutdown()
    }

    @Test("SSE keep-alive: `: ping` comments while a stream waits, and none once it is done")
    func keepAlivePings() async throws { try await offCooperativePool { try Self.keepAlivePingsBody() } }

    static func keepAlivePingsBody() throws {
        let gate = StepGate()
        gate.isOpen = false
        let harness = try SocketHarness(gate: gate, keepAliveSeconds: 0.05)
        defer { harness.stop() }
        let client = try harness.client()
        client.send(SocketHarness.request("POST", "/v1/chat/completions", body: chat + #","stream":true,"max_tokens":3}"#))
        #expect(try client.readHead().status == 200)
        let ping = try client.readChunk()  // nothing else can arrive while the model is held
        #expect(ping.map { String(decoding: $0, as: UTF8.self) } == ": ping\n\n")
        gate.isOpen = true
        var body: [UInt8] = []
        while let chunk = try client.readChunk() { body += chunk }
        let events = sseEvents(body)
        #expect(events.data.last == "[DONE]")
        #expect(events.data.dropLast().allSatisfy { (try? JSONParser.parse($0)) != nil })
    }
}

/// Runs blocking socket code on a thread of its own. The tests block on `recv`; on the cooperative pool (as wide as
/// the machine has cores) two such tests would leave no thread for the server's request tasks.
func offCooperativePool(_ body: @escaping @Sendable () throws -> Void) async throws {
    try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
        let thread = Thread {
            do {
                try body()
                continuation.resume()
            } catch {
                continuation.resume(throwing: error)
            }
        }
        thread.stackSize = 8 << 20
        thread.start()
    }
}
