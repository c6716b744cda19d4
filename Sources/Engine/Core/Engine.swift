import Dispatch
import Foundation
import KVCache
import Synchronization
import TokenConstraints

/// How the engine is set up.
public struct EngineConfiguration: Sendable {
    public var scheduler: SchedulerConfiguration
    /// Draft tokens per decode step (speculative decoding with the model's drafter, e.g. its MTP layer); 0 = off.
    /// The scheduler reserves that many extra KV slots per sequence.
    public var speculativeTokenCount: Int
    /// Called on the engine thread after every step (the server logs it at trace level). Keep it cheap.
    public var stepObserver: (@Sendable (EngineStepRecord) -> Void)?

    public init(
        scheduler: SchedulerConfiguration = SchedulerConfiguration(), speculativeTokenCount: Int = 0,
        stepObserver: (@Sendable (EngineStepRecord) -> Void)? = nil
    ) {
        self.scheduler = scheduler
        self.speculativeTokenCount = speculativeTokenCount
        self.stepObserver = stepObserver
    }
}

/// The engine: one dedicated thread owns the model, the scheduler, the sampler and every request's state, and runs
/// the step loop (schedule -> forward -> sample -> report). Other threads talk to it only through `submit` and
/// `cancel`, which enqueue commands under a lock and wake the thread. Events go back through each request's
/// handler, called on the engine thread in order.
public final class Engine: Sendable {
    private enum Command: Sendable {
        case submit(Int, EngineRequest, EngineEventHandler)
        case cancel(Int)
    }

    private struct Shared: Sendable {
        var commands: [Command] = []
        var nextRequestId = 1
        var metrics = EngineMetrics()
        var stopping = false
    }

    /// The only state other threads touch, behind one lock.
    private final class SharedBox: Sendable {
        let state = Mutex(Shared())
        func withLock<T>(_ body: (inout Shared) -> T) -> T { state.withLock { body(&$0) } }
    }

    private let shared = SharedBox()
    private let wakeUp = DispatchSemaphore(value: 0)
    private let stopped = DispatchSemaphore(value: 0)

    public let vocabularySize: Int
    /// Longest sequence (prompt + output) a request may reach: min(max model length, KV capacity).
    public let maxSequenceLength: Int
    public let kvBlockCount: Int
    public let kvBlockSize: Int

    /// Starts the engine thread and builds the model on it. Throws what `makeModel` throws.
    public init(
        configuration requested: EngineConfiguration, makeModel: @escaping @Sendable () throws -> any StepModel
    ) throws {
        guard requested.speculativeTokenCount >= 0 else { throw EngineError("speculative token count must be >= 0") }
        var adjusted = requested
        adjusted.scheduler.lookaheadTokenCount = Swift.max(
            adjusted.scheduler.lookaheadTokenCount, adjusted.speculativeTokenCount)
        let configuration = adjusted
        struct Started: Sendable {
            var vocabularySize = 0
            var kvBlockCount = 0
            var kvBlockSize = 0
            var error: String?
        }
        final class StartedBox: Sendable {
            let state = Mutex(Started())
        }
        let startedBox = StartedBox()
        let ready = DispatchSemaphore(value: 0)
        let shared = self.shared
        let wakeUp = self.wakeUp
        let stopped = self.stopped
        let thread = Thread {
            let model: any StepModel
            do {
                model = try makeModel()
            } catch {
                startedBox.state.withLock { $0.error = "\(error)" }
                ready.signal()
                stopped.signal()
                return
            }
            if configuration.speculativeTokenCount > 0 && !model.canDraft {
                startedBox.state.withLock { $0.error = "speculative decoding needs a drafter (an MTP layer), and this model has none" }
                ready.signal()
                stopped.signal()
                return
            }
            startedBox.state.withLock {
                $0.vocabularySize = model.vocabularySize
                $0.kvBlockCount = model.kvBlockCount
                $0.kvBlockSize = model.kvBlockSize
            }
            // Published before `init` returns, so every series (the per-position spec-decode counters too) exists
            // from the first scrape on.
            var loop = EngineLoop(configuration: configuration, model: model, shared: shared)
            loop.publishMetrics()
            ready.signal()
            loop.run(wakeUp: wakeUp)
            stopped.signal()
        }
        thread.name = "lingserve-engine"
        thread.stackSize = 16 << 20
        thread.start()
        ready.wait()
        let result = startedBox.state.withLock { $0 }
        if let error = result.error { throw EngineError("model failed to load: \(error)") }
        vocabularySize = result.vocabularySize
        kvBlockCount = result.kvBlockCount
        kvBlockSize = result.kvBlockSize
        maxSequenceLength = Swift.min(
            configuration.scheduler.maxModelLength,
            result.kvBlockCount * result.kvBlockSize - configuration.scheduler.lookaheadTokenCount)
    }

