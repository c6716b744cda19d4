import JSON
import OpenAIAPI

extension APIServer {
    static let streamHeaders: [(name: String, value: String)] = [
        ("Content-Type", "text/event-stream"), ("Cache-Control", "no-cache"), ("X-Accel-Buffering", "no"),
    ]

    func handleChat(_ chat: ChatCompletionRequest, requestID: String, sink: some ResponseSink) async throws(APIError) {
        let prompt = try render(messages: chat.messages, tools: chat.templateTools, addGenerationPrompt: true)
        let promptIds = codec.encode(prompt, addSpecialTokens: false)
        let maxTokens = try resolveMaxTokens(
            promptTokenCount: promptIds.count, requested: chat.maxTokens, param: chat.maxTokensParam,
            promptParam: "messages")
        var banned: [Int] = []
        if !chat.tools.isEmpty && chat.toolChoice == .none, let id = codec.toolCallStartTokenId { banned.append(id) }
        var constraint: (any TokenConstraintFactory)?
        if let spec = Self.constraintSpec(for: chat), let constraintCompiler { constraint = try constraintCompiler.compile(spec) }
        let generationID = GenerationRequestID(makeID("gen-"))
        let arrival = clock()
        let n = chat.sampling.n
        let stream = try admit(GenerationRequest(
            id: generationID, promptTokenIds: promptIds, sampling: samplingConfig(chat.sampling), maxTokens: maxTokens,
            eosTokenIds: codec.eosTokenIds, stopTokenIds: Set(chat.sampling.stopTokenIds),
            ignoreEOS: chat.sampling.ignoreEOS, choiceCount: n,
            logprobCount: chat.logprobs ? (chat.topLogprobs ?? 0) : nil, bannedTokenIds: banned,
            constraint: constraint, arrivalTime: arrival))

        let backend = self.backend
        let disconnected = DisconnectFlag()
        sink.onDisconnect {
            if disconnected.set() { backend.cancel(requestID: generationID) }
        }
        let options = ChatOutputOptions(
            stop: chat.sampling.stop, parseToolCalls: !chat.tools.isEmpty && chat.toolChoice != .none,
            parallelToolCalls: chat.parallelToolCalls, namedToolChoice: { if case .named = chat.toolChoice { true } else { false } }(),
            logprobs: chat.logprobs)
        let makeID = self.makeID
        var machines = (0..<n).map { ChatChoiceMachine(index: $0, options: options, makeCallID: { makeID("call_") }) }
        var accumulators = [ChatChoiceAccumulator](repeating: ChatChoiceAccumulator(), count: n)
        var tracker = GenerationTracker(server: self, choiceCount: n, promptTokenCount: promptIds.count, arrival: arrival)
        let header = ResponseHeader(
            id: makeID("chatcmpl-"), created: Int(arrival), model: chat.model,
            systemFingerprint: configuration.systemFingerprint)
        let responseHeaders = [("X-Request-Id", requestID)]
        if chat.stream { await sink.startStream(status: 200, headers: Self.streamHeaders + responseHeaders) }

        var failure: String?
        var aborted = false
        loop: for await event in stream {
            switch event {
            case .scheduled(let cached): tracker.scheduled(cachedPromptTokenCount: cached, now: clock())
            case .failed(let message):
                failure = message
                break loop
            case .step(let choice, let tokens, let finish):
                guard machines.indices.contains(choice) else { continue }
                let pieces = tracker.pieces(
                    server: self, choice: choice, tokens: tokens, finish: finish, now: clock(), withLogprobs: chat.logprobs)
                let items = machines[choice].step(pieces, finish: finish)
                if machines[choice].wantsEngineStop && finish == nil {
                    backend.stopChoice(requestID: generationID, choiceIndex: choice)
                }
                if finish == .cancelled {
                    aborted = true
                    break loop
                }
                if chat.stream {
                    for item in items {
                        let chunk = ChatResponseEncoding.chunk(
                            header: header, index: choice, delta: item.delta, logprobs: item.logprobs,
                            finishReason: item.finishReason, includeUsage: chat.includeUsage)
                        if !(await sink.write(ServerSentEvent.data(chunk))) {
                            if disconnected.set() { backend.cancel(requestID: generationID) }
                            aborted = true
                            break loop
                        }
                    }
                } else {
                    accumulators[choice].add(items)
                }
                if machines.allSatisfy(\.isFinished) { break loop }
            }
        }
        let now = clock()
        let end = GenerationEnd(
            aborted: aborted, disconnected: disconnected.isSet, failure: failure, allFinished: machines.allSatisfy(\.isFinished))
        tracker.finished(reasons: machines.map(\.finishReason), aborted: end.isIncomplete, now: now)
        sink.recordUsage(
            promptTokens: promptIds.count, completionTokens: machines.reduce(0) { $0 + $1.completionTokenCount },
            cachedTokens: tracker.cachedTokenCount)
        if try await endIncompleteGeneration(
            end, stream: chat.stream, cancel: { backend.cancel(requestID: generationID) }, sink: sink)
        {
            return
        }
        let usage = Usage(
            promptTokens: promptIds.count, completionTokens: machines.reduce(0) { $0 + $1.completionTokenCount },
            cachedTokens: tracker.cachedTokenCount, reasoningTokens: machines.reduce(0) { $0 + $1.reasoningTokenCount })
        if chat.stream {
            let usageChunk = chat.includeUsage
                ? ChatResponseEncoding.usageChunk(header: header, object: "chat.completion.chunk", usage: usage) : nil
            await endStream(usageChunk: usageChunk, sink: sink)
        } else {
            let choices = (0..<n).map {
                accumulators[$0].output(index: $0, sawReasoning: machines[$0].sawReasoning, logprobsRequested: chat.logprobs)
            }
            await sendJSON(
                ChatResponseEncoding.response(header: header, choices: choices, usage: usage), requestID: requestID,
                sink: sink)
        }
    }

    /// What constrained decoding must enforce for this request, nil when unconstrained.
    static func constraintSpec(for chat: ChatCompletionRequest) -> ConstraintSpec? {
        switch chat.toolChoice {
        case .required:
            return .toolCalls(names: chat.tools.map(\.name), parameterSchemas: chat.tools.map(\.parameters), parallel: chat.parallelToolCalls)
        case .named(let name):
            let tools = chat.tools.filter { $0.name == name }
            return .toolCalls(names: tools.map(\.name), parameterSchemas: tools.map(\.parameters), parallel: chat.parallelToolCalls)
        case .none, .auto: break
        }
        switch chat.responseFormat {
        case .text: return nil
        case .jsonObject: return .jsonObject
        case .jsonSchema(_, let schema, _): return schema.map { .jsonSchema($0) } ?? .jsonObject
        }
    }
}
