import JSON

/// One output item of a response (`agent-protocols.md` §2.6; openai-python `response_output_item.py`). `id` is the
/// item id (`msg_`, `rs_`, `fc_`, `ctc_`); `callID` the pairing key (`call_`), a different value.
public enum ResponseOutputItem: Sendable, Equatable {
    case message(id: String, text: String, status: ItemStatus)
    case reasoning(id: String, text: String, encryptedContent: String?, status: ItemStatus)
    case functionCall(id: String, callID: String, name: String, namespace: String?, arguments: String, status: ItemStatus)
    case customToolCall(id: String, callID: String, name: String, namespace: String?, input: String, status: ItemStatus)

    public enum ItemStatus: String, Sendable, Equatable {
        case inProgress = "in_progress"
        case completed, incomplete
    }

    public var id: String {
        switch self {
        case .message(let id, _, _), .reasoning(let id, _, _, _), .functionCall(let id, _, _, _, _, _),
            .customToolCall(let id, _, _, _, _, _):
            return id
        }
    }

    public var json: JSONValue {
        var object = JSONObject()
        switch self {
        case .message(let id, let text, let status):
            object["type"] = "message"
            object["id"] = .string(id)
            object["status"] = .string(status.rawValue)
            object["role"] = "assistant"
            object["content"] = status == .inProgress ? .array([]) : .array([ResponsesEncoding.textPart(text)])
        case .reasoning(let id, let text, let encrypted, let status):
            object["type"] = "reasoning"
            object["id"] = .string(id)
            object["status"] = .string(status.rawValue)
            object["summary"] = .array([])  // always present: Codex's Reasoning.summary has no default
            object["content"] = status == .inProgress ? .array([]) : .array([ResponsesEncoding.reasoningPart(text)])
            object["encrypted_content"] = encrypted.map(JSONValue.string) ?? .null
        case .functionCall(let id, let callID, let name, let namespace, let arguments, let status):
            object["type"] = "function_call"
            object["id"] = .string(id)
            object["status"] = .string(status.rawValue)
            object["call_id"] = .string(callID)
            object["name"] = .string(name)
            if let namespace { object["namespace"] = .string(namespace) }
            object["arguments"] = .string(arguments)
        case .customToolCall(let id, let callID, let name, let namespace, let input, let status):
            object["type"] = "custom_tool_call"
            object["id"] = .string(id)
            object["status"] = .string(status.rawValue)
            object["call_id"] = .string(callID)
            object["name"] = .string(name)
            if let namespace { object["namespace"] = .string(namespace) }
            object["input"] = .string(input)
        }
        return .object(object)
    }
}

/// One streamed Responses event before framing (§2.7); the server adds `sequence_number`.
public enum ResponsesStreamEvent: Sendable, Equatable {
    case outputItemAdded(outputIndex: Int, item: ResponseOutputItem)
    case contentPartAdded(itemID: String, outputIndex: Int, reasoning: Bool)
    case textDelta(itemID: String, outputIndex: Int, delta: String)
    case textDone(itemID: String, outputIndex: Int, text: String)
    case reasoningDelta(itemID: String, outputIndex: Int, delta: String)
    case reasoningDone(itemID: String, outputIndex: Int, text: String)
    case contentPartDone(itemID: String, outputIndex: Int, reasoning: Bool, text: String)
    case argumentsDelta(itemID: String, outputIndex: Int, delta: String)
    case argumentsDone(itemID: String, outputIndex: Int, name: String, arguments: String)
    case customInputDelta(itemID: String, outputIndex: Int, delta: String)
    case customInputDone(itemID: String, outputIndex: Int, input: String)
    case outputItemDone(outputIndex: Int, item: ResponseOutputItem)
}

/// The echo and identity fields of one response object.
public struct ResponseObjectHeader: Sendable, Equatable {
    public var id: String
    public var createdAt: Int
    public var model: String
    public var request: ResponsesRequest

