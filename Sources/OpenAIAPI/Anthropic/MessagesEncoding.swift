import JSON

/// One content block of an assistant message (§3.8): in a response, and as `content_block_start` announces it.
public enum MessagesContentBlock: Sendable, Equatable {
    case text(String)
    case thinking(String, signature: String)
    /// `input` is a JSON object.
    case toolUse(id: String, name: String, input: JSONValue)

    var jsonValue: JSONValue {
        switch self {
        case .text(let text): return .object(JSONObject([("type", "text"), ("text", .string(text))]))
        case .thinking(let text, let signature):
            return .object(JSONObject([("type", "thinking"), ("thinking", .string(text)), ("signature", .string(signature))]))
        case .toolUse(let id, let name, let input):
            return .object(JSONObject([("type", "tool_use"), ("id", .string(id)), ("name", .string(name)), ("input", input)]))
        }
    }
}

/// `stop_reason` values LingServe produces (ANT-T `stop_reason.py`).
public enum MessagesStopReason: String, Sendable, Equatable {
    case endTurn = "end_turn"
    case maxTokens = "max_tokens"
    case stopSequence = "stop_sequence"
    case toolUse = "tool_use"
    case contextWindowExceeded = "model_context_window_exceeded"
}

/// Anthropic usage: `input_tokens` excludes prefix-cache hits, which are `cache_read_input_tokens`; nothing is
/// ever "written" on request, so `cache_creation_input_tokens` is 0 (§3.8).
public struct MessagesUsage: Sendable, Equatable {
    public var inputTokens: Int
    public var cacheReadInputTokens: Int
    public var outputTokens: Int

    public init(promptTokens: Int, cachedTokens: Int, outputTokens: Int) {
        inputTokens = max(0, promptTokens - cachedTokens)
        cacheReadInputTokens = min(max(0, cachedTokens), promptTokens)
        self.outputTokens = outputTokens
    }

    var jsonValue: JSONValue {
        .object(JSONObject([
            ("input_tokens", .int(inputTokens)), ("cache_creation_input_tokens", 0),
            ("cache_read_input_tokens", .int(cacheReadInputTokens)), ("output_tokens", .int(outputTokens)),
        ]))
    }
}

/// One `content_block_*` event (the block-level part of a stream, §3.9).
public enum MessagesBlockEvent: Sendable, Equatable {
    /// `content_block_start`: text and thinking start empty, tool_use with `"input": {}`.
    case start(index: Int, block: MessagesContentBlock)
    case textDelta(index: Int, String)
    case thinkingDelta(index: Int, String)
    case signatureDelta(index: Int, String)
    case inputJSONDelta(index: Int, String)
    case stop(index: Int)
}

/// Compact JSON for the Messages API: the message object, the SSE events (always with an `event:` line equal to
/// `data.type`, §1.3), count_tokens and the error body. Keys in the order of Anthropic's examples.
public enum MessagesEncoding {
    public static func message(
        id: String, model: String, content: [MessagesContentBlock], stopReason: MessagesStopReason?,
        stopSequence: String?, usage: MessagesUsage
    ) -> [UInt8] {
        Array(messageValue(id: id, model: model, content: content, stopReason: stopReason, stopSequence: stopSequence, usage: usage)
            .compactJSON().utf8)
    }

    static func messageValue(
        id: String, model: String, content: [MessagesContentBlock], stopReason: MessagesStopReason?,
        stopSequence: String?, usage: MessagesUsage
    ) -> JSONValue {
        .object(JSONObject([
            ("id", .string(id)), ("type", "message"), ("role", "assistant"), ("model", .string(model)),
            ("content", .array(content.map(\.jsonValue))),
            ("stop_reason", stopReason.map { .string($0.rawValue) } ?? .null),
            ("stop_sequence", stopSequence.map(JSONValue.string) ?? .null),  // always present (§3.8)
            ("usage", usage.jsonValue),
        ]))
    }

    /// `event: <type>\ndata: <json>\n\n`.
    public static func event(_ type: String, _ fields: [(String, JSONValue)]) -> [UInt8] {
        let data = JSONValue.object(JSONObject([("type", .string(type))] + fields)).compactJSON()
        return Array("event: \(type)\ndata: \(data)\n\n".utf8)
    }

