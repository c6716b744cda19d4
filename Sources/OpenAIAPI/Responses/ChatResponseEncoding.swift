import JSON

/// One streamed chat delta (§6.10). Exactly one of the kinds is set; `.role` is the first chunk of a choice.
public enum ChatDelta: Sendable, Equatable {
    /// `{}`: a finish chunk that released no text.
    case empty
    /// `{"role": "assistant", "content": ""}`.
    case role
    case content(String)
    case reasoning(String)
    /// First chunk of call `index`: id, type, name and `"arguments": ""`.
    case toolCallStart(index: Int, id: String, name: String)
    /// Later chunks of call `index`: an arguments fragment.
    case toolCallArguments(index: Int, fragment: String)
}

/// A finished non-streaming chat choice.
public struct ChatChoiceOutput: Sendable, Equatable {
    public var index: Int
    /// nil: `"content": null` (tool calls without text).
    public var content: String?
    public var reasoningContent: String?
    public var toolCalls: [ToolCallOutput]
    /// nil when logprobs were not requested.
    public var logprobs: [LogprobEntry]?
    public var finishReason: FinishReason

    public init(
        index: Int, content: String?, reasoningContent: String?, toolCalls: [ToolCallOutput],
        logprobs: [LogprobEntry]?, finishReason: FinishReason
    ) {
        self.index = index
        self.content = content
        self.reasoningContent = reasoningContent
        self.toolCalls = toolCalls
        self.logprobs = logprobs
        self.finishReason = finishReason
    }
}

/// Compact JSON for chat responses and chunks, keys in the order of the contract's examples, nulls explicit.
public enum ChatResponseEncoding {
    public static func chunk(
        header: ResponseHeader, index: Int, delta: ChatDelta, logprobs: [LogprobEntry]?,
        finishReason: FinishReason?, includeUsage: Bool
    ) -> [UInt8] {
        if logprobs == nil,
            let fast = fastChunk(header: header, index: index, delta: delta, finishReason: finishReason, includeUsage: includeUsage)
        {
            return fast
        }
        return slowChunk(
            header: header, index: index, delta: delta, logprobs: logprobs, finishReason: finishReason,
            includeUsage: includeUsage)
    }

    /// The general path through `JSONValue` (tool calls, logprobs); also the reference the fast path is tested against.
    static func slowChunk(
        header: ResponseHeader, index: Int, delta: ChatDelta, logprobs: [LogprobEntry]?,
        finishReason: FinishReason?, includeUsage: Bool
    ) -> [UInt8] {
        var choice = JSONObject()
        choice["index"] = .int(index)
        choice["delta"] = deltaValue(delta)
        choice["logprobs"] = logprobs.map(logprobsValue) ?? .null
        choice["finish_reason"] = finishReason.map { .string($0.rawValue) } ?? .null
        var object = headerObject(header, object: "chat.completion.chunk")
        object["choices"] = .array([.object(choice)])
        if includeUsage { object["usage"] = .null }
        return Array(JSONValue.object(object).compactJSON().utf8)
    }

    /// The usage chunk after all finish chunks: `"choices": []` and the totals.
    public static func usageChunk(header: ResponseHeader, object objectName: String, usage: Usage) -> [UInt8] {
        var object = headerObject(header, object: objectName)
        object["choices"] = .array([])
        object["usage"] = usageValue(usage)
        return Array(JSONValue.object(object).compactJSON().utf8)
    }

