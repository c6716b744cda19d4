import JSON

/// `POST /v1/messages` and `POST /v1/messages/count_tokens` after validation (`agent-protocols.md` §3.2-§3.7),
/// translated onto the chat path: `chat` is the chat-completions request the same generation runs as (messages in
/// the Ling template's roles, tools as OpenAI functions, `tool_choice`, stop strings, sampling), so rendering,
/// constrained decoding and output parsing are the chat path's. Unknown fields are ignored; `null` is "not given".
public struct MessagesRequest: Sendable, Equatable {
    /// The requested `model`, echoed in the response (§1.5).
    public var model: String
    /// `max_tokens`; nil only for count_tokens.
    public var maxTokens: Int?
    public var stream = false
    /// `thinking` enabled or adaptive: reasoning is returned as `thinking` blocks (§3.7).
    public var thinking = false
    /// The translated request: `messages`, `tools`, `toolChoice`, `parallelToolCalls`, `sampling` (temperature,
    /// top_p, top_k, stop = `stop_sequences`), `responseFormat` (`output_config.format`).
    public var chat: ChatCompletionRequest

    public enum Kind: Sendable { case create, countTokens }

    public init(json: JSONValue, kind: Kind = .create, limits: RequestLimits = RequestLimits()) throws(APIError) {
        guard case .object(let object) = json else { throw .invalidJSON("the request body must be a JSON object") }
        let reader = FieldReader(object)
        model = try reader.requiredString("model")
        if kind == .create {
            guard let requested = try reader.int("max_tokens") else { throw .missing(param: "max_tokens") }
            guard requested >= 1 else {
                throw .invalidValue(param: "max_tokens", "max_tokens must be at least 1, got \(requested)")
            }
            maxTokens = requested
            stream = try reader.bool("stream") ?? false
        }
        let system = try Self.readSystem(reader)
        let toolsRead = try AnthropicTools.read(reader, limits: limits)
        let messages = try AnthropicMessages.translate(reader, system: system)
        chat = ChatCompletionRequest(model: model, messages: messages)
        chat.stream = stream
        chat.maxTokens = maxTokens
        chat.maxTokensParam = "max_tokens"
        chat.tools = toolsRead.tools
        (chat.toolChoice, chat.parallelToolCalls) = try AnthropicTools.readChoice(reader, tools: toolsRead)
        if kind == .create { chat.sampling = try Self.readSampling(reader, limits: limits) }
        thinking = try Self.readThinking(reader)
        chat.responseFormat = try Self.readOutputFormat(reader)
        if chat.responseFormat != .text && chat.toolChoice != .none {
            throw .unsupportedValue(param: "output_config.format", "output_config.format together with tools and "
                + "tool_choice other than none is not supported yet")
        }
        // metadata, service_tier, container, inference_geo, context_management, cache_control, user_profile_id,
        // output_config.effort and unknown keys: accepted, ignored (§3.2).
    }

    /// The prompt's tools for the chat template (OpenAI function shape), nil when none.
    public var templateTools: JSONValue? { chat.templateTools }

    /// Top-level `system`: a string or text blocks; blocks starting with the per-request billing header are
    /// dropped (§3.5: they change every request and would defeat the prefix cache).
    static func readSystem(_ reader: FieldReader) throws(APIError) -> String? {
        guard let value = reader.value("system") else { return nil }
        switch value {
        case .string(let text): return AnthropicMessages.isBillingHeader(text) ? nil : text
        case .array(let blocks):
            var texts: [String] = []
            for (index, block) in blocks.enumerated() {
                let blockReader = try FieldReader(block, path: "system[\(index)]")
                let type = try blockReader.requiredString("type")
                guard type == "text" else {
                    throw .invalidValue(param: blockReader.path("type"), "system blocks must be text, got '\(type)'")
                }
                let text = try blockReader.requiredString("text")
                if !AnthropicMessages.isBillingHeader(text) { texts.append(text) }
            }
            return texts.isEmpty ? nil : texts.joined(separator: "\n")
        default: throw .invalidType(param: "system", expected: "a string or an array of text blocks")
        }
    }

