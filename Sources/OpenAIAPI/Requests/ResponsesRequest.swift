import JSON

/// `POST /v1/responses` after validation (`agent-protocols.md` §2.2-§2.5), already translated onto the chat path:
/// `conversation` holds chat messages (without the system message built from `instructions`), `tools` are chat tool
/// definitions (namespaces flattened, custom tools shimmed), `toolKinds` maps each flattened name back.
public struct ResponsesRequest: Sendable, Equatable {
    /// How a tool name the model calls maps back to a Responses output item.
    public enum ToolKind: Sendable, Equatable {
        /// A flat function, or one inside `namespace` (the model sees `<namespace>__<name>`).
        case function(name: String, namespace: String?)
        /// A freeform tool: the model fills `{"input": "..."}`, the client gets `custom_tool_call.input`.
        case custom(name: String, namespace: String?)
    }

    public var model: String
    /// `instructions`, then the leading system/developer input messages, joined with "\n\n" (§2.5); nil = none.
    public var systemText: String?
    /// `instructions` as sent, for the echo.
    public var instructions: String?
    /// The input items as chat messages, in order (assistant pieces folded into one turn).
    public var conversation: [ChatMessage] = []
    public var stream = false
    public var maxOutputTokens: Int?
    public var sampling = SamplingOptions()
    public var tools: [ToolDefinition] = []
    public var toolKinds: [String: ToolKind] = [:]
    /// Hosted tool types that were skipped (not rendered), in order, without duplicates.
    public var skippedToolTypes: [String] = []
    public var toolChoice: ToolChoice = .none
    /// `allowed_tools` with mode `required`: the flattened names constrained decoding may call.
    public var allowedToolNames: [String]?
    public var parallelToolCalls = true
    public var textFormat: ResponseFormat = .text
    /// `store` (default true, as OpenAI).
    public var store = true
    public var previousResponseID: String?
    /// `include` has `reasoning.encrypted_content`.
    public var includeEncryptedReasoning = false
    /// Echo fields of the response object, as sent (nil = not given).
    public var echo = Echo()

    public struct Echo: Sendable, Equatable {
        public var tools: JSONValue = .array([])
        public var toolChoice: JSONValue?
        public var text: JSONValue?
        public var reasoning: JSONValue?
        public var metadata: JSONValue?
        public var user: JSONValue?
        public init() {}
    }

    public init(model: String) { self.model = model }

    /// The chat messages to render: the system text first, then `history` (a stored chain), then this input.
    public func messages(after history: [ChatMessage]) -> [ChatMessage] {
        (systemText.map { [ChatMessage(role: .system, content: $0)] } ?? []) + history + conversation
    }

    /// The tools for the chat template (`{"type": "function", "function": {...}}`), nil when none.
    public var templateTools: JSONValue? { tools.isEmpty ? nil : .array(tools.map(\.rawValue)) }

