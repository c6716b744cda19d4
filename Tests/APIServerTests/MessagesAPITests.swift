import Engine
import Foundation
import Glibc
import JSON
import OpenAIAPI
import SocketTestSupport
import Testing

@testable import APIServer

/// `event:` names and parsed `data:` of an Anthropic SSE body; fails on an event without an `event:` line.
func anthropicEvents(_ body: [UInt8]) throws -> [(name: String, data: JSONValue)] {
    var events: [(String, JSONValue)] = []
    for block in String(decoding: body, as: UTF8.self).components(separatedBy: "\n\n") where !block.isEmpty {
        let lines = block.split(separator: "\n", omittingEmptySubsequences: false)
        guard lines.count == 2, lines[0].hasPrefix("event: "), lines[1].hasPrefix("data: ") else {
            throw TestClientError("bad Anthropic SSE event: \(block)")
        }
        events.append((String(lines[0].dropFirst(7)), try JSONParser.parse(String(lines[1].dropFirst(6)))))
    }
    return events
}

/// A raw request with any headers (`x-api-key`, `anthropic-version`, ...).
func rawRequest(_ method: String, _ path: String, body: String? = nil, headers: [String] = []) -> String {
    var text = "\(method) \(path) HTTP/1.1\r\nHost: test\r\n"
    for header in headers { text += header + "\r\n" }
    if let body { text += "Content-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)" } else { text += "\r\n" }
    return text
}

private let claudeHeaders = ["anthropic-version: 2023-06-01", "anthropic-beta: claude-code-20250219,interleaved-thinking-2025-05-14"]
private let hello = #"{"model":"claude-haiku-4-5-20251001","max_tokens":64,"messages":[{"role":"user","content":"hi"}]"#
private let unitTool =
    #"{"name":"set_unit","description":"Sets the unit","input_schema":{"type":"object","properties":{"unit":{"enum":["c","f"]},"days":{"type":"integer"}},"required":["unit","days"],"additionalProperties":false}}"#
private let readTool = #"{"name":"Read","input_schema":{"type":"object","properties":{"file_path":{"type":"string"}}}}"#

private func script(_ texts: [String], cached: Int = 0, finish: GenerationFinishReason = .stopToken) -> FakeBackend {
    FakeBackend { _ in [.scheduled(cachedPromptTokenCount: cached)] + steps(0, texts, finish: finish, eos: finish == .stopToken) }
}

private func send(_ server: APIServer, _ path: String, _ body: String, headers: [(name: String, value: String)] = []) async -> RecordingSink {
    let sink = RecordingSink()
    await server.handle(post(path, body, headers: headers), sink: sink)
    return sink
}