    public static func messageStart(id: String, model: String, usage: MessagesUsage) -> [UInt8] {
        event("message_start", [(
            "message", messageValue(id: id, model: model, content: [], stopReason: nil, stopSequence: nil, usage: usage)
        )])
    }

    public static func blockEvent(_ blockEvent: MessagesBlockEvent) -> [UInt8] {
        func delta(_ index: Int, _ type: String, _ key: String, _ text: String) -> [UInt8] {
            event("content_block_delta", [
                ("index", .int(index)), ("delta", .object(JSONObject([("type", .string(type)), (key, .string(text))]))),
            ])
        }
        switch blockEvent {
        case .start(let index, let block):
            let announced: MessagesContentBlock
            switch block {
            case .text: announced = .text("")
            case .thinking: announced = .thinking("", signature: "")
            case .toolUse(let id, let name, _): announced = .toolUse(id: id, name: name, input: .object(JSONObject()))
            }
            return event("content_block_start", [("index", .int(index)), ("content_block", announced.jsonValue)])
        case .textDelta(let index, let text): return delta(index, "text_delta", "text", text)
        case .thinkingDelta(let index, let text): return delta(index, "thinking_delta", "thinking", text)
        case .signatureDelta(let index, let text): return delta(index, "signature_delta", "signature", text)
        case .inputJSONDelta(let index, let text): return delta(index, "input_json_delta", "partial_json", text)
        case .stop(let index): return event("content_block_stop", [("index", .int(index))])
        }
    }

    /// Counts are cumulative (§3.9).
    public static func messageDelta(stopReason: MessagesStopReason, stopSequence: String?, usage: MessagesUsage) -> [UInt8] {
        event("message_delta", [
            ("delta", .object(JSONObject([
                ("stop_reason", .string(stopReason.rawValue)), ("stop_sequence", stopSequence.map(JSONValue.string) ?? .null),
            ]))),
            ("usage", .object(JSONObject([
                ("input_tokens", .int(usage.inputTokens)), ("cache_creation_input_tokens", 0),
                ("cache_read_input_tokens", .int(usage.cacheReadInputTokens)), ("output_tokens", .int(usage.outputTokens)),
            ]))),
        ])
    }

    public static let messageStop = event("message_stop", [])
    public static let ping = event("ping", [])

    /// `{"type": "error", "error": {"type", "message"}, "request_id"}` (§3.10).
    public static func errorBody(type: String, message: String, requestID: String?) -> [UInt8] {
        Array(errorValue(type: type, message: message, requestID: requestID).compactJSON().utf8)
    }

    /// The in-stream `event: error` after the 200 (§3.9).
    public static func errorEvent(type: String, message: String) -> [UInt8] {
        event("error", [("error", .object(JSONObject([("type", .string(type)), ("message", .string(message))])))])
    }

    static func errorValue(type: String, message: String, requestID: String?) -> JSONValue {
        var fields: [(String, JSONValue)] = [
            ("type", "error"), ("error", .object(JSONObject([("type", .string(type)), ("message", .string(message))]))),
        ]
        if let requestID { fields.append(("request_id", .string(requestID))) }
        return .object(JSONObject(fields))
    }

    /// count_tokens: `{"input_tokens": N}` (§3.11).
    public static func countTokens(_ count: Int) -> [UInt8] {
        Array(JSONValue.object(JSONObject([("input_tokens", .int(count))])).compactJSON().utf8)
    }
}

extension APIError {
    /// The Anthropic status and `error.type` for this error (§3.10): queue full, loading and draining (429 and 503
    /// on the OpenAI routes) are 529 `overloaded_error`; other statuses keep their number.
    public var anthropic: (status: Int, type: String) {
        switch status {
        case 400, 405, 415, 422: return (status, "invalid_request_error")
        case 401: return (401, "authentication_error")
        case 403: return (403, "permission_error")
        case 404: return (404, "not_found_error")
        case 413, 431: return (status, "request_too_large")
        case 429, 503, 529: return (529, "overloaded_error")
        case 504: return (504, "timeout_error")
        default: return status >= 500 ? (status, "api_error") : (status, "invalid_request_error")
        }
    }
}
