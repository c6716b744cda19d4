import Foundation
import Glibc
import JSON
import OpenAIAPI
import SocketTestSupport
import Testing

@testable import APIServer

/// `event:` lines and parsed `data:` payloads of a Responses SSE body, in order.
func responsesEvents(_ body: [UInt8]) throws -> [(name: String, data: JSONValue)] {
    var events: [(String, JSONValue)] = []
    for block in String(decoding: body, as: UTF8.self).components(separatedBy: "\n\n") where !block.isEmpty {
        let lines = block.split(separator: "\n", omittingEmptySubsequences: false)
        guard lines.count == 2, lines[0].hasPrefix("event: "), lines[1].hasPrefix("data: ") else {
            throw TestClientError("bad SSE block: \(block)")
        }
        events.append((String(lines[0].dropFirst(7)), try JSONParser.parse(Array(lines[1].dropFirst(6).utf8))))
    }
    return events
}

private let weatherTool =
    #"{"type":"function","name":"get_weather","description":"Weather","parameters":{"type":"object","properties":{"city":{"type":"string"},"unit":{"enum":["c","f"]}},"required":["city","unit"],"additionalProperties":false},"strict":true}"#
private let unitTool =
    #"{"type":"function","name":"set_unit","parameters":{"type":"object","properties":{"unit":{"enum":["c","f"]},"days":{"type":"integer"}},"required":["unit","days"],"additionalProperties":false},"strict":true}"#

private func scripted(_ texts: [String]) -> FakeBackend {
    FakeBackend { _ in
        [.scheduled(cachedPromptTokenCount: 3)]
            + texts.map { .step(choiceIndex: 0, tokens: FakeCodec.ids($0).map { SampledToken(id: $0) }, finish: nil) }
            + [.step(choiceIndex: 0, tokens: [SampledToken(id: 256)], finish: .stopToken)]
    }
}

@Suite("POST /v1/responses over real sockets", .serialized)
struct ResponsesSocketTests {
    @Test("Streaming text: every event in order, dense sequence numbers, ids shared with the final object, usage")
    func streamingTextShape() async throws { try await offCooperativePool { try Self.streamingTextShapeBody() } }