@Suite("Messages API: shapes, stop reasons, errors (in process)")
struct MessagesAPITests {
    @Test("Non-streaming shape; usage equals the chat path's for the same prompt (cache hits split out)")
    func nonStreamingShapeAndUsage() async throws {
        let server = makeServer(backend: script(["Hel", "lo"], cached: 4))
        let sink = await send(server, "/v1/messages?beta=true", hello + "}")
        #expect(sink.status == 200 && sink.header("Content-Type") == "application/json")
        #expect(sink.header("request-id") != nil)
        let message = try #require(sink.json)
        #expect(message["id"]?.stringValue?.hasPrefix("msg_") == true)
        #expect(message["type"] == "message" && message["role"] == "assistant" && message["model"] == "claude-haiku-4-5-20251001")
        #expect(message["content"] == [["type": "text", "text": "Hello"]])
        #expect(message["stop_reason"] == "end_turn" && message.objectValue?["stop_sequence"] == .null)
        let chat = await send(server, "/v1/chat/completions", #"{"model":"Ling-mini-2.0","messages":[{"role":"user","content":"hi"}]}"#)
        let chatUsage = try #require(chat.json?["usage"])
        let usage = try #require(message["usage"])
        #expect(usage["cache_read_input_tokens"] == 4 && usage["cache_creation_input_tokens"] == 0)
        #expect((usage["input_tokens"]?.intValue ?? 0) + 4 == chatUsage["prompt_tokens"]?.intValue)
        #expect(usage["output_tokens"] == chatUsage["completion_tokens"])
        // count_tokens is the prompt the request prefills.
        let count = await send(server, "/v1/messages/count_tokens?beta=true", #"{"model":"x","messages":[{"role":"user","content":"hi"}]}"#)
        #expect(count.status == 200 && count.json == ["input_tokens": .int(chatUsage["prompt_tokens"]?.intValue ?? -1)])
    }

    @Test("stop_reason: stop_sequence (with the string), max_tokens, model_context_window_exceeded (clamped max_tokens)")
    func stopReasons() async throws {
        let stopped = await send(
            makeServer(backend: script(["abcSTO", "Pdef"])), "/v1/messages", hello + #","stop_sequences":["STOP"]}"#)
        #expect(stopped.json?["content"] == [["type": "text", "text": "abc"]])
        #expect(stopped.json?["stop_reason"] == "stop_sequence" && stopped.json?["stop_sequence"] == "STOP")
        let long = await send(makeServer(backend: script(["abcd"], finish: .length)), "/v1/messages", hello + "}")
        #expect(long.json?["stop_reason"] == "max_tokens")
        let backend = script(["abcd"], finish: .length)
        let clamped = await send(
            makeServer(backend: backend, maxModelLength: 100), "/v1/messages",
            #"{"model":"m","max_tokens":9223372036854775807,"messages":[{"role":"user","content":"hi"}]}"#)
        #expect(clamped.status == 200 && clamped.json?["stop_reason"] == "model_context_window_exceeded")
        #expect(backend.submitted.first?.maxTokens == 100 - "user:hi\nassistant:".utf8.count)
    }

    @Test("thinking: blocks with a signature only when enabled; output tokens the same either way")
    func thinking() async throws {
        let texts = ["<think>", "hmm", "</think>", "Answer"]
        let on = await send(makeServer(backend: script(texts)), "/v1/messages", hello + #","thinking":{"type":"enabled","budget_tokens":1024}}"#)
        let content = try #require(on.json?["content"]?.arrayValue)
        #expect(content.count == 2 && content[0]["type"] == "thinking" && content[0]["thinking"] == "hmm")
        #expect(content[0]["signature"]?.stringValue == "lingserve:" + String(SHA256.hexDigest(Array("hmm".utf8)).prefix(32)))
        #expect(content[1] == ["type": "text", "text": "Answer"])
        let off = await send(makeServer(backend: script(texts)), "/v1/messages", hello + "}")
        #expect(off.json?["content"] == [["type": "text", "text": "Answer"]])
        #expect(off.json?["usage"]?["output_tokens"] == on.json?["usage"]?["output_tokens"])
    }

    @Test("Tool calls: tool_use blocks with toolu_ ids and object input; arguments that are not an object -> raw text + input {}")
    func toolUse() async throws {
        let call = "Let me read it.\n<tool_call>\n{\"name\": \"Read\", \"arguments\": {\"file_path\": \"a.py\"}}\n</tool_call>"
            + "\n<tool_call>\n{\"name\": \"Read\", \"arguments\": [1, 2]}\n</tool_call>"
        for stream in [false, true] {
            let sink = await send(
                makeServer(backend: script([call])), "/v1/messages", hello + #","stream":\#(stream),"tools":[\#(readTool)]}"#)
            var content: [JSONValue] = []
            if stream {
                var blocks: [Int: (JSONValue, String)] = [:]
                for (name, data) in zip(sink.eventNames, sink.eventJSON) {
                    #expect(data["type"]?.stringValue == name)
                    let index = data["index"]?.intValue ?? -1
                    if name == "content_block_start" {
                        #expect(index == blocks.count, "blocks strictly sequential")
                        blocks[index] = (data["content_block"] ?? .null, "")
                    } else if name == "content_block_delta", let delta = data["delta"] {
                        blocks[index]?.1 += (delta["text"] ?? delta["partial_json"])?.stringValue ?? ""
                    }
                }
                content = try (0..<blocks.count).map { index -> JSONValue in
                    let (start, text) = try #require(blocks[index])
                    if start["type"] == "text" { return ["type": "text", "text": .string(text)] }
                    var block = try #require(start.objectValue)
                    block["input"] = text.isEmpty ? .object(JSONObject()) : try JSONParser.parse(text)
                    return .object(block)
                }
                #expect(sink.eventJSON.last?["type"] == "message_stop")
                #expect(sink.eventJSON.dropLast().last?["delta"]?["stop_reason"] == "tool_use")
            } else {
                content = sink.json?["content"]?.arrayValue ?? []
                #expect(sink.json?["stop_reason"] == "tool_use")
            }
            #expect(content.count == 4, "\(sink.bodyText) \(sink.events)")
            guard content.count == 4 else { continue }
            #expect(content[0] == ["type": "text", "text": "Let me read it."])
            #expect(content[1]["type"] == "tool_use" && content[1]["name"] == "Read" && content[1]["input"] == ["file_path": "a.py"])
            #expect(content[1]["id"]?.stringValue?.hasPrefix("toolu_") == true)
            #expect(content[2] == ["type": "text", "text": "[1, 2]"])
            #expect(content[3]["type"] == "tool_use" && content[3]["input"] == .object(JSONObject()))
            #expect(content[1]["id"] != content[3]["id"])
        }
    }

    @Test("Errors use Anthropic's body and statuses; x-should-retry; OpenAI routes keep their shape")
    func errors() async throws {
        let server = makeServer(backend: script(["x"]), apiKeys: ["sk-right"])
        let key: [(name: String, value: String)] = [("x-api-key", "sk-right")]
        func check(_ sink: RecordingSink, _ status: Int, _ type: String, retry: String, file: String = #fileID, line: Int = #line) {
            #expect(sink.status == status, "\(sink.bodyText)")
            #expect(sink.json?["type"] == "error" && sink.json?["error"]?["type"]?.stringValue == type, "\(sink.bodyText)")
            #expect(sink.json?["request_id"]?.stringValue == sink.header("request-id"))
            #expect(sink.header("x-should-retry") == retry)
        }
        check(await send(server, "/v1/messages", hello + "}"), 401, "authentication_error", retry: "false")
        check(await send(server, "/v1/messages", hello + "}", headers: [("x-api-key", "sk-wrong")]), 401, "authentication_error", retry: "false")
        #expect(await send(server, "/v1/messages", hello + "}", headers: key).status == 200)
        #expect(await send(server, "/v1/messages", hello + "}", headers: [("Authorization", "Bearer sk-right")]).status == 200)
        let openAI = await send(server, "/v1/chat/completions", #"{"model":"Ling-mini-2.0","messages":[{"role":"user","content":"x"}]}"#)
        #expect(openAI.status == 401 && openAI.json?["error"]?["code"] == "invalid_api_key")
        #expect(await send(server, "/v1/chat/completions", #"{"model":"Ling-mini-2.0","messages":[{"role":"user","content":"x"}]}"#, headers: key).status == 200)
        let missing = await send(server, "/v1/messages", #"{"model":"m","messages":[{"role":"user","content":"x"}]}"#, headers: key)
        check(missing, 400, "invalid_request_error", retry: "false")
        #expect(missing.json?["error"]?["message"] == "max_tokens is required")
        let doubled = await send(server, "/v1/v1/messages", hello + "}", headers: key)
        check(doubled, 404, "not_found_error", retry: "false")
        #expect(doubled.json?["error"]?["message"]?.stringValue?.contains("must not end in /v1") == true)
        let wrongMethod = RecordingSink()
        await server.handle(APIRequest(method: "GET", target: "/v1/messages", headers: key), sink: wrongMethod)
        check(wrongMethod, 405, "invalid_request_error", retry: "false")
        let image = await send(server, "/v1/messages", #"{"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/png","data":""}}]}]}"#, headers: key)
        check(image, 400, "invalid_request_error", retry: "false")
        #expect(image.json?["error"]?["message"]?.stringValue?.contains("text-only") == true)
        let long = await send(makeServer(backend: script(["x"]), maxModelLength: 10), "/v1/messages", hello + "}")
        check(long, 400, "invalid_request_error", retry: "false")
        #expect(long.json?["error"]?["message"]?.stringValue?.hasPrefix("prompt is too long: 18 tokens > ") == true)
        let full = await send(makeServer(backend: FakeBackend(admission: .queueFull(retryAfterSeconds: 2)) { _ in [] }), "/v1/messages", hello + "}")
        check(full, 529, "overloaded_error", retry: "true")
        #expect(full.header("Retry-After") == "2")
        let failing = makeServer(backend: FakeBackend { _ in [.failed(message: "boom")] })
        check(await send(failing, "/v1/messages", hello + "}"), 500, "api_error", retry: "true")
        let streamed = await send(failing, "/v1/messages", hello + #","stream":true}"#)
        #expect(streamed.eventNames == ["message_start", "error"])
        #expect(streamed.eventJSON.last?["error"]?["type"] == "api_error")
        // Probes and telemetry need no key.
        let probe = RecordingSink()
        await server.handle(APIRequest(method: "HEAD", target: "/"), sink: probe)
        #expect(probe.status == 200)
        #expect(await send(server, "/api/event_logging/batch", #"{"events":[]}"#).status == 204)
    }

    @Test("Model ids: any id is served and echoed; --strict-model-names refuses unknown ids with not_found_error")
    func modelNames() async throws {
        var configuration = makeServer(backend: script(["x"])).configuration
        configuration.strictModelNames = true
        configuration.model.additionalIDs = ["claude-sonnet-4-5"]
        let strict = APIServer(
            configuration: configuration, backend: script(["x"]), codec: FakeCodec(), renderer: FakeRenderer(), clock: { 0 })
        let refused = await send(strict, "/v1/messages", hello + "}")
        #expect(refused.status == 404 && refused.json?["error"]?["type"] == "not_found_error")
        let counted = await send(strict, "/v1/messages/count_tokens", #"{"model":"gpt-4","messages":[{"role":"user","content":"x"}]}"#)
        #expect(counted.status == 404)
        let served = await send(strict, "/v1/messages", #"{"model":"claude-sonnet-4-5","max_tokens":4,"messages":[{"role":"user","content":"x"}]}"#)
        #expect(served.status == 200 && served.json?["model"] == "claude-sonnet-4-5")
        let list = RecordingSink()
        await strict.handle(APIRequest(method: "GET", target: "/v1/models"), sink: list)
        #expect(list.json?["data"]?.arrayValue?.compactMap { $0["id"]?.stringValue } == ["Ling-mini-2.0", "claude-sonnet-4-5"])
    }

    @Test("Block machine: text, thinking with signature before stop, tool_use streamed once its input is an object")
    func blockMachine() {
        var machine = MessagesBlockMachine(thinkingEnabled: true)
        var events = machine.feed([
            ChatStreamItem(delta: .role), ChatStreamItem(delta: .reasoning("a")), ChatStreamItem(delta: .reasoning("b")),
            ChatStreamItem(delta: .content("Hi")), ChatStreamItem(delta: .toolCallStart(index: 0, id: "toolu_1", name: "f")),
            ChatStreamItem(delta: .toolCallArguments(index: 0, fragment: " ")),
            ChatStreamItem(delta: .toolCallArguments(index: 0, fragment: "{\"x\"")),
            ChatStreamItem(delta: .toolCallArguments(index: 0, fragment: ": 1}")),
        ])
        events += machine.finish()
        let empty = MessagesContentBlock.toolUse(id: "toolu_1", name: "f", input: .object(JSONObject()))
        #expect(events == [
            .start(index: 0, block: .thinking("", signature: "")), .thinkingDelta(index: 0, "a"), .thinkingDelta(index: 0, "b"),
            .signatureDelta(index: 0, MessagesBlockMachine.signature(Array("ab".utf8))), .stop(index: 0),
            .start(index: 1, block: .text("")), .textDelta(index: 1, "Hi"), .stop(index: 1),
            .start(index: 2, block: empty), .inputJSONDelta(index: 2, " {\"x\""), .inputJSONDelta(index: 2, ": 1}"), .stop(index: 2),
        ])
        var accumulator = MessagesBlockAccumulator()
        accumulator.add(events)
        #expect(accumulator.content[2] == .toolUse(id: "toolu_1", name: "f", input: ["x": 1]))
        #expect(machine.toolUseCount == 1)
        var noArguments = MessagesBlockMachine(thinkingEnabled: false)
        let bare = noArguments.feed([ChatStreamItem(delta: .reasoning("r")), ChatStreamItem(delta: .toolCallStart(index: 0, id: "t", name: "g"))])
            + noArguments.finish()
        #expect(bare == [.start(index: 0, block: .toolUse(id: "t", name: "g", input: .object(JSONObject()))), .stop(index: 0)])
        #expect(SHA256.hexDigest(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(SHA256.hexDigest([]) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256.hexDigest(Array(String(repeating: "a", count: 200).utf8)).count == 64)
    }
}

@Suite("Messages API over real sockets", .serialized)
struct MessagesSocketTests {
    @Test("Streaming shape event by event; ?beta=true, anthropic-* headers and x-api-key accepted")
    func streamingShape() async throws { try await offCooperativePool { try Self.streamingShapeBody() } }

    static func streamingShapeBody() throws {
        let harness = try SocketHarness(backend: script(["Hel", "lo"], cached: 2), apiKeys: ["sk-ant"])
        defer { harness.stop() }
        let client = try harness.client()
        client.send(rawRequest(
            "POST", "/v1/messages?beta=true", body: hello + #","stream":true,"metadata":{"user_id":"u"}}"#,
            headers: claudeHeaders + ["x-api-key: sk-ant"]))
        let response = try client.readResponse()
        #expect(response.status == 200)
        #expect(response.headers[first: "Content-Type"] == "text/event-stream")
        #expect(response.headers[first: "request-id"] != nil)
        let events = try anthropicEvents(response.body)
        #expect(events.map(\.name) == [
            "message_start", "content_block_start", "ping", "content_block_delta", "content_block_delta",
            "content_block_stop", "message_delta", "message_stop",
        ])
        #expect(events.allSatisfy { $0.data["type"]?.stringValue == $0.name })
        #expect(!response.text.contains("[DONE]"))
        let start = events[0].data["message"]
        #expect(start?["id"]?.stringValue?.hasPrefix("msg_") == true && start?["content"] == [])
        #expect(start?["model"] == "claude-haiku-4-5-20251001" && start?["stop_reason"] == .null)
        #expect(start?["usage"]?["output_tokens"] == 0)
        #expect(events[1].data["content_block"] == ["type": "text", "text": ""] && events[1].data["index"] == 0)
        #expect(events[3].data["delta"] == ["type": "text_delta", "text": "Hel"])
        #expect(events[4].data["delta"] == ["type": "text_delta", "text": "lo"])
        #expect(events[5].data["index"] == 0)
        let delta = events[6].data
        #expect(delta["delta"]?["stop_reason"] == "end_turn" && delta["delta"]?.objectValue?["stop_sequence"] == .null)
        #expect(delta["usage"]?["output_tokens"] == 6 && delta["usage"]?["cache_read_input_tokens"] == 2)
        #expect(response.chunks.count >= events.count, "flushed per event")
    }

    @Test("x-api-key accepted wherever Bearer is, same deny-by-default; probes and telemetry open")
    func apiKeyOnEveryRoute() async throws { try await offCooperativePool { try Self.apiKeyOnEveryRouteBody() } }

    static func apiKeyOnEveryRouteBody() throws {
        let harness = try SocketHarness(
            backend: FakeBackend { _ in [.step(choiceIndex: 0, tokens: [SampledToken(id: 256)], finish: .stopToken)] },
            apiKeys: ["right-key"])
        defer { harness.stop() }
        let routes = APISocketTests.routes + [
            ("POST", "/v1/messages?beta=true", hello + "}"),
            ("POST", "/v1/messages/count_tokens", #"{"model":"m","messages":[{"role":"user","content":"x"}]}"#),
        ]
        for (method, path, body) in routes {
            for key in [nil, "wrong-key", "right-ke", "right-key2"] as [String?] {
                let client = try harness.client()
                client.send(rawRequest(method, path, body: body, headers: key.map { ["x-api-key: \($0)"] } ?? []))
                let response = try client.readResponse()
                #expect(response.status == 401, "\(method) \(path) key \(key ?? "none")")
                let json = try JSONParser.parse(response.body)
                if path.hasPrefix("/v1/messages") {
                    #expect(json["error"]?["type"] == "authentication_error" && json["type"] == "error")
                } else {
                    #expect(json["error"]?["code"] == "invalid_api_key")
                }
            }
            let client = try harness.client()
            client.send(rawRequest(method, path, body: body, headers: ["x-api-key: right-key"]))
            #expect(try client.readResponse().status != 401, "\(method) \(path) with x-api-key")
        }
        for (method, path, status) in [("HEAD", "/", 200), ("GET", "/api/hello", 200), ("POST", "/api/event_logging/v2/batch", 204)] {
            let client = try harness.client()
            client.send(rawRequest(method, path, body: method == "POST" ? "{}" : nil))
            #expect(try client.readHead().status == status, "\(method) \(path)")
        }
    }

    @Test("Tool round trip through the engine: tool_choice any forces a valid tool_use, the tool_result goes back", arguments: [false, true])
    func toolRoundTrip(stream: Bool) async throws { try await offCooperativePool { try Self.toolRoundTripBody(stream: stream) } }

    static func toolRoundTripBody(stream: Bool) throws {
        let harness = try SocketHarness()
        defer { harness.stop() }
        for seed in 1...2 {
            let first = try harness.send(
                "POST", "/v1/messages",
                body: #"{"model":"claude-sonnet-4-5","max_tokens":300,"stream":\#(stream),"top_k":50,"tools":[\#(unitTool)],"tool_choice":{"type":"any","disable_parallel_tool_use":true},"messages":[{"role":"user","content":"set it"}],"seed":\#(seed)}"#)
            #expect(first.status == 200)
            var id: String?
            var input: JSONValue?
            var stopReason: JSONValue?
            if stream {
                var json = ""
                for (name, data) in try anthropicEvents(first.body) {
                    if name == "content_block_start", data["content_block"]?["type"] == "tool_use" {
                        id = data["content_block"]?["id"]?.stringValue
                        #expect(data["content_block"]?["name"] == "set_unit")
                    }
                    if name == "content_block_delta", data["delta"]?["type"] == "input_json_delta" {
                        json += data["delta"]?["partial_json"]?.stringValue ?? ""
                    }
                    if name == "message_delta" { stopReason = data["delta"]?["stop_reason"] }
                }
                input = try JSONParser.parse(json)
            } else {
                let message = try JSONParser.parse(first.body)
                let block = message["content"]?.arrayValue?.first { $0["type"] == "tool_use" }
                id = block?["id"]?.stringValue
                input = block?["input"]
                stopReason = message["stop_reason"]
                #expect(block?["name"] == "set_unit")
            }
            #expect(stopReason == "tool_use", "\(first.text)")
            #expect(input?["unit"] == "c" || input?["unit"] == "f")
            #expect(input?["days"]?.intValue != nil)
            let callID = try #require(id)
            #expect(callID.hasPrefix("toolu_"))
            let history = #"[{"role":"user","content":"set it"},{"role":"assistant","content":[{"type":"tool_use","id":"\#(callID)","name":"set_unit","input":\#(input?.compactJSON() ?? "{}")}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"\#(callID)","content":[{"type":"text","text":"done"}]},{"type":"text","text":"thanks","cache_control":{"type":"ephemeral"}}]}]"#
            let second = try harness.send(
                "POST", "/v1/messages",
                body: #"{"model":"claude-sonnet-4-5","max_tokens":5,"tools":[\#(unitTool)],"tool_choice":{"type":"none"},"messages":\#(history)}"#)
            #expect(second.status == 200)
            let message = try JSONParser.parse(second.body)
            #expect(["max_tokens", "end_turn"].contains(message["stop_reason"]?.stringValue ?? ""))
            #expect(message["content"]?.arrayValue?.allSatisfy { $0["type"] == "text" } == true)
            let count = try harness.send(
                "POST", "/v1/messages/count_tokens",
                body: #"{"model":"claude-sonnet-4-5","tools":[\#(unitTool)],"tool_choice":{"type":"none"},"messages":\#(history)}"#)
            let usage = message["usage"]
            #expect(try JSONParser.parse(count.body)["input_tokens"]?.intValue
                == (usage?["input_tokens"]?.intValue ?? 0) + (usage?["cache_read_input_tokens"]?.intValue ?? 0))
        }
    }

    @Test("message_start before prefill, then event: ping keep-alives while the model is held")
    func pingsDuringPrefill() async throws { try await offCooperativePool { try Self.pingsDuringPrefillBody() } }

    static func pingsDuringPrefillBody() throws {
        let gate = StepGate()
        gate.isOpen = false
        let harness = try SocketHarness(gate: gate, messagesPingSeconds: 0.05)
        defer { harness.stop() }
        let client = try harness.client()
        client.send(rawRequest("POST", "/v1/messages", body: hello.replacingOccurrences(of: "64", with: "3") + #","temperature":0,"stream":true}"#))
        #expect(try client.readHead().status == 200)
        let start = try client.readChunk().map { String(decoding: $0, as: UTF8.self) }
        #expect(start?.hasPrefix("event: message_start\n") == true)
        let ping = try client.readChunk().map { String(decoding: $0, as: UTF8.self) }  // nothing else can come yet
        #expect(ping == "event: ping\ndata: {\"type\":\"ping\"}\n\n")
        gate.isOpen = true
        var body: [UInt8] = []
        while let chunk = try client.readChunk() { body += chunk }
        let events = try anthropicEvents(body)
        #expect(events.last?.name == "message_stop")
        let reason = events.first { $0.name == "message_delta" }?.data["delta"]?["stop_reason"]?.stringValue
        #expect(reason == "max_tokens" || reason == "end_turn")
    }

    @Test("Errors of the HTTP layer (413, 431, 414, malformed 400) on Messages paths use Anthropic's body; elsewhere OpenAI's")
    func httpLayerErrorsUseTheRoutesShape() async throws { try await offCooperativePool { try Self.httpLayerErrorsBody() } }

    static func httpLayerErrorsBody() throws {
        let harness = try SocketHarness(backend: script(["x"]))
        defer { harness.stop() }
        func answer(_ raw: String) throws -> (status: Int, body: JSONValue) {
            // One retry on a fresh connection when the reply cannot be read at all: once, in a full parallel run
            // (CI clone, 2 cores), a read here returned the request's own first line ("bad status line 'POST
            // /v1/messages/count_tokens HTTP/1.1'"), not reproduced in 20 runs since; a wrong status or body still
            // fails below, and a reply that cannot be read twice fails here.
            do {
                let client = try harness.client()
                client.send(raw)
                let response = try client.readResponse()
                return (response.status, try JSONParser.parse(response.body))
            } catch let error as TestClientError {
                print("retrying \(raw.prefix(60).debugDescription) after: \(error)")
                let client = try harness.client()
                client.send(raw)
                let response = try client.readResponse()
                return (response.status, try JSONParser.parse(response.body))
            }
        }
        let big = "X-Pad: " + String(repeating: "a", count: 70_000)
        let cases: [(name: String, request: (String) -> String, status: Int, anthropicType: String, openAICode: String)] = [
            ("body too large", { "POST \($0) HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 9000000\r\n\r\n" },
             413, "request_too_large", "request_too_large"),
            ("headers too large", { "POST \($0) HTTP/1.1\r\nHost: t\r\n\(big)\r\n\r\n" }, 431, "request_too_large", "headers_too_large"),
            ("malformed Content-Length", { "POST \($0) HTTP/1.1\r\nHost: t\r\nContent-Length: abc\r\n\r\n" },
             400, "invalid_request_error", "invalid_request"),
            ("malformed header name", { "POST \($0) HTTP/1.1\r\nHost: t\r\nBad Name: x\r\n\r\n" }, 400, "invalid_request_error", "invalid_request"),
            ("target too long", { "POST \($0)&q=\(String(repeating: "b", count: 9000)) HTTP/1.1\r\nHost: t\r\n\r\n" },
             414, "invalid_request_error", "uri_too_long"),
        ]
        for item in cases {
            for path in ["/v1/messages", "/v1/messages?beta=true", "/v1/messages/count_tokens", "/v1/v1/messages"] {
                let (status, body) = try answer(item.request(path))
                #expect(status == item.status, "\(item.name) \(path)")
                #expect(body["type"]?.stringValue == "error", "\(item.name) \(path): \(body)")
                #expect(body["error"]?["type"]?.stringValue == item.anthropicType, "\(item.name) \(path): \(body)")
                #expect(body["error"]?["message"]?.stringValue?.isEmpty == false, "\(item.name) \(path)")
                #expect(body["error"]?["code"] == nil, "\(item.name) \(path): \(body)")
            }
            for path in ["/v1/chat/completions", "/v1/responses"] {
                let (status, body) = try answer(item.request(path))
                #expect(status == item.status, "\(item.name) \(path)")
                #expect(body["type"] == nil, "\(item.name) \(path): \(body)")
                #expect(body["error"]?["code"]?.stringValue == item.openAICode, "\(item.name) \(path): \(body)")
                #expect(body["error"]?["type"]?.stringValue == "invalid_request_error", "\(item.name) \(path): \(body)")
            }
        }
        // The server still answers after the refused requests.
        #expect(try harness.send("POST", "/v1/messages", body: #"{"model":"m","max_tokens":2,"messages":[{"role":"user","content":"x"}]}"#).status == 200)
    }

    @Test("A client that disconnects mid-stream frees its request")
    func disconnectFreesTheRequest() async throws { try await offCooperativePool { try Self.disconnectFreesTheRequestBody() } }

    static func disconnectFreesTheRequestBody() throws {
        let gate = StepGate()
        gate.allow(steps: 3)
        let harness = try SocketHarness(gate: gate, messagesPingSeconds: 0)
        defer { harness.stop() }
        let aborted = #"lingserve:request_success_total{model_name="Ling-mini-2.0",finished_reason="abort"}"#
        let before = try harness.metric(aborted) ?? 0
        let client = try harness.client()
        client.send(rawRequest("POST", "/v1/messages", body: #"{"model":"m","max_tokens":1000,"temperature":0,"stream":true,"messages":[{"role":"user","content":"hi"}]}"#))
        #expect(try client.readHead().status == 200)
        _ = try client.readChunk()  // message_start
        var runningBefore: Double?
        for _ in 0..<1000 where runningBefore != 1 {
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
        #expect(running == 0 && abortCount == before + 1)
        #expect(harness.engineBackend?.engine.metrics.kvCacheUsage == 0)
        #expect(try harness.send("POST", "/v1/messages", body: #"{"model":"m","max_tokens":2,"messages":[{"role":"user","content":"x"}]}"#).status == 200)
    }
}
