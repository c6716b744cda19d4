@preconcurrency import Dispatch
import Engine
import Foundation
import Synchronization

/// `GenerationBackend` over the engine: each choice of a request is one engine sequence (choice i samples from
/// random stream i, so `seed` reproduces every choice), admission bounds the waiting queue, and engine events are
/// turned into the API's per-choice events on an `AsyncStream`.
public final class EngineBackend: GenerationBackend {
    public struct Limits: Sendable {
        /// Requests admitted but not started; more get 429.
        public var maxQueuedRequests: Int
        /// Prompt tokens + n * max tokens of the waiting requests; more get 429.
        public var maxQueuedTokens: Int

        public init(maxQueuedRequests: Int = 256, maxQueuedTokens: Int = 1 << 20) {
            self.maxQueuedRequests = maxQueuedRequests
            self.maxQueuedTokens = maxQueuedTokens
        }
    }

    /// One API request's choices and stream.
    private final class RequestState: Sendable {
        struct Inner {
            var engineIds: [Int] = []
            var finished: Set<Int> = []
            var stopped: Set<Int> = []
            var started = false
            var ended = false
            var leftQueue = false
        }
        let continuation: AsyncStream<GenerationEvent>.Continuation
        let choiceCount: Int
        let queuedTokens: Int
        let inner = Mutex(Inner())

        init(continuation: AsyncStream<GenerationEvent>.Continuation, choiceCount: Int, queuedTokens: Int) {
            self.continuation = continuation
            self.choiceCount = choiceCount
            self.queuedTokens = queuedTokens
        }
    }

    private struct Queue {
        var waitingRequests = 0
        var waitingTokens = 0
        var completedRequests = 0
        var requests: [GenerationRequestID: RequestState] = [:]
    }

    public let engine: Engine
    public let limits: Limits
    private let metrics: MetricsRegistry?
    private let queue = Mutex(Queue())
    private let startTime = ContinuousClock.now

    public init(engine: Engine, limits: Limits, metrics: MetricsRegistry?) {
        self.engine = engine
        self.limits = limits
        self.metrics = metrics
        // Pulled at scrape time (no timer): the engine publishes its snapshot every step, before it delivers that
        // step's tokens, so a scrape right after a response includes the response's own counts.
        metrics?.readEngine { [engine] in Self.counters(engine.metrics) }
    }

    static func counters(_ snapshot: EngineMetrics) -> MetricsRegistry.EngineCounters {
        var counters = MetricsRegistry.EngineCounters()
        counters.running = snapshot.runningCount
        counters.waiting = snapshot.waitingCount
        counters.kvCacheUsage = snapshot.kvCacheUsage
        counters.prefixQueries = snapshot.prefixQueryTokenCount
        counters.prefixHits = snapshot.prefixHitTokenCount
        counters.drafts = snapshot.specDraftCount
        counters.draftTokens = snapshot.specDraftTokenCount
        counters.acceptedTokens = snapshot.specAcceptedTokenCount
        counters.acceptedPerPosition = snapshot.specAcceptedPerPosition
        counters.expertWorkers = snapshot.expertWorkers.map {
            MetricsRegistry.ExpertWorker(
                busySeconds: $0.busySeconds, idleSeconds: $0.idleSeconds, tokens: UInt64(max(0, $0.tokenCount)),
                rows: UInt64(max(0, $0.rowCount)), sharedRows: UInt64(max(0, $0.sharedRowCount)), experts: $0.expertCount)
        }
        return counters
    }

    public func submit(_ request: GenerationRequest) -> AdmissionResult {
        let queuedTokens = request.promptTokenIds.count + request.choiceCount * request.maxTokens
        let (stream, continuation) = AsyncStream<GenerationEvent>.makeStream(bufferingPolicy: .unbounded)
        let state = RequestState(continuation: continuation, choiceCount: request.choiceCount, queuedTokens: queuedTokens)
        let retryAfter: Int? = queue.withLock { queue in
            let full =
                queue.waitingRequests + 1 > limits.maxQueuedRequests
                || (queue.waitingRequests > 0 && queue.waitingTokens + queuedTokens > limits.maxQueuedTokens)
            guard !full else {
                // Drain rate: requests completed per second since start, at least one every ten seconds.
                let elapsed = (ContinuousClock.now - startTime).components.seconds
                let rate = max(0.1, Double(queue.completedRequests) / Double(max(1, elapsed)))
                return min(600, max(1, Int((Double(queue.waitingRequests) / rate).rounded(.up))))
            }
            queue.waitingRequests += 1
            queue.waitingTokens += queuedTokens
            queue.requests[request.id] = state
            return nil
        }
        if let retryAfter { return .queueFull(retryAfterSeconds: retryAfter) }

        var sampling = SamplingParameters(
            temperature: Float(request.sampling.temperature), topP: Float(request.sampling.topP),
            topK: request.sampling.topK ?? 0, minP: Float(request.sampling.minP),
            repetitionPenalty: Float(request.sampling.repetitionPenalty),
            presencePenalty: Float(request.sampling.presencePenalty),
            frequencyPenalty: Float(request.sampling.frequencyPenalty), seed: request.sampling.seed)
        for entry in request.sampling.logitBias { sampling.logitBias[entry.tokenId, default: 0] += Float(entry.bias) }
        // EOS ends a choice unless ignore_eos; stop_token_ids always do. The engine has one set and one flag, so
        // with ignore_eos only the stop ids go in.
        // A constrained choice always ends on EOS once its grammar is complete, ignore_eos or not.
        let stopIds =
            request.ignoreEOS && request.constraint == nil
            ? request.stopTokenIds : request.eosTokenIds.union(request.stopTokenIds)
        for choice in 0..<request.choiceCount {
            let engineRequest = EngineRequest(
                promptTokenIds: request.promptTokenIds, sampling: sampling, maxNewTokenCount: request.maxTokens,
                stopTokenIds: stopIds, ignoreEOS: false, logprobCount: request.logprobCount,
                bannedTokenIds: request.bannedTokenIds, randomStream: UInt64(choice),
                constraint: request.constraint?.makeConstraint())
            let id = engine.submit(engineRequest) { [weak self] event in
                self?.deliver(event, choice: choice, state: state, requestID: request.id)
            }
            state.inner.withLock { $0.engineIds.append(id) }
        }
        return .accepted(stream)
    }

