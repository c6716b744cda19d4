import JSON

/// Legacy completions logprobs (§7): one entry per released token.
public struct LegacyLogprobs: Sendable, Equatable {
    public var tokens: [String] = []
    public var tokenLogprobs: [Double] = []
    /// Per token: alternative token text -> logprob, by descending logprob.
    public var topLogprobs: [[(token: String, logprob: Double)]] = []
    /// Per token: character offset of the token in the choice's text (echoed prompt included).
    public var textOffset: [Int] = []

    public init() {}

    public var isEmpty: Bool { tokens.isEmpty }

    public mutating func append(contentsOf other: LegacyLogprobs) {
        tokens += other.tokens
        tokenLogprobs += other.tokenLogprobs
        topLogprobs += other.topLogprobs
        textOffset += other.textOffset
    }

    public static func == (lhs: LegacyLogprobs, rhs: LegacyLogprobs) -> Bool {
        lhs.tokens == rhs.tokens && lhs.tokenLogprobs == rhs.tokenLogprobs && lhs.textOffset == rhs.textOffset
            && lhs.topLogprobs.map { $0.map(\.token) } == rhs.topLogprobs.map { $0.map(\.token) }
            && lhs.topLogprobs.map { $0.map(\.logprob) } == rhs.topLogprobs.map { $0.map(\.logprob) }
    }

    var jsonValue: JSONValue {
        var object = JSONObject()
        object["tokens"] = .array(tokens.map(JSONValue.string))
        object["token_logprobs"] = .array(tokenLogprobs.map(JSONValue.double))
        object["top_logprobs"] = .array(topLogprobs.map { alternatives in
            var entry = JSONObject()
            for alternative in alternatives where entry[alternative.token] == nil {
                entry[alternative.token] = .double(alternative.logprob)
            }
            return .object(entry)
        })
        object["text_offset"] = .array(textOffset.map(JSONValue.int))
        return .object(object)
    }
}

/// A finished non-streaming completions choice.
public struct CompletionChoiceOutput: Sendable, Equatable {
    public var index: Int
    public var text: String
    public var logprobs: LegacyLogprobs?
    public var finishReason: FinishReason

    public init(index: Int, text: String, logprobs: LegacyLogprobs?, finishReason: FinishReason) {
        self.index = index
        self.text = text
        self.logprobs = logprobs
        self.finishReason = finishReason
    }
}

public enum CompletionResponseEncoding {
    public static func chunk(
        header: ResponseHeader, index: Int, text: String, logprobs: LegacyLogprobs?, finishReason: FinishReason?,
        includeUsage: Bool
    ) -> [UInt8] {
        var object = ChatResponseEncoding.headerObject(header, object: "text_completion")
        object["choices"] = .array([choiceValue(index: index, text: text, logprobs: logprobs, finishReason: finishReason)])
        if includeUsage { object["usage"] = .null }
        return Array(JSONValue.object(object).compactJSON().utf8)
    }

    public static func response(header: ResponseHeader, choices: [CompletionChoiceOutput], usage: Usage) -> [UInt8] {
        var object = ChatResponseEncoding.headerObject(header, object: "text_completion")
        object["choices"] = .array(choices.map {
            choiceValue(index: $0.index, text: $0.text, logprobs: $0.logprobs, finishReason: $0.finishReason)
        })
        object["usage"] = ChatResponseEncoding.usageValue(usage)
        return Array(JSONValue.object(object).compactJSON().utf8)
    }

    static func choiceValue(index: Int, text: String, logprobs: LegacyLogprobs?, finishReason: FinishReason?) -> JSONValue {
        var choice = JSONObject()
        choice["index"] = .int(index)
        choice["text"] = .string(text)
        choice["logprobs"] = logprobs?.jsonValue ?? .null
        choice["finish_reason"] = finishReason.map { .string($0.rawValue) } ?? .null
        return .object(choice)
    }
}