    static func streamingTextShapeBody() throws {
        let harness = try SocketHarness(backend: scripted(["<think>plan", "</think>", "Hel", "lo"]))
        defer { harness.stop() }
        let response = try harness.send(
            "POST", "/v1/responses", body: #"{"model":"Ling-mini-2.0","input":"hi","stream":true,"include":["reasoning.encrypted_content"]}"#)
        #expect(response.status == 200 && response.headers[first: "Content-Type"] == "text/event-stream")
        let events = try responsesEvents(response.body)
        #expect(events.map(\.name) == [
            "response.created", "response.in_progress",
            "response.output_item.added", "response.content_part.added", "response.reasoning_text.delta",
            "response.reasoning_text.done", "response.content_part.done", "response.output_item.done",
            "response.output_item.added", "response.content_part.added", "response.output_text.delta",
            "response.output_text.delta", "response.output_text.done", "response.content_part.done",
            "response.output_item.done", "response.completed",
        ])
        for (index, event) in events.enumerated() {
            #expect(event.data["type"]?.stringValue == event.name)
            #expect(event.data["sequence_number"]?.intValue == index)
        }
        #expect(events[0].data["response"]?["status"] == "in_progress" && events[0].data["response"]?["output"] == [])
        let reasoning = events[7].data["item"]
        #expect(reasoning?["type"] == "reasoning" && reasoning?["summary"] == [])
        #expect(reasoning?["content"]?[0]?["text"] == "plan")
        #expect(reasoning?["encrypted_content"]?.stringValue.flatMap(ReasoningSeal.open) == "plan")
        let message = events[14].data["item"]
        #expect(events[14].data["output_index"] == 1 && message?["status"] == "completed")
        #expect(message?["content"]?[0]?["text"] == "Hello")
        #expect(events[10].data["item_id"] == message?["id"] && events[10].data["content_index"] == 0)
        let final = try #require(events.last?.data["response"])
        #expect(final["status"] == "completed" && final["id"] == events[0].data["response"]?["id"])
        #expect(final["output"]?[0] == reasoning && final["output"]?[1] == message)
        #expect(final["usage"]?["input_tokens_details"]?["cached_tokens"] == 3)
        #expect(final["usage"]?["output_tokens"]?.intValue ?? 0 > 0)
        #expect(final["usage"]?["total_tokens"]?.intValue
            == (final["usage"]?["input_tokens"]?.intValue ?? 0) + (final["usage"]?["output_tokens"]?.intValue ?? 0))
    }

    @Test("Non-streaming: the response object, echo fields, function_call items with call_id distinct from id")
    func nonStreamingToolCall() async throws { try await offCooperativePool { try Self.nonStreamingToolCallBody() } }

    static func nonStreamingToolCallBody() throws {
        let call = "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"unit\": \"c\"}}\n</tool_call>"
        let harness = try SocketHarness(backend: scripted(["Checking.", call]))
        defer { harness.stop() }
        let response = try harness.send(
            "POST", "/v1/responses",
            body: #"{"model":"Ling-mini-2.0","instructions":"Be brief.","input":[{"role":"user","content":[{"type":"input_text","text":"Weather?"}]}],"tools":[\#(weatherTool),{"type":"web_search"}],"max_output_tokens":100,"temperature":0.5}"#)
        #expect(response.status == 200, "\(response.text)")
        #expect(response.headers[first: "X-LingServe-Skipped-Tools"] == "web_search")
        let object = try JSONParser.parse(response.body)
        #expect(object["object"] == "response" && object["status"] == "completed" && object["error"] == .null)
        #expect(object["instructions"] == "Be brief." && object["max_output_tokens"] == 100 && object["temperature"] == 0.5)
        #expect(object["tool_choice"] == "auto" && object["tools"]?.arrayValue?.count == 2)
        #expect(object["output"]?[0]?["type"] == "message" && object["output"]?[0]?["content"]?[0]?["text"] == "Checking.")
        let item = try #require(object["output"]?[1])
        #expect(item["type"] == "function_call" && item["name"] == "get_weather" && item["status"] == "completed")
        #expect(item["arguments"] == #"{"city": "Paris", "unit": "c"}"#)
        #expect(item["call_id"]?.stringValue?.hasPrefix("call_") == true && item["id"]?.stringValue?.hasPrefix("fc_") == true)
    }

    @Test("Forced call through the engine (tool_choice required), then function_call_output sent back")
    func toolRoundTrip() async throws { try await offCooperativePool { try Self.toolRoundTripBody() } }

    static func toolRoundTripBody() throws {
        let harness = try SocketHarness()
        defer { harness.stop() }
        let first = try harness.send(
            "POST", "/v1/responses",
            body: #"{"model":"Ling-mini-2.0","input":"units?","tools":[\#(unitTool)],"tool_choice":"required","parallel_tool_calls":false,"max_output_tokens":300,"stream":true}"#)
        let events = try responsesEvents(first.body)
        #expect(events.last?.name == "response.completed", "\(first.text.suffix(400))")
        let done = try #require(events.first { $0.name == "response.output_item.done" && $0.data["item"]?["type"] == "function_call" })
        let call = try #require(done.data["item"])
        let arguments = try JSONParser.parse(Array((call["arguments"]?.stringValue ?? "").utf8))
        #expect(arguments["unit"] == "c" || arguments["unit"] == "f")
        #expect(arguments["days"]?.intValue != nil)
        let deltas = events.filter { $0.name == "response.function_call_arguments.delta" }
            .compactMap { $0.data["delta"]?.stringValue }.joined()
        #expect(deltas == call["arguments"]?.stringValue)
        #expect(events.first { $0.name == "response.function_call_arguments.done" }?.data["arguments"] == call["arguments"])
        // Round trip: the call and its output come back as items (Codex sends no ids or statuses).
        let callID = try #require(call["call_id"]?.stringValue)
        let history = #"[{"type":"message","role":"user","content":"units?"},{"type":"function_call","call_id":"\#(callID)","name":"set_unit","arguments":\#(JSONValue.string(call["arguments"]?.stringValue ?? "").compactJSON())},{"type":"function_call_output","call_id":"\#(callID)","output":"ok"}]"#
        let second = try harness.send(
            "POST", "/v1/responses",
            body: #"{"model":"Ling-mini-2.0","input":\#(history),"tools":[\#(unitTool)],"tool_choice":"none","max_output_tokens":4}"#)
        #expect(second.status == 200, "\(second.text)")
        let object = try JSONParser.parse(second.body)
        #expect(object["status"] == "incomplete" && object["incomplete_details"]?["reason"] == "max_output_tokens")
        #expect(object["output"]?.arrayValue?.allSatisfy { $0["type"] == "message" } == true)
    }

    @Test("previous_response_id continues a stored conversation; unknown ids and store false give 400")
    func previousResponse() async throws { try await offCooperativePool { try Self.previousResponseBody() } }

    static func previousResponseBody() throws {
        let backend = scripted(["Hi there"])
        let harness = try SocketHarness(backend: backend)
        defer { harness.stop() }
        let first = try JSONParser.parse(try harness.send(
            "POST", "/v1/responses", body: #"{"model":"Ling-mini-2.0","input":"hello"}"#).body)
        let id = try #require(first["id"]?.stringValue)
        let second = try harness.send(
            "POST", "/v1/responses",
            body: #"{"model":"Ling-mini-2.0","input":"again","previous_response_id":"\#(id)","instructions":"S"}"#)
        let secondObject = try JSONParser.parse(second.body)
        #expect(second.status == 200 && secondObject["previous_response_id"]?.stringValue == id)
        // FakeRenderer prints role:content lines: the stored turn sits between the new system text and the new input.
        let prompt = String(decoding: (backend.submitted.last?.promptTokenIds ?? []).map { UInt8($0) }, as: UTF8.self)
        #expect(prompt == "system:S\nuser:hello\nassistant:Hi there\nuser:again\nassistant:")
        for (body, param) in [
            (#"{"model":"Ling-mini-2.0","input":"x","previous_response_id":"resp_nope"}"#, "previous_response_id"),
        ] {
            let response = try harness.send("POST", "/v1/responses", body: body)
            #expect(response.status == 400)
            let error = try JSONParser.parse(response.body)["error"]
            #expect(error?["param"]?.stringValue == param && error?["code"] == "previous_response_not_found")
        }
        let unstored = try JSONParser.parse(try harness.send(
            "POST", "/v1/responses", body: #"{"model":"Ling-mini-2.0","input":"x","store":false}"#).body)
        let missing = try harness.send(
            "POST", "/v1/responses",
            body: #"{"model":"Ling-mini-2.0","input":"x","previous_response_id":"\#(unstored["id"]?.stringValue ?? "")"}"#)
        #expect(missing.status == 400)
    }

    @Test("Errors before the stream: clear 400s naming the field, 404 for an unknown model")
    func errors() async throws { try await offCooperativePool { try Self.errorsBody() } }

    static func errorsBody() throws {
        let harness = try SocketHarness(backend: scripted(["x"]))
        defer { harness.stop() }
        let cases: [(String, Int, String?)] = [
            (#"{"model":"Ling-mini-2.0"}"#, 400, "input"),
            (#"{"model":"Ling-mini-2.0","input":"x","max_output_tokens":0}"#, 400, "max_output_tokens"),
            (#"{"model":"Ling-mini-2.0","input":"x","temperature":3}"#, 400, "temperature"),
            (#"{"model":"Ling-mini-2.0","input":[{"type":"message","role":"user","content":[{"type":"input_image","image_url":"x"}]}]}"#, 400, "input[0].content[0].type"),
            (#"{"model":"Ling-mini-2.0","input":[{"type":"bogus"}]}"#, 400, "input[0].type"),
            (#"{"model":"Ling-mini-2.0","input":"x","tools":[{"type":"alien"}]}"#, 400, "tools[0].type"),
            (#"{"model":"Ling-mini-2.0","input":"x","tools":[{"type":"web_search"}],"tool_choice":{"type":"web_search"}}"#, 400, "tool_choice.type"),
            (#"{"model":"Ling-mini-2.0","input":"x","tools":[\#(weatherTool)],"tool_choice":{"type":"function","name":"nope"}}"#, 400, "tool_choice"),
            (#"{"model":"Ling-mini-2.0","input":"x","background":true}"#, 400, "background"),
            (#"{"model":"Ling-mini-2.0","input":"x","truncation":"auto"}"#, 400, "truncation"),
            (#"{"model":"Ling-mini-2.0","input":[{"type":"compaction_trigger"}]}"#, 400, "input[0].type"),
            (#"{"model":"other","input":"x"}"#, 404, "model"),
        ]
        for (body, status, param) in cases {
            let response = try harness.send("POST", "/v1/responses", body: body)
            #expect(response.status == status, "\(body): \(response.text)")
            #expect(try JSONParser.parse(response.body)["error"]?["param"]?.stringValue == param, "\(body)")
        }
    }

    @Test("Streaming context overflow: response.created then response.failed with context_length_exceeded")
    func streamingContextOverflow() async throws { try await offCooperativePool { try Self.streamingContextOverflowBody() } }

    static func streamingContextOverflowBody() throws {
        let harness = try SocketHarness(backend: scripted(["x"]))
        defer { harness.stop() }
        let long = String(repeating: "a", count: 3000)  // FakeCodec: one token per byte, the context is 2048
        let streamed = try harness.send("POST", "/v1/responses", body: #"{"model":"Ling-mini-2.0","input":"\#(long)","stream":true}"#)
        let events = try responsesEvents(streamed.body)
        #expect(events.map(\.name) == ["response.created", "response.failed"])
        #expect(events.last?.data["response"]?["error"]?["code"] == "context_length_exceeded")
        let plain = try harness.send("POST", "/v1/responses", body: #"{"model":"Ling-mini-2.0","input":"\#(long)"}"#)
        let plainError = try JSONParser.parse(plain.body)["error"]
        #expect(plain.status == 400 && plainError?["code"] == "context_length_exceeded")
    }

    @Test("Usage equals the chat path's for the same prompt and output")
    func usageMatchesChat() async throws { try await offCooperativePool { try Self.usageMatchesChatBody() } }

    static func usageMatchesChatBody() throws {
        let harness = try SocketHarness(backend: scripted(["<think>a", "</think>", "Hello"]))
        defer { harness.stop() }
        let chat = try JSONParser.parse(try harness.send(
            "POST", "/v1/chat/completions",
            body: #"{"model":"Ling-mini-2.0","messages":[{"role":"system","content":"S"},{"role":"user","content":"hi"}]}"#).body)["usage"]
        let responses = try JSONParser.parse(try harness.send(
            "POST", "/v1/responses", body: #"{"model":"Ling-mini-2.0","instructions":"S","input":"hi"}"#).body)["usage"]
        #expect(chat?["prompt_tokens"] == responses?["input_tokens"])
        #expect(chat?["completion_tokens"] == responses?["output_tokens"])
        #expect(chat?["prompt_tokens_details"]?["cached_tokens"] == responses?["input_tokens_details"]?["cached_tokens"])
        #expect(chat?["completion_tokens_details"]?["reasoning_tokens"] == responses?["output_tokens_details"]?["reasoning_tokens"])
    }

    @Test("Keep-alive: response.in_progress repeats while the model is held, and a disconnect frees the request")
    func keepAliveAndDisconnect() async throws { try await offCooperativePool { try Self.keepAliveAndDisconnectBody() } }

    static func keepAliveAndDisconnectBody() throws {
        let gate = StepGate()
        gate.isOpen = false
        let harness = try SocketHarness(gate: gate, responsesKeepAliveSeconds: 0.05)
        defer { harness.stop() }
        let aborted = #"lingserve:request_success_total{model_name="Ling-mini-2.0",finished_reason="abort"}"#
        let before = try harness.metric(aborted) ?? 0
        let client = try harness.client()
        client.send(SocketHarness.request(
            "POST", "/v1/responses", body: #"{"model":"Ling-mini-2.0","input":"hi","stream":true,"max_output_tokens":1000}"#))
        #expect(try client.readHead().status == 200)
        var body: [UInt8] = []
        while try responsesEvents(body).filter({ $0.name == "response.in_progress" }).count < 3 {
            guard let chunk = try client.readChunk() else { break }
            body += chunk
        }
        let events = try responsesEvents(body)
        #expect(events.first?.name == "response.created", "response.created goes out before prefill")
        #expect(events.dropFirst().allSatisfy { $0.name == "response.in_progress" })
        #expect(events.enumerated().allSatisfy { $0.element.data["sequence_number"]?.intValue == $0.offset })
        Glibc.shutdown(client.fd, Int32(SHUT_RDWR))
        // Let the server see the closed connection (and cancel) while the model is still held: opened at once, a
        // loaded machine can run all 1,000 tokens before the disconnect is read, and the request ends as "length".
        usleep(1_000_000)
        gate.isOpen = true
        var abortCount = before
        var running: Double?
        for _ in 0..<1000 {
            running = try harness.metric("lingserve:num_requests_running")
            abortCount = try harness.metric(aborted) ?? 0
            if running == 0 && abortCount == before + 1 { break }
            usleep(10_000)
        }
        #expect(running == 0 && abortCount == before + 1)
        #expect(harness.engineBackend?.engine.metrics.kvCacheUsage == 0)
    }
}