    public init(json: JSONValue, limits: RequestLimits = RequestLimits()) throws(APIError) {
        guard case .object(let object) = json else { throw .invalidJSON("the request body must be a JSON object") }
        let reader = FieldReader(object)
        for key in ["conversation", "prompt", "max_tool_calls", "moderation"] where reader.has(key) {
            throw .unsupportedParameter(param: key, "\(key) is not supported by this server")
        }
        if try reader.bool("background") == true {
            throw .unsupportedParameter(param: "background", "background responses are not supported by this server")
        }
        if let truncation = try reader.string("truncation"), truncation != "disabled" {
            throw .unsupportedValue(param: "truncation", "truncation '\(truncation)' is not supported; use 'disabled'")
        }
        if let top = try reader.int("top_logprobs"), top != 0 {
            throw .unsupportedParameter(param: "top_logprobs", "top_logprobs is not supported on /v1/responses; use "
                + "/v1/chat/completions with logprobs")
        }
        model = try reader.requiredString("model")
        instructions = try reader.string("instructions")
        stream = try reader.bool("stream") ?? false
        if let maximum = try reader.int("max_output_tokens") {
            guard maximum >= 1 else {
                throw .invalidValue(param: "max_output_tokens", "max_output_tokens must be at least 1, got \(maximum)")
            }
            maxOutputTokens = maximum
        }
        sampling.temperature = try reader.double("temperature", in: 0...2)
        sampling.topP = try reader.double("top_p", in: 0...1, lowerExclusive: true)
        store = try reader.bool("store") ?? true
        if let previous = try reader.string("previous_response_id") {
            guard !previous.isEmpty && previous.utf8.count <= 200 else {
                throw .invalidValue(param: "previous_response_id", "previous_response_id must be a response id")
            }
            previousResponseID = previous
        }
        if let include = try reader.array("include") {
            for (index, entry) in include.enumerated() {
                guard case .string(let name) = entry else { throw .invalidType(param: "include[\(index)]", expected: "a string") }
                if name == "reasoning.encrypted_content" { includeEncryptedReasoning = true }
            }
        }
        if let reasoning = reader.value("reasoning") {
            // Accepted and echoed: the Ling template fixes thinking off (`ling2-arch.md` §5), so effort and summary
            // change nothing; unknown values are ignored for the same reason.
            guard case .object = reasoning else { throw .invalidType(param: "reasoning", expected: "an object or null") }
            echo.reasoning = reasoning
        }
        echo.metadata = reader.value("metadata")
        echo.user = reader.value("user")
        try readTools(reader, limits: limits)
        try readToolChoice(reader)
        parallelToolCalls = try reader.bool("parallel_tool_calls") ?? true
        if let text = try reader.object("text") {
            echo.text = .object(text.object)
            textFormat = try Self.readFormat(text)
        }
        if textFormat != .text && toolChoice != .none {
            throw .unsupportedValue(param: "text.format", "text.format other than text together with tools and "
                + "tool_choice other than 'none' is not supported yet")
        }
        var builder = ResponsesInputBuilder(systemText: instructions, toolKinds: toolKinds)
        switch reader.value("input") {
        case nil: throw .missing(param: "input")
        case .string(let text)?: builder.append(ChatMessage(role: .user, content: text))
        case .array(let items)?:
            for (index, item) in items.enumerated() { try builder.add(item, path: "input[\(index)]") }
        case .some: throw .invalidType(param: "input", expected: "a string or an array of input items")
        }
        let built = builder.finish()
        systemText = built.systemText
        conversation = built.messages
    }

    // MARK: tools

    /// Server-side tools LingServe cannot run: skipped (not rendered) instead of rejected, as Codex sends
    /// `web_search` by default (§2.4; llama.cpp #20156).
    static let hostedToolTypes: Set<String> = [
        "web_search", "web_search_preview", "web_search_2025_08_26", "web_search_preview_2025_03_11",
        "image_generation", "file_search", "code_interpreter", "mcp", "computer", "computer_use",
        "computer_use_preview", "local_shell", "shell", "apply_patch", "tool_search",
    ]

    private mutating func readTools(_ reader: FieldReader, limits: RequestLimits) throws(APIError) {
        guard let elements = try reader.array("tools") else { return }
        echo.tools = .array(elements)
        for (index, element) in elements.enumerated() {
            let tool = try FieldReader(element, path: "tools[\(index)]")
            let type = try tool.requiredString("type")
            switch type {
            case "function", "custom": try addTool(tool, namespace: nil)
            case "namespace":
                let namespace = try tool.requiredString("name")
                guard let inner = try tool.array("tools") else { throw .missing(param: tool.path("tools")) }
                for (position, entry) in inner.enumerated() {
                    let innerTool = try FieldReader(entry, path: tool.path("tools") + "[\(position)]")
                    let innerType = try innerTool.requiredString("type")
                    guard innerType == "function" || innerType == "custom" else {
                        throw .unsupportedValue(param: innerTool.path("type"), "\(innerTool.path("type")) must be "
                            + "'function' or 'custom' inside a namespace, got '\(innerType)'")
                    }
                    try addTool(innerTool, namespace: namespace)
                }
            default:
                guard Self.hostedToolTypes.contains(type) else {
                    throw .unsupportedValue(param: tool.path("type"), "\(tool.path("type")) '\(type)' is not supported: "
                        + "tools must be function, custom or namespace tools")
                }
                if !skippedToolTypes.contains(type) { skippedToolTypes.append(type) }
            }
        }
        guard tools.count <= limits.maxToolCount else {
            throw .invalidValue(param: "tools", "tools holds \(tools.count) functions, at most \(limits.maxToolCount) "
                + "are allowed")
        }
    }