    public static func response(header: ResponseHeader, choices: [ChatChoiceOutput], usage: Usage) -> [UInt8] {
        var object = headerObject(header, object: "chat.completion")
        object["choices"] = .array(choices.map { choice in
            var message = JSONObject()
            message["role"] = "assistant"
            message["content"] = choice.content.map(JSONValue.string) ?? .null
            if let reasoning = choice.reasoningContent { message["reasoning_content"] = .string(reasoning) }
            if !choice.toolCalls.isEmpty {
                message["tool_calls"] = .array(choice.toolCalls.map { call in
                    var function = JSONObject()
                    function["name"] = .string(call.name)
                    function["arguments"] = .string(call.arguments)
                    var entry = JSONObject()
                    entry["id"] = .string(call.id)
                    entry["type"] = "function"
                    entry["function"] = .object(function)
                    return .object(entry)
                })
            }
            var entry = JSONObject()
            entry["index"] = .int(choice.index)
            entry["message"] = .object(message)
            entry["logprobs"] = choice.logprobs.map(logprobsValue) ?? .null
            entry["finish_reason"] = .string(choice.finishReason.rawValue)
            return .object(entry)
        })
        object["usage"] = usageValue(usage)
        return Array(JSONValue.object(object).compactJSON().utf8)
    }

    static func headerObject(_ header: ResponseHeader, object objectName: String) -> JSONObject {
        var object = JSONObject()
        object["id"] = .string(header.id)
        object["object"] = .string(objectName)
        object["created"] = .int(header.created)
        object["model"] = .string(header.model)
        object["system_fingerprint"] = .string(header.systemFingerprint)
        return object
    }

    static func usageValue(_ usage: Usage) -> JSONValue {
        var object = JSONObject()
        object["prompt_tokens"] = .int(usage.promptTokens)
        object["completion_tokens"] = .int(usage.completionTokens)
        object["total_tokens"] = .int(usage.promptTokens + usage.completionTokens)
        object["prompt_tokens_details"] = ["cached_tokens": .int(usage.cachedTokens)]
        object["completion_tokens_details"] = ["reasoning_tokens": .int(usage.reasoningTokens)]
        return .object(object)
    }

    static func deltaValue(_ delta: ChatDelta) -> JSONValue {
        var object = JSONObject()
        switch delta {
        case .empty: break
        case .role:
            object["role"] = "assistant"
            object["content"] = ""
        case .content(let text): object["content"] = .string(text)
        case .reasoning(let text): object["reasoning_content"] = .string(text)
        case .toolCallStart(let index, let id, let name):
            var call = JSONObject()
            call["index"] = .int(index)
            call["id"] = .string(id)
            call["type"] = "function"
            call["function"] = ["name": .string(name), "arguments": ""]
            object["tool_calls"] = .array([.object(call)])
        case .toolCallArguments(let index, let fragment):
            var call = JSONObject()
            call["index"] = .int(index)
            call["function"] = ["arguments": .string(fragment)]
            object["tool_calls"] = .array([.object(call)])
        }
        return .object(object)
    }

    static func logprobsValue(_ entries: [LogprobEntry]) -> JSONValue {
        func bytesValue(_ bytes: [UInt8]) -> JSONValue { .array(bytes.map { .int(Int($0)) }) }
        var object = JSONObject()
        object["content"] = .array(entries.map { entry in
            var value = JSONObject()
            value["token"] = .string(entry.token)
            value["logprob"] = .double(entry.logprob)
            value["bytes"] = bytesValue(entry.bytes)
            value["top_logprobs"] = .array(entry.topLogprobs.map { alternative in
                var top = JSONObject()
                top["token"] = .string(alternative.token)
                top["logprob"] = .double(alternative.logprob)
                top["bytes"] = bytesValue(alternative.bytes)
                return .object(top)
            })
            return .object(value)
        })
        object["refusal"] = .null
        return .object(object)
    }
}

/// Server-sent event framing (§6.10): `data: <json>\n\n`, and the final `data: [DONE]\n\n`.
public enum ServerSentEvent {
    public static func data(_ json: [UInt8]) -> [UInt8] {
        var event = Array("data: ".utf8)
        event.reserveCapacity(json.count + 8)
        event += json
        event += [0x0A, 0x0A]
        return event
    }

    public static let done: [UInt8] = Array("data: [DONE]\n\n".utf8)
}
