import JSON
import OpenAIAPI

/// `POST /v1/responses` (`agent-protocols.md` §2): a translation layer onto the chat path. The request becomes chat
/// messages and tools, is rendered, constrained and generated exactly as a chat completion (same `ChatChoiceMachine`,
/// tool-call parser, reasoning splitter and grammars); `ResponsesOutputMachine` turns the chat items into output
/// items and events.
extension APIServer {
    /// What the loop waits on: engine events, or the keep-alive timer.
    private enum ResponsesInput: Sendable {
        case engine(GenerationEvent)
        case engineEnded
        case tick
    }

    var responseStoreLimits: ResponseStore.Limits {
        ResponseStore.Limits(
            maxEntries: configuration.responsesStoreEntries, maxBytes: configuration.responsesStoreBytes,
            maxAgeSeconds: configuration.responsesStoreSeconds)
    }

    func handleResponses(_ request: ResponsesRequest, requestID: String, sink: some ResponseSink) async throws(APIError) {
        var history: [ChatMessage] = []
        if let previous = request.previousResponseID {
            guard let stored = responseStore.conversation(id: previous, now: clock(), limits: responseStoreLimits) else {
                throw APIError(
                    status: 400, type: "invalid_request_error", code: "previous_response_not_found",
                    param: "previous_response_id", message: "Previous response with id '\(previous)' not found.")
            }
            history = stored
        }
        let messages = request.messages(after: history)
        guard !messages.isEmpty else {
            throw .invalidValue(param: "input", "input and instructions are both empty: there is nothing to answer")
        }
        let prompt = try render(messages: messages, tools: request.templateTools, addGenerationPrompt: true)
        let promptIds = codec.encode(prompt, addSpecialTokens: false)
        let arrival = clock()
        let header = ResponseObjectHeader(
            id: makeID("resp_"), createdAt: Int(arrival), model: request.model, request: request)
        var responseHeaders = [("X-Request-Id", requestID)]
        if !request.skippedToolTypes.isEmpty {
            responseHeaders.append(("X-LingServe-Skipped-Tools", request.skippedToolTypes.joined(separator: ",")))
        }
        let maxTokens: Int
        do {
            maxTokens = try resolveMaxTokens(
                promptTokenCount: promptIds.count, requested: request.maxOutputTokens, param: "max_output_tokens",
                promptParam: "input")
        } catch where request.stream && error.code == "context_length_exceeded" {
            // §2.8: Codex maps exactly this event to its "context window exceeded" path; an HTTP 400 is opaque to it.
            await sink.startStream(status: 200, headers: Self.streamHeaders + responseHeaders)
            let created = ResponsesEncoding.responseObject(header, status: .inProgress, output: [], usage: nil, completedAt: nil)
            _ = await sink.write(ResponsesEncoding.lifecycle("response.created", sequenceNumber: 0, response: created))
            let failed = ResponsesEncoding.responseObject(
                header, status: .failed(code: "context_length_exceeded", message: error.message), output: [], usage: nil,
                completedAt: nil)
            _ = await sink.write(ResponsesEncoding.lifecycle("response.failed", sequenceNumber: 1, response: failed))
            await sink.finishStream()
            return
        }
        var banned: [Int] = []
        if !request.tools.isEmpty && request.toolChoice == .none, let id = codec.toolCallStartTokenId { banned.append(id) }
        var constraint: (any TokenConstraintFactory)?
        if let spec = Self.constraintSpec(for: request), let constraintCompiler {
            constraint = try constraintCompiler.compile(spec)
        }
        let generationID = GenerationRequestID(makeID("gen-"))
        let sampling = samplingConfig(request.sampling)
        let stream = try admit(GenerationRequest(
            id: generationID, promptTokenIds: promptIds, sampling: sampling, maxTokens: maxTokens,
            eosTokenIds: codec.eosTokenIds, bannedTokenIds: banned, constraint: constraint, arrivalTime: arrival))

        let backend = self.backend
        let disconnected = DisconnectFlag()
        sink.onDisconnect {
            if disconnected.set() { backend.cancel(requestID: generationID) }
        }
        let makeID = self.makeID
        var chatMachine = ChatChoiceMachine(
            index: 0,
            options: ChatOutputOptions(
                parseToolCalls: !request.tools.isEmpty && request.toolChoice != .none,
                parallelToolCalls: request.parallelToolCalls,
                namedToolChoice: { if case .named = request.toolChoice { true } else { false } }()),
            makeCallID: { makeID("call_") })
        var machine = ResponsesOutputMachine(
            toolKinds: request.toolKinds, sealReasoning: request.includeEncryptedReasoning, makeID: makeID)
        var tracker = GenerationTracker(server: self, choiceCount: 1, promptTokenCount: promptIds.count, arrival: arrival)

        // Inputs in one sequence, so every write (and its sequence number) happens on this task, in order.
        let (inputs, continuation) = AsyncStream<ResponsesInput>.makeStream()
        let forwarder = Task {
            for await event in stream { continuation.yield(.engine(event)) }
            continuation.yield(.engineEnded)
        }
        let keepAliveSeconds = configuration.responsesKeepAliveSeconds
        let ticker: Task<Void, Never>? = request.stream && keepAliveSeconds > 0
            ? Task {
                while !Task.isCancelled {
                    try? await Task.sleep(for: .seconds(keepAliveSeconds / 4))
                    continuation.yield(.tick)
                }
            } : nil
        defer {
            forwarder.cancel()
            ticker?.cancel()
            continuation.finish()
        }

        var sequenceNumber = 0
        var lastWrite = arrival
        var aborted = false
        func send(_ bytes: [UInt8]) async -> Bool {
            sequenceNumber += 1
            lastWrite = clock()
            if await sink.write(bytes) { return true }
            if disconnected.set() { backend.cancel(requestID: generationID) }
            aborted = true
            return false
        }
        if request.stream {
            // Headers and the first events go out now, before prefill (§1.4).
            await sink.startStream(status: 200, headers: Self.streamHeaders + responseHeaders)
            let created = ResponsesEncoding.responseObject(header, status: .inProgress, output: [], usage: nil, completedAt: nil)
            _ = await send(ResponsesEncoding.lifecycle("response.created", sequenceNumber: sequenceNumber, response: created))
            _ = await send(ResponsesEncoding.lifecycle("response.in_progress", sequenceNumber: sequenceNumber, response: created))
        }

        var failure: String?
        loop: for await input in inputs {
            if aborted { break }
            switch input {
            case .tick:
                // Codex's idle timer restarts only on parsed events, not on comments (§1.4): repeat in_progress.
                guard clock() - lastWrite >= keepAliveSeconds else { continue }
                let current = ResponsesEncoding.responseObject(
                    header, status: .inProgress, output: machine.output, usage: nil, completedAt: nil)
                if !(await send(ResponsesEncoding.lifecycle(
                    "response.in_progress", sequenceNumber: sequenceNumber, response: current)))
                {
                    break loop
                }
            case .engineEnded: break loop
            case .engine(.scheduled(let cached)): tracker.scheduled(cachedPromptTokenCount: cached, now: clock())
            case .engine(.failed(let message)):
                failure = message
                break loop
            case .engine(.step(let choice, let tokens, let finish)):
                guard choice == 0 else { continue }
                let pieces = tracker.pieces(
                    server: self, choice: 0, tokens: tokens, finish: finish, now: clock(), withLogprobs: false)
                let items = chatMachine.step(pieces, finish: finish)
                if chatMachine.wantsEngineStop && finish == nil { backend.stopChoice(requestID: generationID, choiceIndex: 0) }
                if finish == .cancelled {
                    aborted = true
                    break loop
                }
                let events = machine.step(items)
                if request.stream {
                    for event in events {
                        guard await send(ResponsesEncoding.event(event, sequenceNumber: sequenceNumber)) else { break loop }
                    }
                }
                if chatMachine.isFinished { break loop }
            }
        }
        let now = clock()
        aborted = aborted || disconnected.isSet
        if !aborted && failure == nil && !chatMachine.isFinished {
            failure = "the engine ended the request before the response finished"
        }
        tracker.finished(reasons: [chatMachine.finishReason], aborted: aborted || failure != nil, now: now)
        if aborted {
            if request.stream { await sink.finishStream() }
            return
        }
        if let failure {
            backend.cancel(requestID: generationID)
            guard request.stream else { throw .internalError("Generation failed: \(failure)") }
            let failed = ResponsesEncoding.responseObject(
                header, status: .failed(code: "server_error", message: "Generation failed: \(failure)"),
                output: machine.output, usage: nil, completedAt: nil)
            _ = await send(ResponsesEncoding.lifecycle("response.failed", sequenceNumber: sequenceNumber, response: failed))
            await sink.finishStream()
            return
        }
        let usage = Usage(
            promptTokens: promptIds.count, completionTokens: chatMachine.completionTokenCount,
            cachedTokens: tracker.cachedTokenCount, reasoningTokens: chatMachine.reasoningTokenCount)
        let status: ResponseStatus = chatMachine.finishReason == .length ? .incomplete(reason: "max_output_tokens") : .completed
        let final = ResponsesEncoding.responseObject(
            header, status: status, output: machine.output, usage: usage, completedAt: Int(now))
        if request.store {
            responseStore.store(
                id: header.id, messages: history + request.conversation + [machine.assistantMessage], now: now,
                limits: responseStoreLimits)
        }
        if request.stream {
            let type = if case .incomplete = status { "response.incomplete" } else { "response.completed" }
            _ = await send(ResponsesEncoding.lifecycle(type, sequenceNumber: sequenceNumber, response: final))
            await sink.finishStream()
        } else {
            await sink.respond(
                status: 200, headers: [("Content-Type", "application/json")] + responseHeaders,
                body: Array(final.compactJSON().utf8))
        }
    }

    /// Constrained decoding for the request: the chat rules (§6.7, §6.8), with `allowed_tools` narrowing the names.
    static func constraintSpec(for request: ResponsesRequest) -> ConstraintSpec? {
        func calls(_ tools: [ToolDefinition]) -> ConstraintSpec {
            .toolCalls(names: tools.map(\.name), parameterSchemas: tools.map(\.parameters), parallel: request.parallelToolCalls)
        }
        switch request.toolChoice {
        case .required:
            if let allowed = request.allowedToolNames { return calls(request.tools.filter { allowed.contains($0.name) }) }
            return calls(request.tools)
        case .named(let name): return calls(request.tools.filter { $0.name == name })
        case .none, .auto: break
        }
        switch request.textFormat {
        case .text: return nil
        case .jsonObject: return .jsonObject
        case .jsonSchema(_, let schema, _): return schema.map { .jsonSchema($0) } ?? .jsonObject
        }
    }
}