    private mutating func addTool(_ tool: FieldReader, namespace: String?) throws(APIError) {
        let type = try tool.requiredString("type")
        let name = try tool.requiredString("name")
        let flatName = namespace.map { "\($0)__\(name)" } ?? name
        guard ToolDefinition.isValidName(flatName) else {
            throw .invalidValue(param: tool.path("name"), "\(tool.path("name")) must match ^[a-zA-Z0-9_-]{1,64}$ "
                + "(with its namespace as '<namespace>__<name>'), got '\(flatName)'")
        }
        guard toolKinds[flatName] == nil else {
            throw .invalidValue(param: tool.path("name"), "tool name '\(flatName)' is used more than once")
        }
        var description = try tool.string("description")
        var parameters: JSONObject?
        if type == "custom" {
            // The shim of vLLM PR #57322: one string parameter `input`; a grammar is described, not enforced.
            if let format = try tool.object("format"), try format.string("type") == "grammar" {
                let syntax = try format.string("syntax") ?? "lark"
                let definition = try format.string("definition") ?? ""
                description = (description.map { $0 + "\n\n" } ?? "")
                    + "The input must follow this \(syntax) grammar:\n\(definition)"
            }
            var input = JSONObject()
            input["type"] = "string"
            var properties = JSONObject()
            properties["input"] = .object(input)
            var schema = JSONObject()
            schema["type"] = "object"
            schema["properties"] = .object(properties)
            schema["required"] = ["input"]
            schema["additionalProperties"] = .bool(false)
            parameters = schema
            toolKinds[flatName] = .custom(name: name, namespace: namespace)
        } else {
            parameters = try tool.object("parameters")?.object
            toolKinds[flatName] = .function(name: name, namespace: namespace)
        }
        var function = JSONObject()
        function["name"] = .string(flatName)
        if let description { function["description"] = .string(description) }
        if let parameters { function["parameters"] = .object(parameters) }
        var raw = JSONObject()
        raw["type"] = "function"
        raw["function"] = .object(function)
        tools.append(ToolDefinition(
            name: flatName, description: description, parameters: parameters, strict: try? tool.bool("strict"),
            rawValue: .object(raw)))
    }

    /// `"none"`, `"auto"`, `"required"`, `{"type": "function"|"custom", "name"}`, `{"type": "allowed_tools", ...}`.
    private mutating func readToolChoice(_ reader: FieldReader) throws(APIError) {
        echo.toolChoice = reader.value("tool_choice")
        guard let value = reader.value("tool_choice") else {
            toolChoice = tools.isEmpty ? .none : .auto
            return
        }
        switch value {
        case .string("none"): toolChoice = .none
        case .string("auto"): toolChoice = tools.isEmpty ? .none : .auto
        case .string("required"): toolChoice = .required
        case .string(let other):
            throw .unsupportedValue(param: "tool_choice", "tool_choice '\(other)' is not one of none, auto, required "
                + "or {\"type\": \"function\", \"name\": ...}")
        case .object:
            let choice = try FieldReader(value, path: "tool_choice")
            let type = try choice.requiredString("type")
            switch type {
            case "function", "custom":
                let name = try choice.requiredString("name")
                let namespace = try choice.string("namespace")
                let flatName = namespace.map { "\($0)__\(name)" } ?? name
                guard tools.contains(where: { $0.name == flatName }) else {
                    throw .invalidValue(param: "tool_choice", "tool_choice names '\(flatName)', which is not in tools")
                }
                toolChoice = .named(flatName)
            case "allowed_tools":
                let mode = try choice.string("mode") ?? "auto"
                guard let allowed = try choice.array("tools") else { throw .missing(param: "tool_choice.tools") }
                var names: [String] = []
                for (index, entry) in allowed.enumerated() {
                    let tool = try FieldReader(entry, path: "tool_choice.tools[\(index)]")
                    let name = try tool.requiredString("name")
                    guard tools.contains(where: { $0.name == name }) else {
                        throw .invalidValue(param: tool.path("name"), "\(tool.path("name")) '\(name)' is not in tools")
                    }
                    names.append(name)
                }
                switch mode {
                case "auto": toolChoice = .auto  // the template still lists every tool; nothing is forced
                case "required":
                    guard !names.isEmpty else {
                        throw .invalidValue(param: "tool_choice.tools", "allowed_tools with mode required needs tools")
                    }
                    toolChoice = .required
                    allowedToolNames = names
                default:
                    throw .unsupportedValue(param: "tool_choice.mode", "tool_choice.mode must be auto or required")
                }
            default:
                throw .unsupportedValue(param: "tool_choice.type", "tool_choice.type '\(type)' is not supported: "
                    + "hosted tools cannot run on this server; use function or custom tools")
            }
        default: throw .invalidType(param: "tool_choice", expected: "a string or an object")
        }
        if toolChoice != .none && tools.isEmpty {
            throw .invalidValue(param: "tool_choice", "tool_choice other than 'none' requires function or custom tools")
        }
    }