    /// temperature 0-1, top_p (0, 1], top_k >= 0 (0 = off), stop_sequences.
    static func readSampling(_ reader: FieldReader, limits: RequestLimits) throws(APIError) -> SamplingOptions {
        var sampling = SamplingOptions()
        sampling.temperature = try reader.double("temperature", in: 0...1)
        sampling.topP = try reader.double("top_p", in: 0...1, lowerExclusive: true)
        if let k = try reader.int("top_k") {
            guard k >= 0 else { throw .invalidValue(param: "top_k", "top_k must be at least 0, got \(k)") }
            sampling.topK = k >= 1 ? k : nil
        }
        if let stops = try reader.array("stop_sequences") {
            guard stops.count <= limits.maxStopCount else {
                throw .invalidValue(param: "stop_sequences", "stop_sequences holds \(stops.count) strings, at most "
                    + "\(limits.maxStopCount) are allowed")
            }
            for (index, element) in stops.enumerated() {
                guard case .string(let text) = element else {
                    throw .invalidType(param: "stop_sequences[\(index)]", expected: "a string")
                }
                guard !text.isEmpty && text.utf8.count <= limits.maxStopBytes else {
                    throw .invalidValue(param: "stop_sequences[\(index)]", "stop sequences must be non-empty and at "
                        + "most \(limits.maxStopBytes) bytes")
                }
                sampling.stop.append(text)
            }
        }
        return sampling
    }

    static func readThinking(_ reader: FieldReader) throws(APIError) -> Bool {
        guard let thinking = try reader.object("thinking") else { return false }
        let type = try thinking.requiredString("type")
        switch type {
        case "enabled":
            if let budget = try thinking.int("budget_tokens"), budget < 1 {
                throw .invalidValue(param: "thinking.budget_tokens", "thinking.budget_tokens must be at least 1, got \(budget)")
            }
            return true
        case "adaptive": return true
        case "disabled": return false
        default:
            throw .invalidValue(param: "thinking.type", "thinking.type must be enabled, adaptive or disabled, got '\(type)'")
        }
    }

    /// `output_config.format` `{"type": "json_schema", "schema"}` -> structured output; `effort` is ignored.
    static func readOutputFormat(_ reader: FieldReader) throws(APIError) -> ResponseFormat {
        guard let config = try reader.object("output_config"), let format = try config.object("format") else {
            return .text
        }
        let type = try format.requiredString("type")
        guard type == "json_schema" else {
            throw .unsupportedValue(param: format.path("type"), "\(format.path("type")) must be 'json_schema', got '\(type)'")
        }
        guard let schema = try format.object("schema") else { throw .missing(param: format.path("schema")) }
        return .jsonSchema(name: "output", schema: schema.object, strict: true)
    }
}

/// Messages and their content blocks -> chat messages in the Ling template's roles (§3.4, §3.5).
enum AnthropicMessages {
    static let billingHeaderPrefix = "x-anthropic-billing-header:"

    static func isBillingHeader(_ text: String) -> Bool { text.hasPrefix(billingHeaderPrefix) }

    /// One input turn after merging consecutive turns of the same role.
    private struct Turn {
        var role: String
        var blocks: [(block: FieldReader, index: Int)]
        var path: String
    }

    static func translate(_ reader: FieldReader, system: String?) throws(APIError) -> [ChatMessage] {
        guard let elements = try reader.array("messages") else { throw .missing(param: "messages") }
        guard !elements.isEmpty else { throw .invalidValue(param: "messages", "messages must not be empty") }
        var turns: [Turn] = []
        for (index, element) in elements.enumerated() {
            let path = "messages[\(index)]"
            let message = try FieldReader(element, path: path)
            var role = try message.requiredString("role")
            switch role {
            case "user", "assistant", "system": break
            case "ctx", "msg": role = "user"
            default:
                throw .invalidValue(param: message.path("role"), "\(message.path("role")) '\(role)' is not one of user, "
                    + "assistant, system")
            }
            let blocks = try readBlocks(message)
            if let last = turns.last, last.role == role, role != "system" {
                turns[turns.count - 1].blocks += blocks
            } else {
                turns.append(Turn(role: role, blocks: blocks, path: path))
            }
        }
        if turns.last?.role == "assistant" {
            throw .invalidValue(param: "messages", "a final assistant message (prefill) is not supported by this model: "
                + "the conversation must end with a user message")
        }
        var systemText = system.map { [$0] } ?? []
        var messages: [ChatMessage] = []
        var deferredSystem: [ChatMessage] = []
        var leading = true
        for turn in turns {
            switch turn.role {
            case "system":
                let text = try joinedText(turn.blocks, role: "system")
                if leading {
                    if !text.isEmpty { systemText.append(text) }
                } else if messages.last.map({ $0.role == .assistant && !$0.toolCalls.isEmpty }) == true {
                    // Between a tool_use turn and its results: after the results (VLLM-ANT inline_system.py).
                    deferredSystem.append(ChatMessage(role: .system, content: text))
                } else {
                    messages.append(ChatMessage(role: .system, content: text))
                }
            case "assistant":
                leading = false
                messages += deferredSystem
                deferredSystem = []
                messages.append(try assistantMessage(turn.blocks))
            default:
                leading = false
                let (tools, user) = try userMessages(turn.blocks)
                messages += tools
                messages += deferredSystem
                deferredSystem = []
                if let user { messages.append(user) }
            }
        }
        messages += deferredSystem
        if !systemText.isEmpty { messages.insert(ChatMessage(role: .system, content: systemText.joined(separator: "\n")), at: 0) }
        return messages
    }

