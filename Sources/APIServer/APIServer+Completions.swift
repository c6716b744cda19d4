import OpenAIAPI

extension APIServer {
    /// `/v1/completions` (§7): one engine request per prompt, `n` choices each; choice index = prompt_index * n + j.
    func handleCompletion(_ completion: CompletionRequest, requestID: String, sink: some ResponseSink) async throws(APIError) {
        let n = completion.sampling.n
        var promptIdLists: [[Int]] = []
        var promptTexts: [String] = []
        for prompt in completion.prompts {
            switch prompt {
            case .text(let text):
                promptIdLists.append(codec.encode(text, addSpecialTokens: false))
                promptTexts.append(text)
            case .tokens(let ids):
                promptIdLists.append(ids)
                promptTexts.append(completion.echo ? codec.decode(ids) : "")
            }
        }
        var maxTokensPerPrompt: [Int] = []
        for ids in promptIdLists {
            maxTokensPerPrompt.append(try resolveMaxTokens(
                promptTokenCount: ids.count, requested: completion.maxTokens, param: "max_tokens", promptParam: "prompt"))
        }
        let arrival = clock()
        var generationIDs: [GenerationRequestID] = []
        var streams: [AsyncStream<GenerationEvent>] = []
        for (promptIndex, ids) in promptIdLists.enumerated() {
            let id = GenerationRequestID(makeID("gen-"))
            do throws(APIError) {
                streams.append(try admit(GenerationRequest(
                    id: id, promptTokenIds: ids, sampling: samplingConfig(completion.sampling),
                    maxTokens: maxTokensPerPrompt[promptIndex], eosTokenIds: codec.eosTokenIds,
                    stopTokenIds: Set(completion.sampling.stopTokenIds), ignoreEOS: completion.sampling.ignoreEOS,
                    choiceCount: n, logprobCount: completion.logprobs, arrivalTime: arrival)))
                generationIDs.append(id)
            } catch {
                for admitted in generationIDs { backend.cancel(requestID: admitted) }
                throw error
            }
        }
        let backend = self.backend
        let allIDs = generationIDs
        let disconnected = DisconnectFlag()
        sink.onDisconnect {
            if disconnected.set() { for id in allIDs { backend.cancel(requestID: id) } }
        }
        // Merge the prompts' event streams, tagged with the prompt index.
        let (merged, continuation) = AsyncStream<(Int, GenerationEvent)>.makeStream()
        let forwarders = Task {
            await withTaskGroup(of: Void.self) { group in
                for (promptIndex, stream) in streams.enumerated() {
                    group.addTask { for await event in stream { continuation.yield((promptIndex, event)) } }
                }
            }
            continuation.finish()
        }
        defer { forwarders.cancel() }

        let total = completion.prompts.count * n
        var machines = (0..<total).map { index in
            CompletionChoiceMachine(
                index: index, stop: completion.sampling.stop, logprobs: completion.logprobs != nil,
                echo: completion.echo ? promptTexts[index / n] : nil)
        }
        var trackers = promptIdLists.map {
            GenerationTracker(server: self, choiceCount: n, promptTokenCount: $0.count, arrival: arrival)
        }
        var texts = [String](repeating: "", count: total)
        var logprobs = [LegacyLogprobs](repeating: LegacyLogprobs(), count: total)
        var reasons = [FinishReason?](repeating: nil, count: total)
        let header = ResponseHeader(
            id: makeID("cmpl-"), created: Int(arrival), model: completion.model,
            systemFingerprint: configuration.systemFingerprint)
        if completion.stream {
            await sink.startStream(status: 200, headers: Self.streamHeaders + [("X-Request-Id", requestID)])
        }
        var failure: String?
        var aborted = false
        loop: for await (promptIndex, event) in merged {
            switch event {
            case .scheduled(let cached): trackers[promptIndex].scheduled(cachedPromptTokenCount: cached, now: clock())
            case .failed(let message):
                failure = message
                break loop
            case .step(let choice, let tokens, let finish):
                guard choice >= 0 && choice < n else { continue }
                let index = promptIndex * n + choice
                let pieces = trackers[promptIndex].pieces(
                    server: self, choice: choice, tokens: tokens, finish: finish, now: clock(),
                    withLogprobs: completion.logprobs != nil)
                let items = machines[index].step(pieces, finish: finish)
                if machines[index].wantsEngineStop && finish == nil {
                    backend.stopChoice(requestID: generationIDs[promptIndex], choiceIndex: choice)
                }
                if finish == .cancelled {
                    aborted = true
                    break loop
                }
                for item in items {
                    if let reason = item.finishReason { reasons[index] = reason }
                    if completion.stream {
                        let chunk = CompletionResponseEncoding.chunk(
                            header: header, index: index, text: item.text, logprobs: item.logprobs,
                            finishReason: item.finishReason, includeUsage: completion.includeUsage)
                        if !(await sink.write(ServerSentEvent.data(chunk))) {
                            if disconnected.set() { for id in generationIDs { backend.cancel(requestID: id) } }
                            aborted = true
                            break loop
                        }
                    } else {
                        texts[index] += item.text
                        if let entries = item.logprobs { logprobs[index].append(contentsOf: entries) }
                    }
                }
                if machines.allSatisfy(\.isFinished) { break loop }
            }
        }
        let now = clock()
        let end = GenerationEnd(
            aborted: aborted, disconnected: disconnected.isSet, failure: failure, allFinished: machines.allSatisfy(\.isFinished))
        for (promptIndex, tracker) in trackers.enumerated() {
            tracker.finished(
                reasons: Array(reasons[(promptIndex * n)..<((promptIndex + 1) * n)]), aborted: end.isIncomplete, now: now)
        }
        sink.recordUsage(
            promptTokens: promptIdLists.reduce(0) { $0 + $1.count },
            completionTokens: machines.reduce(0) { $0 + $1.completionTokenCount },
            cachedTokens: trackers.reduce(0) { $0 + $1.cachedTokenCount })
        if try await endIncompleteGeneration(
            end, stream: completion.stream, cancel: { for id in generationIDs { backend.cancel(requestID: id) } }, sink: sink)
        {
            return
        }
        let usage = Usage(
            promptTokens: promptIdLists.reduce(0) { $0 + $1.count },
            completionTokens: machines.reduce(0) { $0 + $1.completionTokenCount },
            cachedTokens: trackers.reduce(0) { $0 + $1.cachedTokenCount })
        if completion.stream {
            let usageChunk = completion.includeUsage
                ? ChatResponseEncoding.usageChunk(header: header, object: "text_completion", usage: usage) : nil
            await endStream(usageChunk: usageChunk, sink: sink)
        } else {
            let choices = (0..<total).map {
                CompletionChoiceOutput(
                    index: $0, text: texts[$0], logprobs: completion.logprobs != nil ? logprobs[$0] : nil,
                    finishReason: reasons[$0] ?? .stop)
            }
            await sendJSON(
                CompletionResponseEncoding.response(header: header, choices: choices, usage: usage), requestID: requestID,
                sink: sink)
        }
    }
}