    /// `text.format`: flat, unlike chat's `response_format.json_schema` nesting.
    static func readFormat(_ text: FieldReader) throws(APIError) -> ResponseFormat {
        guard let format = try text.object("format") else { return .text }
        let type = try format.requiredString("type")
        switch type {
        case "text": return .text
        case "json_object": return .jsonObject
        case "json_schema":
            let name = try format.string("name") ?? "response"
            guard ToolDefinition.isValidName(name) else {
                throw .invalidValue(param: format.path("name"), "\(format.path("name")) must match ^[a-zA-Z0-9_-]{1,64}$")
            }
            let strict = try format.bool("strict")
            let schema = try format.object("schema")?.object
            if let schema {
                var checker = SchemaSubsetChecker(root: schema)
                try checker.check(.object(schema), at: "#")
            }
            return .jsonSchema(name: name, schema: schema, strict: strict)
        default:
            throw .unsupportedValue(param: "text.format.type", "text.format.type must be text, json_object or "
                + "json_schema, got '\(type)'")
        }
    }
}

/// Folds input items into chat messages (§2.3): leading system/developer messages join the system text, consecutive
/// assistant pieces (reasoning, message, calls) form one assistant turn, call outputs become `tool` messages.
struct ResponsesInputBuilder {
    private var systemText: String?
    private let toolKinds: [String: ResponsesRequest.ToolKind]
    private var messages: [ChatMessage] = []
    private var pendingReasoning: String?
    /// Only leading system messages merge into the system text; later ones stay in place.
    private var sawNonSystem = false

    init(systemText: String?, toolKinds: [String: ResponsesRequest.ToolKind]) {
        self.systemText = systemText
        self.toolKinds = toolKinds
    }

    mutating func append(_ message: ChatMessage) {
        sawNonSystem = true
        messages.append(message)
    }

    func finish() -> (systemText: String?, messages: [ChatMessage]) { (systemText, messages) }

    /// Item types that carry hosted-tool traffic or state this server does not keep: dropped, the request goes on.
    static let droppedTypes: Set<String> = [
        "web_search_call", "image_generation_call", "tool_search_call", "tool_search_output", "compaction",
        "item_reference", "additional_tools", "file_search_call", "code_interpreter_call", "mcp_list_tools",
        "mcp_approval_request", "mcp_approval_response", "mcp_call", "computer_call", "computer_call_output",
    ]

