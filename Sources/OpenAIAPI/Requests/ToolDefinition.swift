import JSON

/// A validated entry of `tools` (§6.7). The template receives the tools as sent (`rawValue`), key order kept.
public struct ToolDefinition: Sendable, Equatable {
    public var name: String
    public var description: String?
    /// The `parameters` JSON schema object, nil when absent.
    public var parameters: JSONObject?
    public var strict: Bool?
    public var rawValue: JSONValue

    static func readTools(_ reader: FieldReader, limits: RequestLimits) throws(APIError) -> [ToolDefinition] {
        guard let elements = try reader.array("tools") else { return [] }
        guard elements.count <= limits.maxToolCount else {
            throw .invalidValue(param: "tools", "tools holds \(elements.count) entries, at most \(limits.maxToolCount) "
                + "are allowed")
        }
        var tools: [ToolDefinition] = []
        var seen = Set<String>()
        for (index, element) in elements.enumerated() {
            let tool = try FieldReader(element, path: "tools[\(index)]")
            let type = try tool.requiredString("type")
            guard type == "function" else {
                throw .unsupportedValue(param: tool.path("type"), "\(tool.path("type")) must be 'function', got '\(type)'")
            }
            guard let function = try tool.object("function") else { throw .missing(param: tool.path("function")) }
            let name = try function.requiredString("name")
            guard isValidName(name) else {
                throw .invalidValue(param: function.path("name"), "\(function.path("name")) must match "
                    + "^[a-zA-Z0-9_-]{1,64}$, got '\(name)'")
            }
            guard seen.insert(name).inserted else {
                throw .invalidValue(param: function.path("name"), "tool name '\(name)' is used more than once")
            }
            let description = try function.string("description")
            let parameters = try function.object("parameters")?.object
            let strict = try function.bool("strict")
            tools.append(ToolDefinition(
                name: name, description: description, parameters: parameters, strict: strict, rawValue: element))
        }
        return tools
    }

    /// `^[a-zA-Z0-9_-]{1,64}$`, the rule for tool and schema names.
    public static func isValidName(_ name: String) -> Bool {
        let bytes = name.utf8
        guard (1...64).contains(bytes.count) else { return false }
        return bytes.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                || byte == 0x5F || byte == 0x2D
        }
    }
}

/// `tool_choice` (§6.7). Default: `.auto` with tools, `.none` without.
public enum ToolChoice: Sendable, Equatable {
    case none
    case auto
    case required
    case named(String)

    static func read(_ reader: FieldReader, tools: [ToolDefinition]) throws(APIError) -> ToolChoice {
        guard let value = reader.value("tool_choice") else { return tools.isEmpty ? .none : .auto }
        let choice: ToolChoice
        switch value {
        case .string("none"): choice = .none
        case .string("auto"): choice = .auto
        case .string("required"): choice = .required
        case .string(let other):
            throw .unsupportedValue(param: "tool_choice", "tool_choice '\(other)' is not one of none, auto, required "
                + "or {\"type\": \"function\", \"function\": {\"name\": ...}}")
        case .object:
            let object = try FieldReader(value, path: "tool_choice")
            let type = try object.requiredString("type")
            guard type == "function" else {
                throw .unsupportedValue(param: "tool_choice.type", "tool_choice.type must be 'function', got '\(type)'")
            }
            guard let function = try object.object("function") else { throw .missing(param: "tool_choice.function") }
            let name = try function.requiredString("name")
            guard tools.contains(where: { $0.name == name }) else {
                throw .invalidValue(param: "tool_choice", "tool_choice names '\(name)', which is not in tools")
            }
            choice = .named(name)
        default: throw .invalidType(param: "tool_choice", expected: "a string or an object")
        }
        if choice != .none && tools.isEmpty {
            throw .invalidValue(param: "tool_choice", "tool_choice other than 'none' requires tools")
        }
        return choice
    }
}
