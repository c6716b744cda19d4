import JSON

/// One input message after validation (§6.1): `developer` is already `system`, text parts are joined with "\n".
public struct ChatMessage: Sendable, Equatable {
    public enum Role: String, Sendable, Equatable {
        case system, user, assistant, tool
    }

    /// A tool call in assistant history. `arguments` is kept as sent: a JSON string (inserted verbatim by the
    /// template) or an object (rendered with `tojson`).
    public struct ToolCall: Sendable, Equatable {
        public var id: String?
        public var name: String
        public var arguments: JSONValue
    }

    public var role: Role
    /// nil only for an assistant message without content.
    public var content: String?
    public var reasoningContent: String?
    public var toolCalls: [ToolCall]
    public var toolCallId: String?

    public init(
        role: Role, content: String?, reasoningContent: String? = nil, toolCalls: [ToolCall] = [],
        toolCallId: String? = nil
    ) {
        self.role = role
        self.content = content
        self.reasoningContent = reasoningContent
        self.toolCalls = toolCalls
        self.toolCallId = toolCallId
    }

    /// The message as the chat template sees it: `role`, `content` and, when present, `reasoning_content`,
    /// `tool_calls` (`{"id", "type", "function": {"name", "arguments"}}`) and `tool_call_id`.
    public var templateValue: JSONValue {
        var object = JSONObject()
        object["role"] = .string(role.rawValue)
        object["content"] = content.map(JSONValue.string) ?? .null
        if let reasoningContent { object["reasoning_content"] = .string(reasoningContent) }
        if !toolCalls.isEmpty {
            object["tool_calls"] = .array(toolCalls.map { call in
                var function = JSONObject()
                function["name"] = .string(call.name)
                function["arguments"] = call.arguments
                var entry = JSONObject()
                entry["id"] = call.id.map(JSONValue.string) ?? .null
                entry["type"] = "function"
                entry["function"] = .object(function)
                return .object(entry)
            })
        }
        if let toolCallId { object["tool_call_id"] = .string(toolCallId) }
        return .object(object)
    }

    static func readMessages(_ reader: FieldReader) throws(APIError) -> [ChatMessage] {
        guard let elements = try reader.array("messages") else { throw .missing(param: "messages") }
        guard !elements.isEmpty else { throw .invalidValue(param: "messages", "messages must not be empty") }
        var messages: [ChatMessage] = []
        messages.reserveCapacity(elements.count)
        for (index, element) in elements.enumerated() {
            messages.append(try read(element, path: "messages[\(index)]"))
        }
        return messages
    }

    static func read(_ value: JSONValue, path: String) throws(APIError) -> ChatMessage {
        let message = try FieldReader(value, path: path)
        let roleName = try message.requiredString("role")
        let role: Role
        switch roleName {
        case "system", "developer": role = .system
        case "user": role = .user
        case "assistant": role = .assistant
        case "tool": role = .tool
        default:
            throw .invalidValue(param: message.path("role"), "\(message.path("role")) '\(roleName)' is not one of "
                + "system, developer, user, assistant, tool")
        }
        var result = ChatMessage(role: role, content: try readContent(message))
        if role == .assistant {
            let reasoning = try message.string("reasoning_content")
            let reasoningAlias = try message.string("reasoning")
            result.reasoningContent = reasoning ?? reasoningAlias
            if let calls = try message.array("tool_calls") {
                for (index, call) in calls.enumerated() {
                    result.toolCalls.append(try readToolCall(call, path: message.path("tool_calls") + "[\(index)]"))
                }
            }
        } else if result.content == nil {
            throw .missing(param: message.path("content"))
        }
        if role == .tool { result.toolCallId = try message.string("tool_call_id") }
        return result
    }

    /// A string, or an array of `{"type": "text", "text": ...}` parts joined with "\n".
    static func readContent(_ message: FieldReader) throws(APIError) -> String? {
        guard let value = message.value("content") else { return nil }
        let path = message.path("content")
        switch value {
        case .string(let text): return text
        case .array(let parts):
            var texts: [String] = []
            for (index, part) in parts.enumerated() {
                let partReader = try FieldReader(part, path: "\(path)[\(index)]")
                let type = try partReader.requiredString("type")
                guard type == "text" else {
                    throw .unsupportedValue(param: partReader.path("type"), "content part type '\(type)' is not "
                        + "supported: this model accepts text only")
                }
                texts.append(try partReader.requiredString("text"))
            }
            return texts.joined(separator: "\n")
        default: throw .invalidType(param: path, expected: "a string or an array of text parts")
        }
    }

    static func readToolCall(_ value: JSONValue, path: String) throws(APIError) -> ToolCall {
        let call = try FieldReader(value, path: path)
        if let type = try call.string("type"), type != "function" {
            throw .unsupportedValue(param: call.path("type"), "\(call.path("type")) must be 'function'")
        }
        guard let function = try call.object("function") else { throw .missing(param: call.path("function")) }
        let name = try function.requiredString("name")
        let arguments: JSONValue
        switch function.value("arguments") {
        case nil: arguments = .string("{}")
        case .some(let value):
            switch value {
            case .string, .object: arguments = value
            default: throw .invalidType(param: function.path("arguments"), expected: "a JSON string or an object")
            }
        }
        return ToolCall(id: try call.string("id"), name: name, arguments: arguments)
    }
}