    /// `content` as blocks: a string is one text block.
    private static func readBlocks(_ message: FieldReader) throws(APIError) -> [(block: FieldReader, index: Int)] {
        guard let content = message.value("content") else { throw .missing(param: message.path("content")) }
        switch content {
        case .string(let text):
            return [(FieldReader(JSONObject([("type", "text"), ("text", .string(text))]), path: message.path("content")), 0)]
        case .array(let elements):
            var blocks: [(block: FieldReader, index: Int)] = []
            for (index, element) in elements.enumerated() {
                blocks.append((try FieldReader(element, path: message.path("content") + "[\(index)]"), index))
            }
            return blocks
        default: throw .invalidType(param: message.path("content"), expected: "a string or an array of content blocks")
        }
    }

    private static func unsupported(_ block: FieldReader, _ type: String, role: String) -> APIError {
        switch type {
        case "image", "document":
            return .unsupportedValue(param: block.path("type"), "image and document content are not supported by this "
                + "text-only model")
        default:
            return .unsupportedValue(param: block.path("type"), "content block type '\(type)' is not supported in "
                + "\(role) messages by this server")
        }
    }

    private static func joinedText(_ blocks: [(block: FieldReader, index: Int)], role: String) throws(APIError) -> String {
        var texts: [String] = []
        for (block, _) in blocks {
            let type = try block.requiredString("type")
            guard type == "text" else { throw unsupported(block, type, role: role) }
            let text = try block.requiredString("text")
            if role != "system" || !isBillingHeader(text) { texts.append(text) }
        }
        return texts.joined(separator: "\n")
    }

    private static func assistantMessage(_ blocks: [(block: FieldReader, index: Int)]) throws(APIError) -> ChatMessage {
        var texts: [String] = []
        var reasoning: String?
        var calls: [ChatMessage.ToolCall] = []
        for (block, _) in blocks {
            let type = try block.requiredString("type")
            switch type {
            case "text": texts.append(try block.requiredString("text"))
            case "thinking": reasoning = (reasoning ?? "") + (try block.requiredString("thinking"))
            case "redacted_thinking": break
            case "tool_use":
                let id = try block.requiredString("id")
                let name = try block.requiredString("name")
                let input = block.value("input") ?? .object(JSONObject())
                guard case .object = input else { throw .invalidType(param: block.path("input"), expected: "an object") }
                calls.append(ChatMessage.ToolCall(id: id, name: name, arguments: input))
            default: throw unsupported(block, type, role: "assistant")
            }
        }
        return ChatMessage(
            role: .assistant, content: texts.isEmpty ? (calls.isEmpty ? "" : nil) : texts.joined(separator: "\n"),
            reasoningContent: reasoning, toolCalls: calls)
    }

    /// `tool_result` blocks -> `tool` messages in order, then the remaining text as one user message.
    private static func userMessages(
        _ blocks: [(block: FieldReader, index: Int)]
    ) throws(APIError) -> (tools: [ChatMessage], user: ChatMessage?) {
        var tools: [ChatMessage] = []
        var texts: [String] = []
        for (block, _) in blocks {
            let type = try block.requiredString("type")
            switch type {
            case "text": texts.append(try block.requiredString("text"))
            case "tool_result":
                let id = try block.requiredString("tool_use_id")
                _ = try block.bool("is_error")  // validated; not rendered (as VLLM-ANT)
                tools.append(ChatMessage(role: .tool, content: try toolResultText(block), toolCallId: id))
            default: throw unsupported(block, type, role: "user")
            }
        }
        let user = texts.isEmpty && !tools.isEmpty ? nil : ChatMessage(role: .user, content: texts.joined(separator: "\n"))
        return (tools, user)
    }