    mutating func add(_ value: JSONValue, path: String) throws(APIError) {
        let item = try FieldReader(value, path: path)
        let type = try item.string("type") ?? (item.has("role") ? "message" : nil)
        switch type {
        case "message": try addMessage(item)
        case "function_call":
            let name = try qualified(item)
            let arguments = try item.string("arguments") ?? "{}"
            addCall(ChatMessage.ToolCall(id: try item.string("call_id"), name: name, arguments: .string(arguments)))
        case "custom_tool_call":
            let name = try qualified(item)
            var arguments = JSONObject()
            arguments["input"] = .string(try item.string("input") ?? "")
            addCall(ChatMessage.ToolCall(
                id: try item.string("call_id"), name: name, arguments: .string(JSONValue.object(arguments).compactJSON())))
        case "local_shell_call":
            let action = item.value("action") ?? .object(JSONObject())
            addCall(ChatMessage.ToolCall(
                id: try item.string("call_id"), name: "local_shell", arguments: .string(action.compactJSON())))
        case "function_call_output", "custom_tool_call_output", "local_shell_call_output":
            let output = try Self.outputText(item)
            sawNonSystem = true
            messages.append(ChatMessage(role: .tool, content: output, toolCallId: try item.string("call_id")))
        case "reasoning":
            let text = try Self.reasoningText(item)
            if !text.isEmpty { pendingReasoning = (pendingReasoning.map { $0 + "\n" } ?? "") + text }
        case "compaction_trigger":
            throw .unsupportedValue(param: item.path("type"), "compaction_trigger is not supported; configure Codex "
                + "with a custom provider name (not 'OpenAI') so it compacts locally")
        case let other?:
            guard Self.droppedTypes.contains(other) else {
                throw .unsupportedValue(param: item.path("type"), "\(item.path("type")) '\(other)' is not a supported "
                    + "input item type")
            }
        case nil: throw .missing(param: item.path("type"))
        }
    }

    private mutating func addMessage(_ item: FieldReader) throws(APIError) {
        let role = try item.requiredString("role")
        let text = try Self.contentText(item)
        switch role {
        case "system", "developer":
            if !sawNonSystem {
                systemText = (systemText.map { $0 + "\n\n" } ?? "") + text
            } else {
                messages.append(ChatMessage(role: .system, content: text))
            }
        case "user": append(ChatMessage(role: .user, content: text))
        case "assistant":
            sawNonSystem = true
            if var last = messages.last, last.role == .assistant {
                if let content = last.content, !content.isEmpty { last.content = content + "\n" + text } else { last.content = text }
                if let reasoning = pendingReasoning, last.reasoningContent == nil { last.reasoningContent = reasoning }
                messages[messages.count - 1] = last
            } else {
                messages.append(ChatMessage(role: .assistant, content: text, reasoningContent: pendingReasoning))
            }
            pendingReasoning = nil
        default:
            throw .invalidValue(param: item.path("role"), "\(item.path("role")) '\(role)' is not one of user, system, "
                + "developer, assistant")
        }
    }

    private mutating func addCall(_ call: ChatMessage.ToolCall) {
        sawNonSystem = true
        if var last = messages.last, last.role == .assistant {
            last.toolCalls.append(call)
            if let reasoning = pendingReasoning, last.reasoningContent == nil { last.reasoningContent = reasoning }
            messages[messages.count - 1] = last
        } else {
            messages.append(ChatMessage(role: .assistant, content: "", reasoningContent: pendingReasoning, toolCalls: [call]))
        }
        pendingReasoning = nil
    }

    /// The name the model saw: `<namespace>__<name>` for namespaced calls.
    private func qualified(_ item: FieldReader) throws(APIError) -> String {
        let name = try item.requiredString("name")
        guard let namespace = try item.string("namespace") else { return name }
        return "\(namespace)__\(name)"
    }

    /// A string, or text parts (`input_text`, `output_text`, `text`, `refusal`) joined with "\n".
    static func contentText(_ item: FieldReader) throws(APIError) -> String {
        let path = item.path("content")
        switch item.value("content") {
        case nil: return ""
        case .string(let text)?: return text
        case .array(let parts)?: return try partsText(parts, path: path)
        case .some: throw .invalidType(param: path, expected: "a string or an array of content parts")
        }
    }