    /// Queues a request and returns its id. The handler receives its events on the engine thread.
    @discardableResult
    public func submit(_ request: EngineRequest, handler: @escaping EngineEventHandler) -> Int {
        let id = shared.withLock { state in
            let id = state.nextRequestId
            state.nextRequestId += 1
            state.commands.append(.submit(id, request, handler))
            return id
        }
        wakeUp.signal()
        return id
    }

    /// Cancels a request wherever it is (queued, in prefill, decoding); its blocks are freed before the next step
    /// and its handler receives `.finished(.abort)`. Unknown or finished ids are ignored.
    public func cancel(_ id: Int) {
        shared.withLock { $0.commands.append(.cancel(id)) }
        wakeUp.signal()
    }

    /// A consistent snapshot of the engine's gauges and counters.
    public var metrics: EngineMetrics { shared.withLock { $0.metrics } }

    /// Stops the loop: running and queued requests end with `.finished(.abort)`. Waits for the thread to exit.
    public func shutdown() {
        let alreadyStopping = shared.withLock { state in
            defer { state.stopping = true }
            return state.stopping
        }
        guard !alreadyStopping else { return }
        wakeUp.signal()
        stopped.wait()
    }

    deinit {
        shutdown()
    }

    /// The state the engine thread owns.
    private struct EngineLoop {
        struct Context {
            var request: EngineRequest
            var handler: EngineEventHandler
            var history: TokenHistory
            var random: RandomSource
            var started = false
            /// Owned by the engine thread from submission on.
            var constraint: (any DecodingConstraint)?
        }

        var scheduler: Scheduler
        let model: any StepModel
        let shared: SharedBox
        let stepObserver: (@Sendable (EngineStepRecord) -> Void)?
        var sampler: Sampler
        var contexts: [Int: Context] = [:]
        let speculativeTokenCount: Int
        /// Drafts proposed this step, handed to the scheduler once the step's tokens are applied.
        var pendingDrafts: [Int: [Int]] = [:]
        /// The target distribution of one draft position. // [vocabularySize]
        var probabilities: [Float]
        /// The raw logits of the row being sampled, kept for log probabilities (the sampler edits the row in place).
        var rawLogitRow: [Float]  // [vocabularySize]
        var metrics = EngineMetrics()
        let clock = ContinuousClock()
        let startInstant: ContinuousClock.Instant

        init(configuration: EngineConfiguration, model: any StepModel, shared: SharedBox) {
            self.model = model
            self.shared = shared
            stepObserver = configuration.stepObserver
            scheduler = Scheduler(
                configuration: configuration.scheduler,
                blockPool: BlockPool(blockCount: model.kvBlockCount, blockSize: model.kvBlockSize))
            sampler = Sampler(vocabularySize: model.vocabularySize)
            speculativeTokenCount = configuration.speculativeTokenCount
            probabilities = [Float](repeating: 0, count: model.vocabularySize)
            rawLogitRow = [Float](repeating: 0, count: model.vocabularySize)
            metrics.kvBlockCount = model.kvBlockCount
            metrics.specAcceptedPerPosition = [Int](repeating: 0, count: configuration.speculativeTokenCount)
            startInstant = clock.now
        }

        mutating func run(wakeUp: DispatchSemaphore) {
            while true {
                let (commands, stopping) = shared.withLock { state in
                    defer { state.commands.removeAll(keepingCapacity: true) }
                    return (state.commands, state.stopping)
                }
                for command in commands { apply(command) }
                if stopping {
                    for id in Array(contexts.keys) { abort(id) }
                    publishMetrics()
                    return
                }
                if !scheduler.hasWork {
                    publishMetrics()
                    wakeUp.wait()
                    continue
                }
                step()
                publishMetrics()
            }
        }