    public func cancel(requestID: GenerationRequestID) {
        guard let state = queue.withLock({ $0.requests[requestID] }) else { return }
        for id in state.inner.withLock({ $0.engineIds }) { engine.cancel(id) }
    }

    public func stopChoice(requestID: GenerationRequestID, choiceIndex: Int) {
        guard let state = queue.withLock({ $0.requests[requestID] }) else { return }
        let id: Int? = state.inner.withLock { inner in
            guard inner.engineIds.indices.contains(choiceIndex), !inner.finished.contains(choiceIndex) else { return nil }
            inner.stopped.insert(choiceIndex)
            return inner.engineIds[choiceIndex]
        }
        if let id { engine.cancel(id) }
    }

    /// Runs on the engine thread: translate and forward, never block.
    private func deliver(_ event: EngineEvent, choice: Int, state: RequestState, requestID: GenerationRequestID) {
        switch event {
        case .started(let cached):
            let first = state.inner.withLock { inner -> Bool in
                defer { inner.started = true }
                return !inner.started
            }
            if first {
                leaveQueue(state)
                state.continuation.yield(.scheduled(cachedPromptTokenCount: cached))
            }
        case .tokens(let tokens, let finish):
            let sampled = tokens.map { token in
                SampledToken(
                    id: token.id, logprob: token.logProbability.map { Double($0.logProbability) },
                    topLogprobs: token.topLogProbabilities.map { (id: $0.tokenId, logprob: Double($0.logProbability)) })
            }
            let reason: GenerationFinishReason? =
                switch finish {
                case .stop: .stopToken
                case .length: .length
                case .abort: .cancelled
                case nil: nil
                }
            state.continuation.yield(.step(choiceIndex: choice, tokens: sampled, finish: reason))
            if finish != nil { choiceEnded(choice, state: state, requestID: requestID) }
        case .finished(let reason):
            let stopped = state.inner.withLock { $0.stopped.contains(choice) }
            let mapped: GenerationFinishReason =
                stopped ? .stoppedByClient : (reason == .length ? .length : reason == .stop ? .stopToken : .cancelled)
            state.continuation.yield(.step(choiceIndex: choice, tokens: [], finish: mapped))
            choiceEnded(choice, state: state, requestID: requestID)
        case .failed(let message):
            let alreadyEnded = state.inner.withLock { inner -> Bool in
                defer { inner.ended = true }
                return inner.ended
            }
            guard !alreadyEnded else { return }
            for id in state.inner.withLock({ $0.engineIds }) { engine.cancel(id) }
            state.continuation.yield(.failed(message: message))
            endRequest(state, requestID: requestID)
        }
    }

    private func choiceEnded(_ choice: Int, state: RequestState, requestID: GenerationRequestID) {
        let allDone = state.inner.withLock { inner -> Bool in
            inner.finished.insert(choice)
            guard inner.finished.count == state.choiceCount, !inner.ended else { return false }
            inner.ended = true
            return true
        }
        if allDone { endRequest(state, requestID: requestID) }
    }

    private func endRequest(_ state: RequestState, requestID: GenerationRequestID) {
        leaveQueue(state)
        queue.withLock { queue in
            queue.requests[requestID] = nil
            queue.completedRequests += 1
        }
        state.continuation.finish()
    }

    /// Takes the request out of the waiting counts, once.
    private func leaveQueue(_ state: RequestState) {
        let first = state.inner.withLock { inner -> Bool in
            defer { inner.leftQueue = true }
            return !inner.leftQueue
        }
        guard first else { return }
        queue.withLock { queue in
            queue.waitingRequests -= 1
            queue.waitingTokens -= state.queuedTokens
        }
    }
}
