import JSON

/// `POST /v1/chat/completions` after validation (§6.2). Unknown fields are ignored; `null` means "not given".
public struct ChatCompletionRequest: Sendable, Equatable {
    public var model: String
    public var messages: [ChatMessage]
    public var stream = false
    /// `stream_options.include_usage`.
    public var includeUsage = false
    /// `max_completion_tokens`, else `max_tokens`; nil = up to the context (§6.3).
    public var maxTokens: Int?
    /// Which field `maxTokens` came from, for `context_length_exceeded` errors.
    public var maxTokensParam = "max_completion_tokens"
    public var sampling = SamplingOptions()
    public var logprobs = false
    /// nil unless `logprobs`; 0 ... 20.
    public var topLogprobs: Int?
    public var tools: [ToolDefinition] = []
    public var toolChoice: ToolChoice = .none
    public var parallelToolCalls = true
    public var responseFormat: ResponseFormat = .text

    public init(model: String, messages: [ChatMessage]) {
        self.model = model
        self.messages = messages
    }

    /// The tools as the client sent them (for the chat template), nil when there are none.
    public var templateTools: JSONValue? { tools.isEmpty ? nil : .array(tools.map(\.rawValue)) }

    public init(json: JSONValue, limits: RequestLimits = RequestLimits()) throws(APIError) {
        guard case .object(let object) = json else {
            throw .invalidJSON("the request body must be a JSON object")
        }
        let reader = FieldReader(object)
        try Self.rejectUnsupported(reader)
        model = try reader.requiredString("model")
        messages = try ChatMessage.readMessages(reader)
        stream = try reader.bool("stream") ?? false
        if let options = try reader.object("stream_options") {
            guard stream else {
                throw .invalidValue(param: "stream_options", "stream_options is only allowed with stream: true")
            }
            includeUsage = try options.bool("include_usage") ?? false
        }
        let maxCompletion = try Self.positive(reader, "max_completion_tokens")
        let maxLegacy = try Self.positive(reader, "max_tokens")
        if let maxCompletion {
            maxTokens = maxCompletion
        } else if let maxLegacy {
            maxTokens = maxLegacy
            maxTokensParam = "max_tokens"
        }
        sampling = try SamplingOptions(from: reader, limits: limits)
        logprobs = try reader.bool("logprobs") ?? false
        if let top = try reader.int("top_logprobs", in: 0...limits.maxTopLogprobs) {
            guard logprobs else {
                throw .invalidValue(param: "top_logprobs", "top_logprobs requires logprobs: true")
            }
            topLogprobs = top
        }
        tools = try ToolDefinition.readTools(reader, limits: limits)
        toolChoice = try ToolChoice.read(reader, tools: tools)
        parallelToolCalls = try reader.bool("parallel_tool_calls") ?? true
        responseFormat = try ResponseFormat.read(reader)
        if responseFormat != .text && toolChoice != .none {
            throw .unsupportedValue(param: "response_format", "response_format other than text together with tools "
                + "and tool_choice other than 'none' is not supported yet")
        }
        // `reasoning_effort`, `chat_template_kwargs`, `user` and unknown fields: accepted and ignored.
    }

    /// A count of tokens to generate: 1 ... `RequestLimits.maxRequestedTokenCount` (the range check comes before the
    /// context arithmetic, so 2^63 - 1 is a 400, not an overflow).
    public static func positive(_ reader: FieldReader, _ key: String) throws(APIError) -> Int? {
        try reader.int(key, in: 1...RequestLimits.maxRequestedTokenCount)
    }

    private static func rejectUnsupported(_ reader: FieldReader) throws(APIError) {
        if let modalities = reader.value("modalities"), modalities != .array(["text"]) {
            throw .unsupportedParameter(param: "modalities", "modalities other than [\"text\"] are not supported")
        }
        for key in ["audio", "functions", "function_call"] where reader.has(key) {
            throw .unsupportedParameter(param: key, "\(key) is not supported; use tools and tool_choice")
        }
    }
}
