import JSON

/// `POST /tokenize` (§8, vLLM's shape): a text prompt or chat messages rendered like a chat request.
public struct TokenizeRequest: Sendable, Equatable {
    public enum Input: Sendable, Equatable {
        case prompt(String, addSpecialTokens: Bool)
        /// `tools` as sent (nil when absent).
        case messages([ChatMessage], tools: JSONValue?, addGenerationPrompt: Bool)
    }

    public var model: String?
    public var input: Input
    public var returnTokenStrings: Bool

    public init(json: JSONValue, limits: RequestLimits = RequestLimits()) throws(APIError) {
        guard case .object(let object) = json else { throw .invalidJSON("the request body must be a JSON object") }
        let reader = FieldReader(object)
        model = try reader.string("model")
        returnTokenStrings = try reader.bool("return_token_strs") ?? false
        if let prompt = try reader.string("prompt") {
            input = .prompt(prompt, addSpecialTokens: try reader.bool("add_special_tokens") ?? false)
        } else if reader.has("messages") {
            let messages = try ChatMessage.readMessages(reader)
            let tools = try ToolDefinition.readTools(reader, limits: limits)
            input = .messages(
                messages, tools: tools.isEmpty ? nil : .array(tools.map(\.rawValue)),
                addGenerationPrompt: try reader.bool("add_generation_prompt") ?? true)
        } else {
            throw .missing(param: "prompt")
        }
    }
}

/// `POST /detokenize`: `{"model", "tokens": [...]}`.
public struct DetokenizeRequest: Sendable, Equatable {
    public var model: String?
    public var tokens: [Int]

    public init(json: JSONValue, limits: RequestLimits = RequestLimits()) throws(APIError) {
        guard case .object(let object) = json else { throw .invalidJSON("the request body must be a JSON object") }
        let reader = FieldReader(object)
        model = try reader.string("model")
        guard let tokens = try reader.array("tokens") else { throw .missing(param: "tokens") }
        self.tokens = try TokenIdReader.read(tokens, param: "tokens", limits: limits)
    }
}
