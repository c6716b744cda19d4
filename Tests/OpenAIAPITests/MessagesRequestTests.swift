import JSON
import Testing

@testable import OpenAIAPI

private func messages(_ text: String, kind: MessagesRequest.Kind = .create) throws -> MessagesRequest {
    try MessagesRequest(json: JSONParser.parse(text), kind: kind)
}

private func messagesError(_ text: String, kind: MessagesRequest.Kind = .create) -> APIError? {
    do {
        _ = try messages(text, kind: kind)
        return nil
    } catch let error as APIError {
        return error
    } catch {
        return nil
    }
}

private let tool = #"{"name":"Read","description":"Reads a file","input_schema":{"type":"object","properties":{"file_path":{"type":"string"}},"required":["file_path"]}}"#

@Suite("Messages API request translation")
struct MessagesRequestTests {
    @Test("Minimal request: model echoed, max_tokens, one user message; no system message without system")
    func minimal() throws {
        let request = try messages(#"{"model":"claude-sonnet-4-5","max_tokens":16,"messages":[{"role":"user","content":"hi"}]}"#)
        #expect(request.model == "claude-sonnet-4-5" && request.maxTokens == 16 && !request.stream && !request.thinking)
        #expect(request.chat.messages == [ChatMessage(role: .user, content: "hi")])
        #expect(request.chat.tools.isEmpty && request.chat.toolChoice == .none)
    }

    @Test("system blocks joined with newlines, billing header dropped, leading inline system appended, cache_control ignored")
    func system() throws {
        let request = try messages(#"""
            {"model":"m","max_tokens":1,"system":[{"type":"text","text":"x-anthropic-billing-header: cc_version=2.1; cch=ab12;"},
             {"type":"text","text":"You are Claude Code.","cache_control":{"type":"ephemeral"}},{"type":"text","text":"Be brief."}],
             "messages":[{"role":"system","content":"Inline rule."},{"role":"user","content":[{"type":"text","text":"a","cache_control":{"type":"ephemeral"}},{"type":"text","text":"b"}]}]}
            """#)
        #expect(request.chat.messages == [
            ChatMessage(role: .system, content: "You are Claude Code.\nBe brief.\nInline rule."),
            ChatMessage(role: .user, content: "a\nb"),
        ])
        let plain = try messages(#"{"model":"m","max_tokens":1,"system":"S","messages":[{"role":"user","content":"u"}]}"#)
        #expect(plain.chat.messages.first == ChatMessage(role: .system, content: "S"))
    }

    @Test("Tool round trip history: tool_use -> tool_calls, tool_result -> tool messages before the user's text, thinking kept")
    func toolHistory() throws {
        let request = try messages(#"""
            {"model":"m","max_tokens":8,"tools":[\#(tool)],"messages":[
             {"role":"user","content":"read a.py"},
             {"role":"assistant","content":[{"type":"thinking","thinking":"need it","signature":"sig"},{"type":"text","text":"Reading."},
               {"type":"tool_use","id":"toolu_1","name":"Read","input":{"file_path":"a.py"}}]},
             {"role":"system","content":"Mid rule."},
             {"role":"user","content":[{"type":"text","text":"and?"},{"type":"tool_result","tool_use_id":"toolu_1","content":[{"type":"text","text":"line 1"},{"type":"text","text":"line 2"}],"is_error":false}]},
             {"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_2","content":"oops","is_error":true}]}]}
            """#)
        let expected: [ChatMessage] = [
            ChatMessage(role: .user, content: "read a.py"),
            ChatMessage(
                role: .assistant, content: "Reading.", reasoningContent: "need it",
                toolCalls: [ChatMessage.ToolCall(id: "toolu_1", name: "Read", arguments: ["file_path": "a.py"])]),
            ChatMessage(role: .tool, content: "line 1\nline 2", toolCallId: "toolu_1"),
            ChatMessage(role: .tool, content: "oops", toolCallId: "toolu_2"),
            ChatMessage(role: .system, content: "Mid rule."),  // moved after the results of the tool_use turn
            ChatMessage(role: .user, content: "and?"),
        ]
        #expect(request.chat.messages == expected)
        #expect(request.chat.tools.map(\.name) == ["Read"])
        #expect(request.chat.tools[0].rawValue["type"] == "function")
        #expect(request.chat.tools[0].rawValue["function"]?["parameters"]?["required"] == ["file_path"])
        #expect(request.chat.toolChoice == .auto && request.chat.parallelToolCalls)
    }

    @Test("tool_choice: auto, any -> required, tool -> named, none; disable_parallel_tool_use; schema without type")
    func toolChoice() throws {
        func choice(_ json: String) throws -> (ToolChoice, Bool) {
            let request = try messages(#"{"model":"m","max_tokens":1,"tools":[\#(tool)],"tool_choice":\#(json),"messages":[{"role":"user","content":"x"}]}"#)
            return (request.chat.toolChoice, request.chat.parallelToolCalls)
        }
        #expect(try choice(#"{"type":"auto"}"#) == (.auto, true))
        #expect(try choice(#"{"type":"any","disable_parallel_tool_use":true}"#) == (.required, false))
        #expect(try choice(#"{"type":"tool","name":"Read"}"#) == (.named("Read"), true))
        #expect(try choice(#"{"type":"none"}"#) == (.none, true))
        let untyped = try messages(#"{"model":"m","max_tokens":1,"tools":[{"name":"t","input_schema":{"properties":{}}}],"messages":[{"role":"user","content":"x"}]}"#)
        #expect(untyped.chat.tools[0].parameters?["type"] == "object")
        // A server tool beside client tools is dropped.
        let mixed = try messages(#"{"model":"m","max_tokens":1,"tools":[\#(tool),{"type":"web_search_20250305","name":"web_search","max_uses":5}],"messages":[{"role":"user","content":"x"}]}"#)
        #expect(mixed.chat.tools.map(\.name) == ["Read"])
    }

    @Test("Sampling, stop_sequences, thinking, stream; count_tokens needs no max_tokens")
    func fields() throws {
        let request = try messages(#"{"model":"m","max_tokens":9223372036854775807,"stream":true,"temperature":0.5,"top_p":0.9,"top_k":40,"stop_sequences":["END","\n\n"],"thinking":{"type":"enabled","budget_tokens":2048},"metadata":{"user_id":"u"},"context_management":{},"messages":[{"role":"user","content":"x"}]}"#)
        #expect(request.stream && request.thinking && request.maxTokens == Int.max)
        #expect(request.chat.sampling.temperature == 0.5 && request.chat.sampling.topP == 0.9 && request.chat.sampling.topK == 40)
        #expect(request.chat.sampling.stop == ["END", "\n\n"])
        #expect(try !messages(#"{"model":"m","max_tokens":1,"thinking":{"type":"disabled"},"messages":[{"role":"user","content":"x"}]}"#).thinking)
        #expect(try messages(#"{"model":"m","max_tokens":1,"thinking":{"type":"adaptive"},"messages":[{"role":"user","content":"x"}]}"#).thinking)
        let count = try messages(#"{"model":"m","messages":[{"role":"user","content":"x"}]}"#, kind: .countTokens)
        #expect(count.maxTokens == nil)
    }

    @Test("Invalid requests name the field", arguments: [
        (#"{"model":"m","messages":[{"role":"user","content":"x"}]}"#, "max_tokens"),
        (#"{"model":"m","max_tokens":0,"messages":[{"role":"user","content":"x"}]}"#, "max_tokens"),
        (#"{"model":"m","max_tokens":1e300,"messages":[{"role":"user","content":"x"}]}"#, "max_tokens"),
        (#"{"model":"m","max_tokens":1,"messages":[]}"#, "messages"),
        (#"{"model":"m","max_tokens":1,"messages":[{"role":"user","content":"x"},{"role":"assistant","content":"prefill"}]}"#, "messages"),
        (#"{"model":"m","max_tokens":1,"messages":[{"role":"robot","content":"x"}]}"#, "messages[0].role"),
        (#"{"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"image","source":{}}]}]}"#, "messages[0].content[0].type"),
        (#"{"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":[{"type":"document","source":{}}]}]}]}"#, "messages[0].content[0].content[0].type"),
        (#"{"model":"m","max_tokens":1,"temperature":1.5,"messages":[{"role":"user","content":"x"}]}"#, "temperature"),
        (#"{"model":"m","max_tokens":1,"top_k":-1,"messages":[{"role":"user","content":"x"}]}"#, "top_k"),
        (#"{"model":"m","max_tokens":1,"stop_sequences":[""],"messages":[{"role":"user","content":"x"}]}"#, "stop_sequences[0]"),
        (#"{"model":"m","max_tokens":1,"thinking":{"type":"sometimes"},"messages":[{"role":"user","content":"x"}]}"#, "thinking.type"),
        (#"{"model":"m","max_tokens":1,"tool_choice":{"type":"any"},"messages":[{"role":"user","content":"x"}]}"#, "tool_choice"),
        (#"{"model":"m","max_tokens":1,"tools":[{"type":"web_search_20250305","name":"web_search"}],"messages":[{"role":"user","content":"x"}]}"#, "tools"),
        (#"{"model":"m","max_tokens":1,"tools":[{"name":"bad name","input_schema":{}}],"messages":[{"role":"user","content":"x"}]}"#, "tools[0].name"),
        (#"{"model":"m","max_tokens":1,"tools":[{"name":"t"}],"messages":[{"role":"user","content":"x"}]}"#, "tools[0].input_schema"),
    ])
    func invalid(body: String, param: String) {
        let error = messagesError(body)
        #expect(error?.status == 400, "\(body)")
        #expect(error?.param == param, "\(body): \(error?.description ?? "accepted")")
    }

    @Test("Encoding: message object with stop_sequence always present, SSE events named as their type, error body")
    func encoding() throws {
        let usage = MessagesUsage(promptTokens: 30, cachedTokens: 18, outputTokens: 5)
        let message = String(decoding: MessagesEncoding.message(
            id: "msg_1", model: "m", content: [.text("Hi"), .toolUse(id: "toolu_1", name: "Read", input: ["file_path": "a"])],
            stopReason: .toolUse, stopSequence: nil, usage: usage), as: UTF8.self)
        #expect(message == #"{"id":"msg_1","type":"message","role":"assistant","model":"m","content":[{"type":"text","text":"Hi"},{"type":"tool_use","id":"toolu_1","name":"Read","input":{"file_path":"a"}}],"stop_reason":"tool_use","stop_sequence":null,"usage":{"input_tokens":12,"cache_creation_input_tokens":0,"cache_read_input_tokens":18,"output_tokens":5}}"#)
        let start = String(decoding: MessagesEncoding.blockEvent(.start(index: 1, block: .toolUse(id: "t", name: "n", input: ["a": 1]))), as: UTF8.self)
        #expect(start == "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"tool_use\",\"id\":\"t\",\"name\":\"n\",\"input\":{}}}\n\n")
        #expect(String(decoding: MessagesEncoding.ping, as: UTF8.self) == "event: ping\ndata: {\"type\":\"ping\"}\n\n")
        #expect(String(decoding: MessagesEncoding.errorBody(type: "not_found_error", message: "m", requestID: "req_1"), as: UTF8.self)
            == #"{"type":"error","error":{"type":"not_found_error","message":"m"},"request_id":"req_1"}"#)
        #expect(APIError.overloaded(retryAfterSeconds: 1).anthropic == (529, "overloaded_error"))
        #expect(APIError.invalidAPIKey.anthropic == (401, "authentication_error"))
        #expect(APIError.internalError("x").anthropic == (500, "api_error"))
    }

    @Test("/v1/models lists every served id with the Anthropic fields")
    func modelList() throws {
        let card = ModelCard(id: "ling", root: "ling-tiny", created: 1_732_270_000, maxModelLength: 32768, aliases: ["ling-tiny"], additionalIDs: ["claude-sonnet-4-5"])
        let list = try JSONParser.parse(card.listEncoded)
        #expect(list["data"]?.arrayValue?.compactMap { $0["id"]?.stringValue } == ["ling", "claude-sonnet-4-5"])
        #expect(list["has_more"] == false && list["first_id"] == "ling" && list["last_id"] == "claude-sonnet-4-5")
        #expect(list["data"]?[0]?["created_at"] == "2024-11-22T10:06:40Z" && list["data"]?[0]?["type"] == "model")
        #expect(card.matches("claude-sonnet-4-5") && card.matches("ling-tiny") && !card.matches("other"))
        #expect(ModelCard.rfc3339(0) == "1970-01-01T00:00:00Z" && ModelCard.rfc3339(951_782_400) == "2000-02-29T00:00:00Z")
    }
}
