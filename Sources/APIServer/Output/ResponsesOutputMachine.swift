import JSON
import OpenAIAPI

/// Turns one chat choice's stream items (from `ChatChoiceMachine`: reasoning split, tool-call parsing, stop strings
/// already done) into Responses output items and their events (`agent-protocols.md` §2.5, §2.7). Items open and close
/// one at a time in generation order, so `output_index` is dense; `output` holds every closed item with the same ids,
/// call ids and texts the events carried. Streaming sends the events; non-streaming keeps only `output`.
struct ResponsesOutputMachine {
    private enum Open {
        case message(id: String, text: String)
        case reasoning(id: String, text: String)
        case call(id: String, callID: String, flatName: String, arguments: String)
    }

    private let toolKinds: [String: ResponsesRequest.ToolKind]
    private let sealReasoning: Bool
    private let makeID: @Sendable (String) -> String
    private var open: Open?
    private(set) var output: [ResponseOutputItem] = []
    private(set) var finishReason: FinishReason?

    init(
        toolKinds: [String: ResponsesRequest.ToolKind], sealReasoning: Bool,
        makeID: @escaping @Sendable (String) -> String
    ) {
        self.toolKinds = toolKinds
        self.sealReasoning = sealReasoning
        self.makeID = makeID
    }

    /// The history entry of this output for a later `previous_response_id` turn: one assistant message.
    var assistantMessage: ChatMessage {
        var message = ChatMessage(role: .assistant, content: "")
        for item in output {
            switch item {
            case .message(_, let text, _):
                message.content = (message.content?.isEmpty ?? true) ? text : (message.content ?? "") + "\n" + text
            case .reasoning(_, let text, _, _): message.reasoningContent = text
            case .functionCall(_, let callID, let name, let namespace, let arguments, _):
                message.toolCalls.append(ChatMessage.ToolCall(
                    callID: callID, name: namespace.map { "\($0)__\(name)" } ?? name, argumentsText: arguments))
            case .customToolCall(_, let callID, let name, let namespace, let input, _):
                var arguments = JSONObject()
                arguments["input"] = .string(input)
                message.toolCalls.append(ChatMessage.ToolCall(
                    callID: callID, name: namespace.map { "\($0)__\(name)" } ?? name,
                    argumentsText: JSONValue.object(arguments).compactJSON()))
            }
        }
        return message
    }

    mutating func step(_ items: [ChatStreamItem]) -> [ResponsesStreamEvent] {
        var events: [ResponsesStreamEvent] = []
        for item in items {
            switch item.delta {
            case .empty, .role: break
            case .content(let text) where !text.isEmpty:
                if case .message(let id, let previous)? = open {
                    open = .message(id: id, text: previous + text)
                    events.append(.textDelta(itemID: id, outputIndex: output.count, delta: text))
                } else {
                    close(status: .completed, into: &events)
                    let id = makeID("msg_")
                    open = .message(id: id, text: text)
                    events.append(.outputItemAdded(
                        outputIndex: output.count, item: .message(id: id, text: "", status: .inProgress)))
                    events.append(.contentPartAdded(itemID: id, outputIndex: output.count, reasoning: false))
                    events.append(.textDelta(itemID: id, outputIndex: output.count, delta: text))
                }
            case .reasoning(let text) where !text.isEmpty:
                if case .reasoning(let id, let previous)? = open {
                    open = .reasoning(id: id, text: previous + text)
                    events.append(.reasoningDelta(itemID: id, outputIndex: output.count, delta: text))
                } else {
                    close(status: .completed, into: &events)
                    let id = makeID("rs_")
                    open = .reasoning(id: id, text: text)
                    events.append(.outputItemAdded(
                        outputIndex: output.count,
                        item: .reasoning(id: id, text: "", encryptedContent: nil, status: .inProgress)))
                    events.append(.contentPartAdded(itemID: id, outputIndex: output.count, reasoning: true))
                    events.append(.reasoningDelta(itemID: id, outputIndex: output.count, delta: text))
                }
            case .content, .reasoning: break
            case .toolCallStart(_, let callID, let flatName):
                close(status: .completed, into: &events)
                let isCustom = if case .custom? = toolKinds[flatName] { true } else { false }
                let id = makeID(isCustom ? "ctc_" : "fc_")
                open = .call(id: id, callID: callID, flatName: flatName, arguments: "")
                events.append(.outputItemAdded(
                    outputIndex: output.count, item: callItem(id: id, callID: callID, flatName: flatName, arguments: "",
                    status: .inProgress)))
            case .toolCallArguments(_, let fragment):
                guard case .call(let id, let callID, let flatName, let previous)? = open else { break }
                open = .call(id: id, callID: callID, flatName: flatName, arguments: previous + fragment)
                // Custom tools stream their decoded `input` once at the end: a JSON fragment is not input text.
                if case .custom? = toolKinds[flatName] { break }
                if !fragment.isEmpty { events.append(.argumentsDelta(itemID: id, outputIndex: output.count, delta: fragment)) }
            }
            if let reason = item.finishReason {
                finishReason = reason
                close(status: reason == .length ? .incomplete : .completed, into: &events)
            }
        }
        return events
    }