    static func partsText(_ parts: [JSONValue], path: String) throws(APIError) -> String {
        var texts: [String] = []
        for (index, part) in parts.enumerated() {
            let reader = try FieldReader(part, path: "\(path)[\(index)]")
            let type = try reader.requiredString("type")
            switch type {
            case "input_text", "output_text", "text", "summary_text", "reasoning_text": texts.append(try reader.requiredString("text"))
            case "refusal": texts.append(try reader.requiredString("refusal"))
            case "input_image", "input_file", "input_audio":
                throw .unsupportedValue(param: reader.path("type"), "\(reader.path("type")) '\(type)' is not supported: "
                    + "this model reads text only")
            default:
                throw .unsupportedValue(param: reader.path("type"), "content part type '\(type)' is not supported")
            }
        }
        return texts.joined(separator: "\n")
    }

    static func outputText(_ item: FieldReader) throws(APIError) -> String {
        let path = item.path("output")
        switch item.value("output") {
        case nil: return ""
        case .string(let text)?: return text
        case .array(let parts)?: return try partsText(parts, path: path)
        case .some(let other): return other.compactJSON()  // local_shell outputs and other structured results
        }
    }

    /// `content` reasoning text, else the summary, else LingServe's own `encrypted_content` (§2.6).
    static func reasoningText(_ item: FieldReader) throws(APIError) -> String {
        if let content = try item.array("content"), !content.isEmpty {
            return try partsText(content, path: item.path("content"))
        }
        if let summary = try item.array("summary"), !summary.isEmpty {
            return try partsText(summary, path: item.path("summary"))
        }
        if let encrypted = try item.string("encrypted_content"), let text = ReasoningSeal.open(encrypted) { return text }
        return ""
    }
}

/// `encrypted_content` of LingServe's reasoning items: `lingserve:v1:` + base64 of the text, so a client that keeps
/// only that field still gives the reasoning back (§2.6). Not a secret: the same text is in `content`.
public enum ReasoningSeal {
    static let prefix = "lingserve:v1:"
    static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    public static func seal(_ text: String) -> String {
        let bytes = Array(text.utf8)
        var output: [UInt8] = []
        output.reserveCapacity((bytes.count + 2) / 3 * 4)
        var index = 0
        while index < bytes.count {
            let b0 = bytes[index]
            let b1 = index + 1 < bytes.count ? bytes[index + 1] : 0
            let b2 = index + 2 < bytes.count ? bytes[index + 2] : 0
            output.append(alphabet[Int(b0 >> 2)])
            output.append(alphabet[Int((b0 & 0x03) << 4 | b1 >> 4)])
            output.append(index + 1 < bytes.count ? alphabet[Int((b1 & 0x0F) << 2 | b2 >> 6)] : 0x3D)
            output.append(index + 2 < bytes.count ? alphabet[Int(b2 & 0x3F)] : 0x3D)
            index += 3
        }
        return prefix + String(decoding: output, as: UTF8.self)
    }

    /// nil for anything that is not a LingServe seal (OpenAI's own encrypted reasoning cannot be read).
    public static func open(_ sealed: String) -> String? {
        guard sealed.hasPrefix(prefix) else { return nil }
        var values: [UInt8] = []
        for byte in sealed.utf8.dropFirst(prefix.utf8.count) where byte != 0x3D {
            guard let value = alphabet.firstIndex(of: byte) else { return nil }
            values.append(UInt8(value))
        }
        var bytes: [UInt8] = []
        var index = 0
        while index + 1 < values.count {
            bytes.append(values[index] << 2 | values[index + 1] >> 4)
            if index + 2 < values.count { bytes.append((values[index + 1] & 0x0F) << 4 | values[index + 2] >> 2) }
            if index + 3 < values.count { bytes.append((values[index + 2] & 0x03) << 6 | values[index + 3]) }
            index += 4
        }
        return String(validating: bytes, as: UTF8.self)
    }
}

extension ChatMessage.ToolCall {
    /// A call in assistant history built by the server (stored responses); `arguments` as JSON text.
    public init(callID: String?, name: String, argumentsText: String) {
        self.init(id: callID, name: name, arguments: .string(argumentsText))
    }
}
