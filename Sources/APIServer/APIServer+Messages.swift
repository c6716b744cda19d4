import JSON
import OpenAIAPI

/// The Anthropic Messages API (`agent-protocols.md` §3): a translation layer onto the chat path. The request becomes
/// a chat request (`MessagesRequest.chat`), rendered, admitted and constrained as chat is; each engine step goes
/// through the same `ChatChoiceMachine` (stop strings, reasoning split, tool-call parsing), whose items
/// `MessagesBlockMachine` turns into Anthropic content blocks.
extension APIServer {
    func handleAnthropicRoute(
        _ route: Route, _ request: APIRequest, requestID: String, sink: some ResponseSink
    ) async throws(APIError) {
        switch route {
        case .messages:
            let messages = try MessagesRequest(json: try parseBody(request), limits: configuration.limits)
            try checkMessagesModel(messages.model)
            try await handleMessages(messages, requestID: requestID, sink: sink)
        case .countTokens:
            let messages = try MessagesRequest(json: try parseBody(request), kind: .countTokens, limits: configuration.limits)
            try checkMessagesModel(messages.model)
            // Tokenizer only, on this thread: never queued behind generation (§3.11).
            let count = try messagesPromptIds(messages).count
            await sink.respond(
                status: 200, headers: Self.anthropicHeaders(requestID) + [("Content-Type", "application/json")],
                body: MessagesEncoding.countTokens(count))
        case .probe:
            await sink.respond(status: 200, headers: [("X-Request-Id", requestID)], body: [])
        case .eventLogging:
            await sink.respond(status: 204, headers: [("X-Request-Id", requestID)], body: [])
        default:
            throw .routeNotFound(method: request.method, path: Router.path(of: request.target))
        }
    }

    static func anthropicHeaders(_ requestID: String) -> [(name: String, value: String)] {
        [("X-Request-Id", requestID), ("request-id", requestID)]
    }

    /// §1.5: any model id is served unless `--strict-model-names`.
    func checkMessagesModel(_ model: String) throws(APIError) {
        if configuration.strictModelNames { try checkModel(model) }
    }

    /// The prompt `/v1/messages` prefills; count_tokens returns its length.
    func messagesPromptIds(_ request: MessagesRequest) throws(APIError) -> [Int] {
        let prompt: String
        do {
            prompt = try renderer.render(
                messages: request.chat.messages.map(\.templateValue), tools: request.templateTools,
                addGenerationPrompt: true, variables: JSONObject([("enable_thinking", .bool(request.thinking))]))
        } catch {
            throw .invalidValue(param: "messages", "The chat template rejected the messages: \(error)")
        }
        return codec.encode(prompt, addSpecialTokens: false)
    }

    private enum MessagesInput: Sendable {
        case engine(GenerationEvent)
        case tick
    }