    private func callItem(
        id: String, callID: String, flatName: String, arguments: String, status: ResponseOutputItem.ItemStatus
    ) -> ResponseOutputItem {
        switch toolKinds[flatName] {
        case .custom(let name, let namespace)?:
            return .customToolCall(
                id: id, callID: callID, name: name, namespace: namespace, input: Self.customInput(arguments), status: status)
        case .function(let name, let namespace)?:
            return .functionCall(id: id, callID: callID, name: name, namespace: namespace, arguments: arguments, status: status)
        case nil:  // a name the model made up: returned as it wrote it, as chat does
            return .functionCall(id: id, callID: callID, name: flatName, namespace: nil, arguments: arguments, status: status)
        }
    }

    /// The `input` string of the shim's `{"input": "..."}`; the raw text when the model wrote something else.
    static func customInput(_ arguments: String) -> String {
        if let value = try? JSONParser.parse(Array(arguments.utf8)), let input = value["input"]?.stringValue { return input }
        return arguments
    }

    private mutating func close(status: ResponseOutputItem.ItemStatus, into events: inout [ResponsesStreamEvent]) {
        guard let current = open else { return }
        open = nil
        let index = output.count
        let done: ResponseOutputItem
        switch current {
        case .message(let id, let text):
            events.append(.textDone(itemID: id, outputIndex: index, text: text))
            events.append(.contentPartDone(itemID: id, outputIndex: index, reasoning: false, text: text))
            done = .message(id: id, text: text, status: status)
        case .reasoning(let id, let text):
            events.append(.reasoningDone(itemID: id, outputIndex: index, text: text))
            events.append(.contentPartDone(itemID: id, outputIndex: index, reasoning: true, text: text))
            done = .reasoning(
                id: id, text: text, encryptedContent: sealReasoning ? ReasoningSeal.seal(text) : nil, status: status)
        case .call(let id, let callID, let flatName, let arguments):
            done = callItem(id: id, callID: callID, flatName: flatName, arguments: arguments, status: status)
            switch done {
            case .customToolCall(_, _, _, _, let input, _):
                if !input.isEmpty { events.append(.customInputDelta(itemID: id, outputIndex: index, delta: input)) }
                events.append(.customInputDone(itemID: id, outputIndex: index, input: input))
            case .functionCall(_, _, let name, _, _, _):
                events.append(.argumentsDone(itemID: id, outputIndex: index, name: name, arguments: arguments))
            case .message, .reasoning: break
            }
        }
        events.append(.outputItemDone(outputIndex: index, item: done))
        output.append(done)
    }
}
