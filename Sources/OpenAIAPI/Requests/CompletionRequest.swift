import JSON

/// `POST /v1/completions` after validation (§7).
public struct CompletionRequest: Sendable, Equatable {
    /// A prompt as text or as token ids (no template, no BOS).
    public enum Prompt: Sendable, Equatable {
        case text(String)
        case tokens([Int])
    }

    public var model: String
    /// 1 ... 16 prompts.
    public var prompts: [Prompt]
    public var stream = false
    public var includeUsage = false
    /// Default 16, as in OpenAI's completions API.
    public var maxTokens = 16
    public var sampling = SamplingOptions()
    /// Legacy `logprobs`: nil = off, else 0 ... 5 alternatives.
    public var logprobs: Int?
    public var echo = false

    public init(model: String, prompts: [Prompt]) {
        self.model = model
        self.prompts = prompts
    }

    public init(json: JSONValue, limits: RequestLimits = RequestLimits()) throws(APIError) {
        guard case .object(let object) = json else {
            throw .invalidJSON("the request body must be a JSON object")
        }
        let reader = FieldReader(object)
        model = try reader.requiredString("model")
        prompts = try Self.readPrompts(reader, limits: limits)
        stream = try reader.bool("stream") ?? false
        if let options = try reader.object("stream_options") {
            guard stream else {
                throw .invalidValue(param: "stream_options", "stream_options is only allowed with stream: true")
            }
            includeUsage = try options.bool("include_usage") ?? false
        }
        maxTokens = try ChatCompletionRequest.positive(reader, "max_tokens") ?? 16
        sampling = try SamplingOptions(from: reader, limits: limits)
        logprobs = try reader.int("logprobs", in: 0...limits.maxCompletionLogprobs)
        echo = try reader.bool("echo") ?? false
        if echo && logprobs != nil {
            throw .unsupportedValue(param: "echo", "echo together with logprobs is not supported")
        }
        if reader.has("suffix") {
            throw .unsupportedParameter(param: "suffix", "suffix is not supported")
        }
        if let bestOf = try reader.int("best_of", in: 1...limits.maxN), bestOf != sampling.n {
            throw .invalidValue(param: "best_of", "best_of must be absent or equal to n (\(sampling.n)), got \(bestOf)")
        }
    }

    private static func readPrompts(_ reader: FieldReader, limits: RequestLimits) throws(APIError) -> [Prompt] {
        guard let value = reader.value("prompt") else { throw .missing(param: "prompt") }
        var prompts: [Prompt]
        switch value {
        case .string(let text): prompts = [.text(text)]
        case .array(let elements):
            guard let first = elements.first else { throw .invalidValue(param: "prompt", "prompt must not be empty") }
            switch first {
            case .number: prompts = [.tokens(try TokenIdReader.read(elements, param: "prompt", limits: limits))]
            case .string, .array:
                prompts = []
                for element in elements {
                    switch element {
                    case .string(let text): prompts.append(.text(text))
                    case .array(let ids): prompts.append(.tokens(try TokenIdReader.read(ids, param: "prompt", limits: limits)))
                    default:
                        throw .invalidType(param: "prompt", expected: "a string, an array of strings, an array of "
                            + "token ids or an array of token-id arrays")
                    }
                }
            default:
                throw .invalidType(param: "prompt", expected: "a string, an array of strings, an array of token ids "
                    + "or an array of token-id arrays")
            }
        default:
            throw .invalidType(param: "prompt", expected: "a string, an array of strings, an array of token ids or "
                + "an array of token-id arrays")
        }
        guard prompts.count <= limits.maxPromptCount else {
            throw .invalidValue(param: "prompt", "at most \(limits.maxPromptCount) prompts are allowed, got \(prompts.count)")
        }
        for prompt in prompts {
            switch prompt {
            case .text(let text) where text.isEmpty: throw .invalidValue(param: "prompt", "prompt must not be empty")
            case .tokens(let ids) where ids.isEmpty: throw .invalidValue(param: "prompt", "prompt must not be empty")
            default: break
            }
        }
        return prompts
    }
}
