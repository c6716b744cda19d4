import JSON

/// The two streamed routes `vllm bench serve` drives.
public enum BenchEndpoint: String, Sendable {
    case chat = "/v1/chat/completions"
    case completions = "/v1/completions"
}

/// One user turn of a workload: the text to send and how many tokens it is and asks for.
public struct PromptTurn: Sendable, Equatable {
    public var text: String
    public var promptLength: Int
    public var outputLength: Int

    public init(text: String, promptLength: Int, outputLength: Int) {
        self.text = text
        self.promptLength = promptLength
        self.outputLength = outputLength
    }
}

/// A workload item: one turn for single-shot datasets, several for `multiturn`.
public struct Conversation: Sendable, Equatable {
    public var turns: [PromptTurn]
    public init(turns: [PromptTurn]) { self.turns = turns }
}

/// Builds request bodies exactly as vLLM's client does (§11 of the API contract):
/// chat: `model, messages, max_completion_tokens, stream, stream_options{include_usage}` (+ `ignore_eos`);
/// completions: `model, prompt, repetition_penalty 1.0, max_tokens, logprobs null, stream, stream_options`;
/// then every `--extra-body` key (overriding). No sampling fields unless the extra body carries them.
public struct RequestFactory: Sendable {
    public var baseURL: String
    public var endpoint: BenchEndpoint
    public var model: String
    public var ignoreEOS: Bool
    public var extraBody: [(String, JSONValue)]

    public init(baseURL: String, endpoint: BenchEndpoint, model: String, ignoreEOS: Bool, extraBody: [(String, JSONValue)]) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.endpoint = endpoint
        self.model = model
        self.ignoreEOS = ignoreEOS
        self.extraBody = extraBody
    }

    public var url: String { baseURL + endpoint.rawValue }

    /// The body for turn `turnIndex` of `conversation`; earlier turns are replayed with the model's actual answers.
    public func body(conversation: Conversation, turnIndex: Int, answers: [String]) -> JSONValue {
        let turn = conversation.turns[turnIndex]
        var members: [(String, JSONValue)] = [("model", .string(model))]
        switch endpoint {
        case .chat:
            var messages: [JSONValue] = []
            for i in 0..<turnIndex {
                messages.append(.object(JSONObject([("role", .string("user")), ("content", .string(conversation.turns[i].text))])))
                let answer = i < answers.count ? answers[i] : ""
                messages.append(.object(JSONObject([("role", .string("assistant")), ("content", .string(answer))])))
            }
            messages.append(.object(JSONObject([("role", .string("user")), ("content", .string(turn.text))])))
            members.append(("messages", .array(messages)))
            members.append(("max_completion_tokens", .int(turn.outputLength)))
        case .completions:
            var prompt = ""
            for i in 0..<turnIndex {
                prompt += conversation.turns[i].text + (i < answers.count ? answers[i] : "")
            }
            prompt += turn.text
            members.append(("prompt", .string(prompt)))
            members.append(("repetition_penalty", .int(1)))
            members.append(("max_tokens", .int(turn.outputLength)))
            members.append(("logprobs", .null))
        }
        members.append(("stream", .bool(true)))
        members.append(("stream_options", .object(JSONObject([("include_usage", .bool(true))]))))
        if ignoreEOS { members.append(("ignore_eos", .bool(true))) }
        for (key, value) in extraBody {
            if let index = members.firstIndex(where: { $0.0 == key }) {
                members[index].1 = value
            } else {
                members.append((key, value))
            }
        }
        return .object(JSONObject(members))
    }

    /// Tokens the server must read for turn `turnIndex`: this turn plus the replayed history (answers counted by
    /// their measured output tokens).
    public static func promptLength(conversation: Conversation, turnIndex: Int, answerTokenCounts: [Int]) -> Int {
        var length = conversation.turns[turnIndex].promptLength
        for i in 0..<turnIndex {
            length += conversation.turns[i].promptLength + (i < answerTokenCounts.count ? answerTokenCounts[i] : 0)
        }
        return length
    }
}