    public init(id: String, createdAt: Int, model: String, request: ResponsesRequest) {
        self.id = id
        self.createdAt = createdAt
        self.model = model
        self.request = request
    }
}

/// The state of a response object as a whole.
public enum ResponseStatus: Sendable, Equatable {
    case inProgress
    case completed
    /// `incomplete_details.reason` (`max_output_tokens`).
    case incomplete(reason: String)
    case failed(code: String, message: String)
}

/// Compact JSON for `/v1/responses`: the response object (non-streaming body and the `response` of lifecycle events)
/// and every stream event, framed as `event: <type>\ndata: <json>\n\n` (§1.3).
public enum ResponsesEncoding {
    static func textPart(_ text: String) -> JSONValue {
        var part = JSONObject()
        part["type"] = "output_text"
        part["text"] = .string(text)
        part["annotations"] = .array([])
        part["logprobs"] = .array([])
        return .object(part)
    }

    static func reasoningPart(_ text: String) -> JSONValue {
        var part = JSONObject()
        part["type"] = "reasoning_text"
        part["text"] = .string(text)
        return .object(part)
    }

    public static func usageValue(_ usage: Usage) -> JSONValue {
        var object = JSONObject()
        object["input_tokens"] = .int(usage.promptTokens)
        object["input_tokens_details"] = ["cached_tokens": .int(usage.cachedTokens), "cache_write_tokens": .int(0)]
        object["output_tokens"] = .int(usage.completionTokens)
        object["output_tokens_details"] = ["reasoning_tokens": .int(usage.reasoningTokens)]
        object["total_tokens"] = .int(usage.promptTokens + usage.completionTokens)
        return .object(object)
    }

    public static func responseObject(
        _ header: ResponseObjectHeader, status: ResponseStatus, output: [ResponseOutputItem], usage: Usage?,
        completedAt: Int?
    ) -> JSONValue {
        let request = header.request
        var object = JSONObject()
        object["id"] = .string(header.id)
        object["object"] = "response"
        object["created_at"] = .int(header.createdAt)
        switch status {
        case .inProgress: object["status"] = "in_progress"
        case .completed: object["status"] = "completed"
        case .incomplete: object["status"] = "incomplete"
        case .failed: object["status"] = "failed"
        }
        object["completed_at"] = completedAt.map(JSONValue.int) ?? .null
        if case .failed(let code, let message) = status {
            object["error"] = ["code": .string(code), "message": .string(message)]
        } else {
            object["error"] = .null
        }
        if case .incomplete(let reason) = status {
            object["incomplete_details"] = ["reason": .string(reason)]
        } else {
            object["incomplete_details"] = .null
        }
        object["instructions"] = request.instructions.map(JSONValue.string) ?? .null
        object["max_output_tokens"] = request.maxOutputTokens.map(JSONValue.int) ?? .null
        object["model"] = .string(header.model)
        object["output"] = .array(output.map(\.json))
        object["parallel_tool_calls"] = .bool(request.parallelToolCalls)
        object["previous_response_id"] = request.previousResponseID.map(JSONValue.string) ?? .null
        var reasoning = JSONObject()
        reasoning["effort"] = request.echo.reasoning?["effort"] ?? .null
        reasoning["summary"] = request.echo.reasoning?["summary"] ?? .null
        object["reasoning"] = .object(reasoning)
        object["store"] = .bool(request.store)
        object["temperature"] = request.sampling.temperature.map(JSONValue.double) ?? .double(1)
        var text = request.echo.text?.objectValue ?? JSONObject()
        if text["format"] == nil { text["format"] = ["type": "text"] }
        object["text"] = .object(text)
        object["tool_choice"] = request.echo.toolChoice ?? .string(request.toolChoice == .none ? "none" : "auto")
        object["tools"] = request.echo.tools
        object["top_p"] = request.sampling.topP.map(JSONValue.double) ?? .double(1)
        object["truncation"] = "disabled"
        object["metadata"] = request.echo.metadata ?? .object(JSONObject())
        object["user"] = request.echo.user ?? .null
        object["usage"] = usage.map(usageValue) ?? .null
        return .object(object)
    }