        mutating func apply(_ command: Command) {
            switch command {
            case .submit(let id, let request, let handler):
                do {
                    try request.sampling.validate(vocabularySize: model.vocabularySize)
                    try scheduler.add(
                        SequenceRequest(
                            id: id, promptTokenIds: request.promptTokenIds, maxNewTokenCount: request.maxNewTokenCount,
                            stopTokenIds: request.stopTokenIds, ignoreEOS: request.ignoreEOS))
                } catch let error as EngineError {
                    handler(.failed(error.description))
                    return
                } catch AdmissionError.promptTooLong(let count, let limit) {
                    handler(.failed("the prompt has \(count) tokens; this server holds at most \(limit - 1)"))
                    return
                } catch {
                    handler(.failed("\(error)"))
                    return
                }
                let random =
                    request.sampling.seed.map { RandomSource(seed: $0, stream: request.randomStream) }
                    ?? RandomSource.fromSystem(stream: request.randomStream)
                contexts[id] = Context(
                    request: request, handler: handler, history: TokenHistory(promptTokenIds: request.promptTokenIds),
                    random: random, constraint: request.constraint)
            case .cancel(let id):
                abort(id)
            }
        }

        mutating func abort(_ id: Int) {
            guard let context = contexts.removeValue(forKey: id) else { return }
            scheduler.cancel(id)
            context.handler(.finished(.abort))
        }

        mutating func step() {
            let begin = clock.now
            let step = scheduler.schedule()
            guard !step.isEmpty else {
                // Only possible if waiting requests can never fit; admission prevents it. Fail them, never spin.
                for id in Array(contexts.keys) {
                    contexts[id]?.handler(.failed("the engine could not schedule this request"))
                    contexts[id] = nil
                    scheduler.cancel(id)
                }
                return
            }
            for item in step.sequences {
                guard var context = contexts[item.id], !context.started else { continue }
                context.started = true
                contexts[item.id] = context
                context.handler(.started(cachedPromptTokenCount: scheduler.cachedPromptTokenCount(of: item.id)))
            }
            pendingDrafts.removeAll(keepingCapacity: true)
            // Per sampling sequence: the accepted drafts, then the main model's own token.
            var sampled: [Int: [Int]] = [:]
            var generated: [Int: [GeneratedToken]] = [:]
            do {
                try model.run(step) { logits in
                    var row = 0
                    for item in step.sequences where item.samples {
                        defer { row += item.logitRowCount }
                        // Taken out while sampled: a copy left in the dictionary would make the history's
                        // counts copy on write every token.
                        guard var context = contexts.removeValue(forKey: item.id) else { continue }
                        let tokens = sampleRows(logits, firstRow: row, item: item, context: &context)
                        contexts[item.id] = context
                        sampled[item.id] = tokens.map(\.id)
                        generated[item.id] = tokens
                    }
                }
                if speculativeTokenCount > 0 { try draft(step, sampled: sampled) }
            } catch {
                for item in step.sequences {
                    contexts.removeValue(forKey: item.id)?.handler(.failed("forward pass failed: \(error)"))
                    scheduler.cancel(item.id)
                }
                return
            }
            let updates = scheduler.update(step, sampledTokenIds: sampled)
            // Counted and published before any token event goes out: a client that scrapes /metrics right after its
            // response sees its own prompt, cache and draft counts.
            let elapsed = clock.now - begin
            metrics.stepCount += 1
            metrics.busySeconds += Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
            metrics.lastStepTokenCount = step.tokenCount
            metrics.lastStepSequenceCount = step.sequences.count
            let sinceStart = clock.now - startInstant
            metrics.lastStepTime = Double(sinceStart.components.seconds) + Double(sinceStart.components.attoseconds) * 1e-18
            metrics.promptTokenCount += step.sequences.reduce(0) { total, item in
                total + (item.samples ? item.tokenIds.count - 1 : item.tokenIds.count)
            }
            let generatedThisStep = updates.reduce(0) { $0 + $1.newTokenIds.count }
            metrics.generatedTokenCount += generatedThisStep
            publishMetrics()
            for update in updates {
                guard let context = contexts[update.id] else { continue }
                if update.finishReason != nil {
                    contexts[update.id] = nil
                } else if let drafts = pendingDrafts[update.id] {
                    scheduler.setDrafts(update.id, drafts)
                }
                if !update.newTokenIds.isEmpty || update.finishReason != nil {
                    // Tokens after a stop are dropped by the scheduler: report the same prefix.
                    let tokens = Array((generated[update.id] ?? []).prefix(update.newTokenIds.count))
                    context.handler(.tokens(tokens, finishReason: update.finishReason))
                }
            }
            pendingDrafts.removeAll(keepingCapacity: true)
            if let stepObserver {
                let decodeCount = step.sequences.reduce(0) { $0 + ($1.samples && $1.tokenIds.count == 1 ? 1 : 0) }
                stepObserver(EngineStepRecord(
                    index: metrics.stepCount, sequenceCount: step.sequences.count, decodeSequenceCount: decodeCount,
                    tokenCount: step.tokenCount,
                    draftTokenCount: step.sequences.reduce(0) { $0 + $1.draftTokenIds.count },
                    generatedTokenCount: generatedThisStep,
                    preemptedCount: step.preemptedIds.count, waitingCount: scheduler.waitingCount,
                    usedBlockCount: scheduler.blockPool.usedBlockCount, totalBlockCount: model.kvBlockCount,
                    seconds: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18))
            }
        }