    func handleMessages(_ request: MessagesRequest, requestID: String, sink: some ResponseSink) async throws(APIError) {
        let chat = request.chat
        let promptIds = try messagesPromptIds(request)
        let contextLength = configuration.model.maxModelLength
        guard promptIds.count < contextLength else {
            throw .invalidValue(param: "messages", "prompt is too long: \(promptIds.count) tokens > \(contextLength - 1) maximum")
        }
        // §3.2: a max_tokens past the context is clamped, and reaching the clamp is model_context_window_exceeded.
        let requested = request.maxTokens ?? 1
        let room = contextLength - promptIds.count
        let maxTokens = min(requested, room)
        var banned: [Int] = []
        if !chat.tools.isEmpty && chat.toolChoice == .none, let id = codec.toolCallStartTokenId { banned.append(id) }
        var constraint: (any TokenConstraintFactory)?
        if let spec = Self.constraintSpec(for: chat), let constraintCompiler { constraint = try constraintCompiler.compile(spec) }
        let generationID = GenerationRequestID(makeID("gen-"))
        let arrival = clock()
        let stream = try admit(GenerationRequest(
            id: generationID, promptTokenIds: promptIds, sampling: samplingConfig(chat.sampling), maxTokens: maxTokens,
            eosTokenIds: codec.eosTokenIds, stopTokenIds: [], ignoreEOS: false, choiceCount: 1, logprobCount: nil,
            bannedTokenIds: banned, constraint: constraint, arrivalTime: arrival))

        let backend = self.backend
        let disconnected = DisconnectFlag()
        sink.onDisconnect {
            if disconnected.set() { backend.cancel(requestID: generationID) }
        }
        let options = ChatOutputOptions(
            stop: chat.sampling.stop, parseToolCalls: !chat.tools.isEmpty && chat.toolChoice != .none,
            parallelToolCalls: chat.parallelToolCalls,
            namedToolChoice: { if case .named = chat.toolChoice { true } else { false } }())
        let makeID = self.makeID
        var machine = ChatChoiceMachine(index: 0, options: options, makeCallID: { makeID("toolu_") })
        var blocks = MessagesBlockMachine(thinkingEnabled: request.thinking)
        var accumulator = MessagesBlockAccumulator()
        var tracker = GenerationTracker(server: self, choiceCount: 1, promptTokenCount: promptIds.count, arrival: arrival)
        let messageID = makeID("msg_")
        let headers = Self.anthropicHeaders(requestID)

        // Headers and message_start before prefill (§1.4); then pings through the silence of a long prefill.
        let pingSeconds = configuration.messagesPingSeconds
        var lastWrite = clock()
        var sentFirstPing = false
        var aborted = false
        let clock = self.clock
        func send(_ bytes: [UInt8]) async -> Bool {
            guard !aborted else { return false }
            lastWrite = clock()
            if await sink.write(bytes) { return true }
            if disconnected.set() { backend.cancel(requestID: generationID) }
            aborted = true
            return false
        }
        if request.stream {
            await sink.startStream(status: 200, headers: Self.streamHeaders + headers)
            _ = await send(MessagesEncoding.messageStart(
                id: messageID, model: request.model,
                usage: MessagesUsage(promptTokens: promptIds.count, cachedTokens: 0, outputTokens: 0)))
        }
        let (inputs, continuation) = AsyncStream<MessagesInput>.makeStream()
        let forwarder = Task {
            for await event in stream { continuation.yield(.engine(event)) }
            continuation.finish()
        }
        let ticker: Task<Void, Never>? = request.stream && pingSeconds > 0 ? Task {
            let tick = UInt64(max(0.01, pingSeconds / 4) * 1e9)
            while !Task.isCancelled {
                try? await Task.sleep(nanoseconds: tick)
                continuation.yield(.tick)
            }
        } : nil
        defer {
            forwarder.cancel()
            ticker?.cancel()
        }

        var failure: String?
        loop: for await input in inputs {
            if aborted { break }
            switch input {
            case .tick:
                if clock() - lastWrite >= pingSeconds { _ = await send(MessagesEncoding.ping) }
            case .engine(.scheduled(let cached)): tracker.scheduled(cachedPromptTokenCount: cached, now: clock())
            case .engine(.failed(let message)):
                failure = message
                break loop
            case .engine(.step(let choice, let tokens, let finish)):
                guard choice == 0 else { continue }
                let pieces = tracker.pieces(
                    server: self, choice: 0, tokens: tokens, finish: finish, now: clock(), withLogprobs: false)
                let items = machine.step(pieces, finish: finish)
                if machine.wantsEngineStop && finish == nil { backend.stopChoice(requestID: generationID, choiceIndex: 0) }
                if finish == .cancelled {
                    aborted = true
                    break loop
                }
                var events = blocks.feed(items)
                if machine.isFinished { events += blocks.finish() }
                if request.stream {
                    for event in events {
                        guard await send(MessagesEncoding.blockEvent(event)) else { break loop }
                        if case .start = event, !sentFirstPing {
                            sentFirstPing = true  // as Anthropic's own streams do (§3.9)
                            guard await send(MessagesEncoding.ping) else { break loop }
                        }
                    }
                } else {
                    accumulator.add(events)
                }
                if machine.isFinished { break loop }
            }
        }
        aborted = aborted || disconnected.isSet
        if !aborted && failure == nil && !machine.isFinished {
            failure = "the engine ended the request before the message finished"
        }
        tracker.finished(reasons: [machine.finishReason], aborted: aborted || failure != nil, now: clock())
        if aborted {
            if request.stream { await sink.finishStream() }
            return
        }
        if let failure {
            backend.cancel(requestID: generationID)
            guard request.stream else { throw .internalError("Generation failed: \(failure)") }
            _ = await send(MessagesEncoding.errorEvent(type: "api_error", message: "Generation failed: \(failure)"))
            await sink.finishStream()
            return
        }
        let stopReason: MessagesStopReason
        if blocks.toolUseCount > 0 {
            stopReason = .toolUse
        } else if machine.matchedStop != nil {
            stopReason = .stopSequence
        } else if machine.finishReason == .length {
            stopReason = requested > room ? .contextWindowExceeded : .maxTokens
        } else {
            stopReason = .endTurn
        }
        let stopSequence = stopReason == .stopSequence ? machine.matchedStop : nil
        let usage = MessagesUsage(
            promptTokens: promptIds.count, cachedTokens: tracker.cachedTokenCount, outputTokens: machine.completionTokenCount)
        if request.stream {
            _ = await send(MessagesEncoding.messageDelta(stopReason: stopReason, stopSequence: stopSequence, usage: usage))
            _ = await send(MessagesEncoding.messageStop)
            await sink.finishStream()
        } else {
            await sink.respond(
                status: 200, headers: headers + [("Content-Type", "application/json")],
                body: MessagesEncoding.message(
                    id: messageID, model: request.model, content: accumulator.content, stopReason: stopReason,
                    stopSequence: stopSequence, usage: usage))
        }
    }
}