    /// `event: <type>\ndata: <json with type and sequence_number first>\n\n`.
    public static func frame(type: String, sequenceNumber: Int, fields: JSONObject) -> [UInt8] {
        var object = JSONObject()
        object["type"] = .string(type)
        object["sequence_number"] = .int(sequenceNumber)
        for member in fields { object[member.key] = member.value }
        var bytes = Array("event: \(type)\ndata: ".utf8)
        bytes += Array(JSONValue.object(object).compactJSON().utf8)
        bytes += [0x0A, 0x0A]
        return bytes
    }

    /// `response.created`, `response.in_progress`, `response.completed`, `response.incomplete`, `response.failed`.
    public static func lifecycle(_ type: String, sequenceNumber: Int, response: JSONValue) -> [UInt8] {
        var fields = JSONObject()
        fields["response"] = response
        return frame(type: type, sequenceNumber: sequenceNumber, fields: fields)
    }

    public static func event(_ event: ResponsesStreamEvent, sequenceNumber: Int) -> [UInt8] {
        var fields = JSONObject()
        let type: String
        func place(_ itemID: String, _ outputIndex: Int, content: Bool) {
            fields["item_id"] = .string(itemID)
            fields["output_index"] = .int(outputIndex)
            if content { fields["content_index"] = .int(0) }
        }
        switch event {
        case .outputItemAdded(let index, let item):
            type = "response.output_item.added"
            fields["output_index"] = .int(index)
            fields["item"] = item.json
        case .contentPartAdded(let itemID, let index, let reasoning):
            type = "response.content_part.added"
            place(itemID, index, content: true)
            fields["part"] = reasoning ? reasoningPart("") : emptyTextPart
        case .textDelta(let itemID, let index, let delta):
            type = "response.output_text.delta"
            place(itemID, index, content: true)
            fields["delta"] = .string(delta)
            fields["logprobs"] = .array([])
        case .textDone(let itemID, let index, let text):
            type = "response.output_text.done"
            place(itemID, index, content: true)
            fields["text"] = .string(text)
            fields["logprobs"] = .array([])
        case .reasoningDelta(let itemID, let index, let delta):
            type = "response.reasoning_text.delta"
            place(itemID, index, content: true)
            fields["delta"] = .string(delta)
        case .reasoningDone(let itemID, let index, let text):
            type = "response.reasoning_text.done"
            place(itemID, index, content: true)
            fields["text"] = .string(text)
        case .contentPartDone(let itemID, let index, let reasoning, let text):
            type = "response.content_part.done"
            place(itemID, index, content: true)
            fields["part"] = reasoning ? reasoningPart(text) : textPart(text)
        case .argumentsDelta(let itemID, let index, let delta):
            type = "response.function_call_arguments.delta"
            place(itemID, index, content: false)
            fields["delta"] = .string(delta)
        case .argumentsDone(let itemID, let index, let name, let arguments):
            type = "response.function_call_arguments.done"
            place(itemID, index, content: false)
            fields["name"] = .string(name)
            fields["arguments"] = .string(arguments)
        case .customInputDelta(let itemID, let index, let delta):
            type = "response.custom_tool_call_input.delta"
            place(itemID, index, content: false)
            fields["delta"] = .string(delta)
        case .customInputDone(let itemID, let index, let input):
            type = "response.custom_tool_call_input.done"
            place(itemID, index, content: false)
            fields["input"] = .string(input)
        case .outputItemDone(let index, let item):
            type = "response.output_item.done"
            fields["output_index"] = .int(index)
            fields["item"] = item.json
        }
        return frame(type: type, sequenceNumber: sequenceNumber, fields: fields)
    }

    static var emptyTextPart: JSONValue {
        var part = JSONObject()
        part["type"] = "output_text"
        part["text"] = ""
        part["annotations"] = .array([])
        return .object(part)
    }
}