        /// Samples one sequence's tokens from its logit rows. Without drafts: one token, exactly as the sampler
        /// picks it. With drafts: speculative rejection sampling, row by row, so every emitted token has the
        /// distribution the sampler would have used at its position (bias, bans and penalties over the history
        /// including the drafts accepted before it): draft j is accepted with probability min(1, p(d)/q(d)), where
        /// the drafter proposes greedily (q is one-hot, so the ratio is p(d)); on rejection the token is drawn from
        /// the normalised max(p - q, 0), i.e. p without d. Greedy requests accept exactly when the draft is the
        /// argmax, so their output is identical to decoding without drafts. After all drafts, one more token
        /// from the last row.
        mutating func sampleRows(
            _ logits: UnsafeMutableBufferPointer<Float>, firstRow: Int, item: ScheduledSequence, context: inout Context
        ) -> [GeneratedToken] {
            let vocabularySize = model.vocabularySize
            var tokens: [GeneratedToken] = []
            for j in 0..<item.logitRowCount {
                let row = firstRow + j
                let rowBuffer = UnsafeMutableBufferPointer(
                    rebasing: logits[(row * vocabularySize)..<((row + 1) * vocabularySize)])
                if context.request.logprobCount != nil {
                    rawLogitRow.withUnsafeMutableBufferPointer { _ = $0.update(fromContentsOf: rowBuffer) }
                }
                // Constrained decoding: forbidden tokens get -inf before verification or sampling, so a draft the
                // grammar forbids is rejected and the replacement comes from the allowed tokens.
                let allowed = context.constraint?.mask(rowBuffer, stopIds: context.request.stopTokenIds)
                var token: Int
                var last = true
                if j < item.draftTokenIds.count {
                    let draft = item.draftTokenIds[j]
                    token = verify(rowBuffer, draft: draft, context: &context)
                    last = token != draft
                } else {
                    token = sampler.sample(
                        logits: rowBuffer, parameters: context.request.sampling, history: context.history,
                        random: &context.random, bannedIds: context.request.bannedTokenIds)
                }
                if let allowed, !allowed.contains(token) {
                    // Bans or bias left nothing the grammar allows: take its first token, never leave it.
                    token = allowed.first ?? token
                    last = true
                }
                if context.constraint != nil {
                    if context.request.stopTokenIds.contains(token) {
                        last = true
                    } else {
                        _ = context.constraint?.advance(token)
                    }
                }
                var generatedToken = GeneratedToken(id: token)
                if let count = context.request.logprobCount {
                    let result = rawLogitRow.withUnsafeBufferPointer {
                        LogProbabilities.compute(logits: $0, chosen: token, topCount: count)
                    }
                    generatedToken.logProbability = result.chosen
                    generatedToken.topLogProbabilities = result.top
                }
                context.history.appendGenerated(token)
                tokens.append(generatedToken)
                if last { break }
            }
            if !item.draftTokenIds.isEmpty {
                let accepted = tokens.count - 1
                metrics.specDraftCount += 1
                metrics.specDraftTokenCount += item.draftTokenIds.count
                metrics.specAcceptedTokenCount += accepted
                while metrics.specAcceptedPerPosition.count < item.draftTokenIds.count {
                    metrics.specAcceptedPerPosition.append(0)
                }
                for position in 0..<accepted { metrics.specAcceptedPerPosition[position] += 1 }
            }
            return tokens
        }

