import JSON
import Testing

@testable import OpenAIAPI

@Suite("ResponsesRequest: Codex-shaped input items and tools onto chat messages")
struct ResponsesRequestTests {
    static func parse(_ text: String) throws -> ResponsesRequest {
        try ResponsesRequest(json: try JSONParser.parse(Array(text.utf8)))
    }

    @Test("Leading developer messages join instructions; assistant pieces fold into one turn; outputs are tool turns")
    func itemsFold() throws {
        let request = try Self.parse(#"""
            {"model":"m","instructions":"I","input":[
             {"type":"message","role":"developer","content":[{"type":"input_text","text":"D"}]},
             {"role":"user","content":"Q"},
             {"type":"reasoning","summary":[],"content":[{"type":"reasoning_text","text":"R"}]},
             {"type":"message","role":"assistant","content":[{"type":"output_text","text":"A"}]},
             {"type":"function_call","call_id":"call_1","name":"spawn_agent","namespace":"multi_agent_v1","arguments":"{\"x\": 1}"},
             {"type":"custom_tool_call","call_id":"call_2","name":"apply_patch","input":"*** Begin"},
             {"type":"function_call_output","call_id":"call_1","output":[{"type":"input_text","text":"o1"},{"type":"input_text","text":"o2"}]},
             {"type":"custom_tool_call_output","call_id":"call_2","output":"done"},
             {"type":"web_search_call","id":"ws_1"},
             {"type":"message","role":"developer","content":"later"}]}
            """#)
        #expect(request.systemText == "I\n\nD")
        let messages = request.conversation
        #expect(messages.map(\.role) == [.user, .assistant, .tool, .tool, .system])
        #expect(messages[1].content == "A" && messages[1].reasoningContent == "R")
        #expect(messages[1].toolCalls.map(\.name) == ["multi_agent_v1__spawn_agent", "apply_patch"])
        #expect(messages[1].toolCalls[0].arguments == .string(#"{"x": 1}"#))
        #expect(messages[1].toolCalls[1].arguments == .string(#"{"input":"*** Begin"}"#))
        #expect(messages[2].content == "o1\no2" && messages[2].toolCallId == "call_1")
        #expect(messages[4].content == "later")
    }

    @Test("Tools: flat functions, namespaces flattened, custom tools shimmed, hosted tools skipped")
    func tools() throws {
        let request = try Self.parse(#"""
            {"model":"m","input":"x","tools":[
             {"type":"function","name":"exec_command","parameters":{"type":"object"},"strict":false},
             {"type":"namespace","name":"mcp__fs","tools":[{"type":"function","name":"read","parameters":{"type":"object"}}]},
             {"type":"custom","name":"apply_patch","format":{"type":"grammar","syntax":"lark","definition":"start: x"}},
             {"type":"web_search","external_web_access":false},{"type":"image_generation"},{"type":"web_search"}],
             "tool_choice":{"type":"custom","name":"apply_patch"}}
            """#)
        #expect(request.tools.map(\.name) == ["exec_command", "mcp__fs__read", "apply_patch"])
        #expect(request.toolKinds["mcp__fs__read"] == .function(name: "read", namespace: "mcp__fs"))
        #expect(request.toolKinds["apply_patch"] == .custom(name: "apply_patch", namespace: nil))
        #expect(request.tools[2].parameters?["required"] == ["input"])
        #expect(request.tools[2].description?.contains("start: x") == true)
        #expect(request.skippedToolTypes == ["web_search", "image_generation"])
        #expect(request.toolChoice == .named("apply_patch"))
        #expect(request.templateTools?[1]?["function"]?["name"] == "mcp__fs__read")
    }

    @Test("text.format json_schema is flat; reasoning null and objects are accepted")
    func formatAndReasoning() throws {
        let request = try Self.parse(#"""
            {"model":"m","input":"x","reasoning":null,"text":{"format":{"type":"json_schema","name":"out","strict":true,"schema":{"type":"object"}},"verbosity":"low"}}
            """#)
        #expect(request.textFormat == .jsonSchema(name: "out", schema: ["type": "object"], strict: true))
        #expect(try Self.parse(#"{"model":"m","input":"x","reasoning":{"effort":"high","summary":"auto"}}"#).echo.reasoning?["effort"] == "high")
        #expect(throws: APIError.self) { try Self.parse(#"{"model":"m","input":"x","reasoning":"high"}"#) }
    }

    @Test("Reasoning seals round-trip and foreign encrypted content is not read")
    func seal() {
        for text in ["", "a", "ab", "abc", "plan: ünïcode ✓\n"] {
            #expect(ReasoningSeal.open(ReasoningSeal.seal(text)) == text)
        }
        #expect(ReasoningSeal.open("gAAAAABopaque") == nil)
    }
}