    private static func toolResultText(_ block: FieldReader) throws(APIError) -> String {
        guard let content = block.value("content") else { return "" }
        switch content {
        case .string(let text): return text
        case .array(let parts):
            var texts: [String] = []
            for (index, part) in parts.enumerated() {
                let reader = try FieldReader(part, path: block.path("content") + "[\(index)]")
                let type = try reader.requiredString("type")
                switch type {
                case "text": texts.append(try reader.requiredString("text"))
                case "tool_reference": texts.append("Tool reference: " + (try reader.requiredString("tool_name")))
                default: throw unsupported(reader, type, role: "tool_result")
                }
            }
            return texts.joined(separator: "\n")
        default: throw .invalidType(param: block.path("content"), expected: "a string or an array of content blocks")
        }
    }
}

/// `tools` and `tool_choice` (§3.6): client tools become OpenAI function tools (what the template renders and the
/// grammar constrains); server tools are dropped when client tools exist, refused otherwise.
enum AnthropicTools {
    struct Read {
        var tools: [ToolDefinition]
        /// Names of dropped server tools.
        var serverToolNames: [String]
    }

    static func read(_ reader: FieldReader, limits: RequestLimits) throws(APIError) -> Read {
        guard let elements = try reader.array("tools") else { return Read(tools: [], serverToolNames: []) }
        guard elements.count <= limits.maxToolCount else {
            throw .invalidValue(param: "tools", "tools holds \(elements.count) entries, at most \(limits.maxToolCount) "
                + "are allowed")
        }
        var tools: [ToolDefinition] = []
        var serverTools: [String] = []
        var seen = Set<String>()
        for (index, element) in elements.enumerated() {
            let tool = try FieldReader(element, path: "tools[\(index)]")
            let name = try tool.requiredString("name")
            if let type = try tool.string("type"), type != "custom" {
                serverTools.append(name)
                continue
            }
            guard ToolDefinition.isValidName(name) else {
                throw .invalidValue(param: tool.path("name"), "\(tool.path("name")) must match ^[a-zA-Z0-9_-]{1,64}$, "
                    + "got '\(name)'")
            }
            guard seen.insert(name).inserted else {
                throw .invalidValue(param: tool.path("name"), "tool name '\(name)' is used more than once")
            }
            let description = try tool.string("description")
            guard var schema = try tool.object("input_schema")?.object else { throw .missing(param: tool.path("input_schema")) }
            if schema["type"] == nil {
                var typed = JSONObject([("type", "object")])
                for member in schema { typed[member.key] = member.value }
                schema = typed
            }
            var function = JSONObject([("name", .string(name))])
            if let description { function["description"] = .string(description) }
            function["parameters"] = .object(schema)
            let raw: JSONValue = .object(JSONObject([("type", "function"), ("function", .object(function))]))
            tools.append(ToolDefinition(name: name, description: description, parameters: schema, strict: nil, rawValue: raw))
        }
        if tools.isEmpty, let first = serverTools.first {
            throw serverToolError(first)
        }
        return Read(tools: tools, serverToolNames: serverTools)
    }

    static func serverToolError(_ name: String) -> APIError {
        .unsupportedValue(param: "tools", "server tool '\(name)' is not supported by this server")
    }

    /// Default with tools: auto. `disable_parallel_tool_use` -> one call at most.
    static func readChoice(_ reader: FieldReader, tools: Read) throws(APIError) -> (ToolChoice, Bool) {
        guard let choice = try reader.object("tool_choice") else { return (tools.tools.isEmpty ? .none : .auto, true) }
        let type = try choice.requiredString("type")
        let parallel = !(try choice.bool("disable_parallel_tool_use") ?? false)
        let result: ToolChoice
        switch type {
        case "auto": result = tools.tools.isEmpty ? .none : .auto
        case "none": result = .none
        case "any": result = .required
        case "tool":
            let name = try choice.requiredString("name")
            if tools.serverToolNames.contains(name) { throw serverToolError(name) }
            guard tools.tools.contains(where: { $0.name == name }) else {
                throw .invalidValue(param: "tool_choice.name", "tool_choice names '\(name)', which is not in tools")
            }
            result = .named(name)
        default:
            throw .invalidValue(param: "tool_choice.type", "tool_choice.type must be auto, any, tool or none, got '\(type)'")
        }
        if (result == .required) && tools.tools.isEmpty {
            throw .invalidValue(param: "tool_choice", "tool_choice '\(type)' requires tools")
        }
        return (result, parallel)
    }
}