        /// One draft position: returns `draft` when accepted, else the replacement token.
        mutating func verify(_ logits: UnsafeMutableBufferPointer<Float>, draft: Int, context: inout Context) -> Int {
            let parameters = context.request.sampling
            Sampler.applyBiasAndPenalties(
                logits, parameters: parameters, history: context.history, bannedIds: context.request.bannedTokenIds)
            if parameters.isGreedy { return Sampler.argmax(UnsafeBufferPointer(logits)) }
            return probabilities.withUnsafeMutableBufferPointer { p in
                sampler.distribution(logits: UnsafeBufferPointer(logits), parameters: parameters, into: p)
                guard draft >= 0 && draft < p.count else { return Sampler.draw(from: UnsafeBufferPointer(p), random: &context.random) }
                if context.random.nextUnitFloat() < p[draft] { return draft }
                p[draft] = 0
                // Rounding can leave no mass outside the draft (p(d) = 1 - ulp): then the draft is the only choice.
                guard p.contains(where: { $0 > 0 }) else { return draft }
                return Sampler.draw(from: UnsafeBufferPointer(p), random: &context.random)
            }
        }

        /// Runs the drafter after a step: its KV over every row that is now final, then up to K drafts for each
        /// sequence that keeps decoding. The drafts go to the scheduler after `update` (see `pendingDrafts`).
        mutating func draft(_ step: SchedulerStep, sampled: [Int: [Int]]) throws {
            var work: [DraftWork] = []
            var workIds: [Int] = []
            for (index, item) in step.sequences.enumerated() {
                guard let context = contexts[item.id] else { continue }
                var next = Array(item.tokenIds.dropFirst())
                var draftCount = 0
                if item.samples {
                    guard let tokens = sampled[item.id], !tokens.isEmpty else { continue }
                    next += tokens
                    let remaining = scheduler.remainingTokenCount(of: item.id) - tokens.count
                    let stops = !context.request.ignoreEOS && tokens.contains { context.request.stopTokenIds.contains($0) }
                    if !stops && remaining > 1 { draftCount = Swift.min(speculativeTokenCount, remaining - 1) }
                } else {
                    guard let following = scheduler.tokenId(of: item.id, at: item.startPosition + item.tokenIds.count)
                    else { continue }
                    next.append(following)
                }
                var table = item.blockTable
                let computed = item.startPosition + next.count
                if draftCount > 1 {
                    // Recursive drafts write the drafter's KV at positions computed ..< computed + draftCount - 1.
                    if let reserved = scheduler.reserveSlots(for: item.id, upTo: computed + draftCount - 1) {
                        table = reserved
                    } else {
                        draftCount = 1
                    }
                }
                work.append(
                    DraftWork(sequenceIndex: index, rowCount: next.count, nextTokenIds: next, draftCount: draftCount, blockTable: table))
                workIds.append(item.id)
            }
            guard !work.isEmpty else { return }
            let drafts = try model.draft(step, work: work) { w, logits in
                // The drafter proposes its most likely token under the request's bias, bans and penalties.
                guard let context = contexts[workIds[w]] else { return Sampler.argmax(UnsafeBufferPointer(logits)) }
                Sampler.applyBiasAndPenalties(
                    logits, parameters: context.request.sampling, history: context.history,
                    bannedIds: context.request.bannedTokenIds)
                return Sampler.argmax(UnsafeBufferPointer(logits))
            }
            for (w, id) in workIds.enumerated() where !drafts[w].isEmpty { pendingDrafts[id] = drafts[w] }
        }

        mutating func publishMetrics() {
            metrics.runningCount = scheduler.runningCount
            metrics.waitingCount = scheduler.waitingCount
            metrics.kvCacheUsage = scheduler.blockPool.usage
            metrics.prefixQueryTokenCount = scheduler.blockPool.prefixQueryTokenCount
            metrics.prefixHitTokenCount = scheduler.blockPool.prefixHitTokenCount
            metrics.preemptionCount = scheduler.preemptionCount
            metrics.expertWorkers = model.expertWorkers
            let snapshot = metrics
            shared.withLock { $0.metrics = snapshot }
        }
    }
}
