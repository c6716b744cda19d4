import JSON
import Testing

@testable import OpenAIAPI

private func chat(_ text: String, limits: RequestLimits = RequestLimits()) throws -> ChatCompletionRequest {
    try ChatCompletionRequest(json: JSONParser.parse(text), limits: limits)
}

private func chatError(_ text: String) -> APIError? {
    do {
        _ = try chat(text)
        return nil
    } catch let error as APIError {
        return error
    } catch {
        return nil
    }
}

private let base = #""model":"m","messages":[{"role":"user","content":"hi"}]"#

struct ErrorCase: CustomStringConvertible, Sendable {
    let body: String
    let code: String
    let param: String?
    var description: String { body }
}

@Suite("Chat request validation")
struct ChatRequestValidationTests {
    static let errorCases: [ErrorCase] = [
        .init(body: #"{"messages":[{"role":"user","content":"x"}]}"#, code: "missing_required_parameter", param: "model"),
        .init(body: #"{"model":"m"}"#, code: "missing_required_parameter", param: "messages"),
        .init(body: #"{"model":"m","messages":[]}"#, code: "invalid_value", param: "messages"),
        .init(body: #"{"model":"m","messages":"hi"}"#, code: "invalid_type", param: "messages"),
        .init(body: #"{"model":3,"messages":[{"role":"user","content":"x"}]}"#, code: "invalid_type", param: "model"),
        .init(
            body: #"{"model":"m","messages":[{"role":"user","content":"a"},{"role":"user","content":"b"},{"role":"function","content":"x"}]}"#,
            code: "invalid_value", param: "messages[2].role"),
        .init(body: #"{"model":"m","messages":[{"content":"x"}]}"#, code: "missing_required_parameter", param: "messages[0].role"),
        .init(body: #"{"model":"m","messages":[{"role":"user"}]}"#, code: "missing_required_parameter", param: "messages[0].content"),
        .init(
            body: #"{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"image_url","image_url":{"url":"x"}}]}]}"#,
            code: "unsupported_value", param: "messages[0].content[1].type"),
        .init(body: #"{"model":"m","messages":[{"role":"user","content":5}]}"#, code: "invalid_type", param: "messages[0].content"),
        .init(body: "{\(base),\"temperature\":3.5}", code: "invalid_value", param: "temperature"),
        .init(body: "{\(base),\"temperature\":\"hot\"}", code: "invalid_type", param: "temperature"),
        .init(body: "{\(base),\"top_p\":0}", code: "invalid_value", param: "top_p"),
        .init(body: "{\(base),\"top_p\":1.5}", code: "invalid_value", param: "top_p"),
        .init(body: "{\(base),\"top_k\":-2}", code: "invalid_value", param: "top_k"),
        .init(body: "{\(base),\"min_p\":1.5}", code: "invalid_value", param: "min_p"),
        .init(body: "{\(base),\"repetition_penalty\":0}", code: "invalid_value", param: "repetition_penalty"),
        .init(body: "{\(base),\"presence_penalty\":-3}", code: "invalid_value", param: "presence_penalty"),
        .init(body: "{\(base),\"frequency_penalty\":2.5}", code: "invalid_value", param: "frequency_penalty"),
        .init(body: "{\(base),\"max_tokens\":0}", code: "invalid_value", param: "max_tokens"),
        .init(body: "{\(base),\"max_completion_tokens\":-1}", code: "invalid_value", param: "max_completion_tokens"),
        .init(body: "{\(base),\"max_tokens\":1.5}", code: "invalid_type", param: "max_tokens"),
        .init(body: "{\(base),\"n\":9}", code: "invalid_value", param: "n"),
        .init(body: "{\(base),\"n\":0}", code: "invalid_value", param: "n"),
        .init(body: "{\(base),\"seed\":\"1\"}", code: "invalid_type", param: "seed"),
        .init(body: "{\(base),\"seed\":99999999999999999999}", code: "invalid_value", param: "seed"),
        .init(body: "{\(base),\"stop\":[]}", code: "invalid_value", param: "stop"),
        .init(body: "{\(base),\"stop\":[\"\"]}", code: "invalid_value", param: "stop"),
        .init(body: "{\(base),\"stop\":[1]}", code: "invalid_type", param: "stop[0]"),
        .init(
            body: "{\(base),\"stop\":[\(Array(repeating: "\"a\"", count: 17).joined(separator: ","))]}",
            code: "invalid_value", param: "stop"),
        .init(body: "{\(base),\"logit_bias\":{\"abc\":1}}", code: "invalid_value", param: "logit_bias"),
        .init(body: "{\(base),\"logit_bias\":{\"157153\":1}}", code: "invalid_value", param: "logit_bias"),
        .init(body: "{\(base),\"logit_bias\":{\"5\":101}}", code: "invalid_value", param: "logit_bias"),
        .init(body: "{\(base),\"stop_token_ids\":[-1]}", code: "invalid_value", param: "stop_token_ids"),
        .init(body: "{\(base),\"top_logprobs\":3}", code: "invalid_value", param: "top_logprobs"),
        .init(body: "{\(base),\"logprobs\":true,\"top_logprobs\":21}", code: "invalid_value", param: "top_logprobs"),
        .init(body: "{\(base),\"stream_options\":{\"include_usage\":true}}", code: "invalid_value", param: "stream_options"),
        .init(body: "{\(base),\"stream\":\"yes\"}", code: "invalid_type", param: "stream"),
        .init(body: "{\(base),\"tools\":[{\"type\":\"retrieval\"}]}", code: "unsupported_value", param: "tools[0].type"),
        .init(
            body: "{\(base),\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"a\"}},{\"type\":\"function\",\"function\":{\"name\":\"bad name\"}}]}",
            code: "invalid_value", param: "tools[1].function.name"),
        .init(
            body: "{\(base),\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"a\"}},{\"type\":\"function\",\"function\":{\"name\":\"a\"}}]}",
            code: "invalid_value", param: "tools[1].function.name"),
        .init(
            body: "{\(base),\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"a\",\"parameters\":[]}}]}",
            code: "invalid_type", param: "tools[0].function.parameters"),
        .init(body: "{\(base),\"tools\":[{\"type\":\"function\"}]}", code: "missing_required_parameter", param: "tools[0].function"),
        .init(body: "{\(base),\"tool_choice\":\"auto\"}", code: "invalid_value", param: "tool_choice"),
        .init(
            body: "{\(base),\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"a\"}}],\"tool_choice\":\"sometimes\"}",
            code: "unsupported_value", param: "tool_choice"),
        .init(
            body: "{\(base),\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"a\"}}],\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"b\"}}}",
            code: "invalid_value", param: "tool_choice"),
        .init(body: "{\(base),\"response_format\":{\"type\":\"xml\"}}", code: "unsupported_value", param: "response_format.type"),
        .init(
            body: "{\(base),\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"x y\",\"schema\":{}}}}",
            code: "invalid_value", param: "response_format.json_schema.name"),
        .init(
            body: "{\(base),\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"x\",\"schema\":{\"type\":\"string\",\"pattern\":\"a+\"}}}}",
            code: "unsupported_value", param: "response_format.json_schema.schema"),
        .init(
            body: "{\(base),\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"x\",\"schema\":{\"$ref\":\"http://x\"}}}}",
            code: "unsupported_value", param: "response_format.json_schema.schema"),
        .init(
            body: "{\(base),\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"x\",\"schema\":{\"type\":\"object\",\"additionalProperties\":{\"type\":\"string\"}}}}}",
            code: "unsupported_value", param: "response_format.json_schema.schema"),
        .init(
            body: "{\(base),\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"a\"}}],\"response_format\":{\"type\":\"json_object\"}}",
            code: "unsupported_value", param: "response_format"),
        .init(body: "{\(base),\"modalities\":[\"text\",\"audio\"]}", code: "unsupported_parameter", param: "modalities"),
        .init(body: "{\(base),\"functions\":[]}", code: "unsupported_parameter", param: "functions"),
        .init(body: "{\(base),\"function_call\":\"auto\"}", code: "unsupported_parameter", param: "function_call"),
        .init(
            body: #"{"model":"m","messages":[{"role":"assistant","content":null,"tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":5}}]}]}"#,
            code: "invalid_type", param: "messages[0].tool_calls[0].function.arguments"),
    ]

    @Test("Every invalid parameter gets 400 with its code and JSON-path param", arguments: errorCases)
    func invalidParameters(_ errorCase: ErrorCase) {
        let error = chatError(errorCase.body)
        #expect(error?.status == 400)
        #expect(error?.type == "invalid_request_error")
        #expect(error?.code == errorCase.code)
        #expect(error?.param == errorCase.param)
    }

    @Test("The contract's temperature message")
    func temperatureMessage() {
        #expect(chatError("{\(base),\"temperature\":3.5}")?.message == "temperature must be between 0 and 2, got 3.5")
    }

    @Test("developer maps to system, text parts join with a newline, reasoning alias, tool-call history")
    func messages() throws {
        let request = try chat(#"""
            {"model":"m","messages":[
             {"role":"developer","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]},
             {"role":"user","content":"q","name":"bob"},
             {"role":"assistant","content":null,"reasoning":"think","tool_calls":[
               {"id":null,"type":"function","function":{"name":"f","arguments":{"z":1,"a":2}}},
               {"type":"function","function":{"name":"g","arguments":"{\"x\": 1}"}}]},
             {"role":"tool","content":"result"}]}
            """#)
        #expect(request.messages.map(\.role) == [.system, .user, .assistant, .tool])
        #expect(request.messages[0].content == "a\nb")
        #expect(request.messages[2].content == nil)
        #expect(request.messages[2].reasoningContent == "think")
        #expect(request.messages[2].toolCalls.count == 2)
        #expect(request.messages[2].toolCalls[0].id == nil)
        #expect(request.messages[2].toolCalls[0].arguments.objectValue?.keys == ["z", "a"])
        #expect(request.messages[2].toolCalls[1].arguments == .string("{\"x\": 1}"))
        #expect(request.messages[3].toolCallId == nil)
        let template = request.messages[2].templateValue
        #expect(template.compactJSON() == #"{"role":"assistant","content":null,"reasoning_content":"think","tool_calls":[{"id":null,"type":"function","function":{"name":"f","arguments":{"z":1,"a":2}}},{"id":null,"type":"function","function":{"name":"g","arguments":"{\"x\": 1}"}}]}"#)
    }

    @Test("Defaults, null as not given, unknown fields ignored")
    func defaults() throws {
        let request = try chat(
            "{\(base),\"temperature\":null,\"store\":true,\"metadata\":{\"a\":1},\"reasoning_effort\":\"low\",\"user\":\"u\",\"modalities\":[\"text\"]}")
        #expect(request.sampling == SamplingOptions())
        #expect(request.maxTokens == nil)
        #expect(request.toolChoice == .none)
        #expect(request.responseFormat == .text)
        #expect(!request.stream && !request.includeUsage)
        #expect(request.parallelToolCalls)
    }

    @Test("max_completion_tokens wins over max_tokens; seeds take any 64-bit value; stop as a string")
    func lengthSeedStop() throws {
        let both = try chat("{\(base),\"max_tokens\":5,\"max_completion_tokens\":7}")
        #expect(both.maxTokens == 7 && both.maxTokensParam == "max_completion_tokens")
        let legacy = try chat("{\(base),\"max_tokens\":5}")
        #expect(legacy.maxTokens == 5 && legacy.maxTokensParam == "max_tokens")
        #expect(try chat("{\(base),\"seed\":-1}").sampling.seed == UInt64.max)
        #expect(try chat("{\(base),\"seed\":18446744073709551615}").sampling.seed == UInt64.max)
        #expect(try chat("{\(base),\"seed\":42}").sampling.seed == 42)
        #expect(try chat("{\(base),\"stop\":\"END\"}").sampling.stop == ["END"])
        #expect(try chat("{\(base),\"top_k\":-1}").sampling.topK == nil)
        #expect(try chat("{\(base),\"top_k\":40}").sampling.topK == 40)
        let bias = try chat("{\(base),\"logit_bias\":{\"7\":-100,\"3\":5.5}}").sampling.logitBias
        #expect(bias.map(\.tokenId) == [7, 3] && bias.map(\.bias) == [-100, 5.5])
    }

    @Test("Tools, tool_choice and response_format parse")
    func toolsAndFormat() throws {
        let tools = #""tools":[{"type":"function","function":{"name":"read_file","parameters":{"type":"object","properties":{"path":{"type":"string"}}}}}]"#
        #expect(try chat("{\(base),\(tools)}").toolChoice == .auto)
        #expect(try chat("{\(base),\(tools),\"tool_choice\":\"required\"}").toolChoice == .required)
        #expect(try chat("{\(base),\(tools),\"tool_choice\":\"none\"}").toolChoice == ToolChoice.none)
        let named = try chat("{\(base),\(tools),\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"read_file\"}},\"parallel_tool_calls\":false}")
        #expect(named.toolChoice == .named("read_file"))
        #expect(!named.parallelToolCalls)
        #expect(named.templateTools?.compactJSON().hasPrefix(#"[{"type":"function","function":{"name":"read_file""#) == true)
        let schema = ##"{"type":"object","properties":{"a":{"type":["string","null"]},"b":{"$ref":"#/$defs/B"},"c":{"type":"array","items":{"enum":[1,2]},"minItems":1}},"required":["a"],"additionalProperties":false,"$defs":{"B":{"anyOf":[{"const":1},{"type":"integer"}]}}}"##
        let format = try chat("{\(base),\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"out\",\"schema\":\(schema),\"strict\":true}}}")
        if case .jsonSchema(let name, let parsed, let strict) = format.responseFormat {
            #expect(name == "out" && strict == true && parsed?.keys.first == "type")
        } else {
            Issue.record("expected json_schema")
        }
        #expect(try chat("{\(base),\"response_format\":{\"type\":\"json_object\"}}").responseFormat == .jsonObject)
    }
}

@Suite("Completions and tokenizer requests")
struct CompletionRequestTests {
    private func completion(_ text: String) throws -> CompletionRequest {
        try CompletionRequest(json: JSONParser.parse(text))
    }

    private func error(_ text: String) -> APIError? {
        do {
            _ = try completion(text)
            return nil
        } catch let error as APIError {
            return error
        } catch {
            return nil
        }
    }

    @Test("Prompt forms and defaults")
    func prompts() throws {
        #expect(try completion(#"{"model":"m","prompt":"a"}"#).prompts == [.text("a")])
        #expect(try completion(#"{"model":"m","prompt":["a","b"]}"#).prompts == [.text("a"), .text("b")])
        #expect(try completion(#"{"model":"m","prompt":[1,2]}"#).prompts == [.tokens([1, 2])])
        #expect(try completion(#"{"model":"m","prompt":[[1],[2,3]]}"#).prompts == [.tokens([1]), .tokens([2, 3])])
        #expect(try completion(#"{"model":"m","prompt":"a"}"#).maxTokens == 16)
        #expect(try completion(#"{"model":"m","prompt":"a","best_of":1}"#).sampling.n == 1)
    }

    @Test("Completion errors")
    func errors() {
        #expect(error(#"{"model":"m","prompt":""}"#)?.param == "prompt")
        #expect(error(#"{"model":"m","prompt":[]}"#)?.param == "prompt")
        #expect(error(#"{"model":"m","prompt":[-1]}"#)?.param == "prompt")
        #expect(error(#"{"model":"m","prompt":[157153]}"#)?.code == "invalid_value")
        #expect(error(#"{"model":"m","prompt":"a","logprobs":6}"#)?.param == "logprobs")
        #expect(error(#"{"model":"m","prompt":"a","logprobs":1,"echo":true}"#)?.param == "echo")
        #expect(error(#"{"model":"m","prompt":"a","suffix":"x"}"#)?.code == "unsupported_parameter")
        #expect(error(#"{"model":"m","prompt":"a","best_of":2}"#)?.param == "best_of")
        #expect(error(#"{"model":"m"}"#)?.code == "missing_required_parameter")
        let many = "[" + Array(repeating: "\"a\"", count: 17).joined(separator: ",") + "]"
        #expect(error("{\"model\":\"m\",\"prompt\":\(many)}")?.param == "prompt")
    }

    @Test("Tokenize and detokenize")
    func tokenizer() throws {
        let prompt = try TokenizeRequest(json: JSONParser.parse(#"{"model":"m","prompt":"hi"}"#))
        #expect(prompt.input == .prompt("hi", addSpecialTokens: false))
        let messages = try TokenizeRequest(json: JSONParser.parse(#"{"messages":[{"role":"developer","content":"s"}]}"#))
        if case .messages(let list, let tools, let generation) = messages.input {
            #expect(list.first?.role == .system && tools == nil && generation)
        } else {
            Issue.record("expected messages")
        }
        #expect(try DetokenizeRequest(json: JSONParser.parse(#"{"tokens":[1,2]}"#)).tokens == [1, 2])
        #expect(throws: APIError.self) { try DetokenizeRequest(json: JSONParser.parse(#"{"tokens":[157153]}"#)) }
    }
}
