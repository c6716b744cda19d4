import Dispatch
import Foundation
import KVCache
import Synchronization

/// How the engine is set up.
public struct EngineConfiguration: Sendable {
    public var scheduler: SchedulerConfiguration

    public init(scheduler: SchedulerConfiguration = SchedulerConfiguration()) {
        self.scheduler = scheduler
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
        configuration: EngineConfiguration, makeModel: @escaping @Sendable () throws -> any StepModel
    ) throws {
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
            startedBox.state.withLock {
                $0.vocabularySize = model.vocabularySize
                $0.kvBlockCount = model.kvBlockCount
                $0.kvBlockSize = model.kvBlockSize
            }
            ready.signal()
            var loop = EngineLoop(configuration: configuration, model: model, shared: shared)
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
        var sampler: Sampler
        var contexts: [Int: Context] = [:]
        var metrics = EngineMetrics()
        let clock = ContinuousClock()
        let startInstant: ContinuousClock.Instant

        init(configuration: EngineConfiguration, model: any StepModel, shared: SharedBox) {
            self.model = model
            self.shared = shared
            scheduler = Scheduler(
                configuration: configuration.scheduler,
                blockPool: BlockPool(blockCount: model.kvBlockCount, blockSize: model.kvBlockSize))
            sampler = Sampler(vocabularySize: model.vocabularySize)
            metrics.kvBlockCount = model.kvBlockCount
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
            var sampled: [Int: [Int]] = [:]
            var generated: [Int: GeneratedToken] = [:]
            let vocabularySize = model.vocabularySize
            do {
                try model.run(step) { logits in
                    var row = 0
                    for item in step.sequences where item.samples {
                        defer { row += 1 }
                        guard var context = contexts[item.id] else { continue }
                        let rowBuffer = UnsafeMutableBufferPointer(
                            rebasing: logits[(row * vocabularySize)..<((row + 1) * vocabularySize)])
                        var logProbability: TokenLogProbability?
                        var top: [TokenLogProbability] = []
                        let rawLogits: [Float]? = context.request.logprobCount != nil ? Array(rowBuffer) : nil
                        let allowed = context.constraint?.mask(rowBuffer, stopIds: context.request.stopTokenIds)
                        var token = sampler.sample(
                            logits: rowBuffer, parameters: context.request.sampling, history: context.history,
                            random: &context.random, bannedIds: context.request.bannedTokenIds)
                        if let allowed, !allowed.contains(token) {
                            // Bans or bias left nothing the grammar allows: take its first token, never leave it.
                            token = allowed.first ?? token
                        }
                        if context.constraint != nil, !context.request.stopTokenIds.contains(token) {
                            _ = context.constraint?.advance(token)
                        }
                        if let count = context.request.logprobCount, let rawLogits {
                            let result = rawLogits.withUnsafeBufferPointer {
                                LogProbabilities.compute(logits: $0, chosen: token, topCount: count)
                            }
                            logProbability = result.chosen
                            top = result.top
                        }
                        context.history.appendGenerated(token)
                        contexts[item.id] = context
                        sampled[item.id] = [token]
                        generated[item.id] = GeneratedToken(
                            id: token, logProbability: logProbability, topLogProbabilities: top)
                    }
                }
            } catch {
                for item in step.sequences {
                    contexts.removeValue(forKey: item.id)?.handler(.failed("forward pass failed: \(error)"))
                    scheduler.cancel(item.id)
                }
                return
            }
            let updates = scheduler.update(step, sampledTokenIds: sampled)
            for update in updates {
                guard let context = contexts[update.id] else { continue }
                if update.finishReason != nil { contexts[update.id] = nil }
                if !update.newTokenIds.isEmpty || update.finishReason != nil {
                    let tokens = update.newTokenIds.map { id in generated[update.id].flatMap { $0.id == id ? $0 : nil } ?? GeneratedToken(id: id) }
                    context.handler(.tokens(tokens, finishReason: update.finishReason))
                }
            }
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
            metrics.generatedTokenCount += updates.reduce(0) { $0 + $1.newTokenIds.count }
        }

        mutating func publishMetrics() {
            metrics.runningCount = scheduler.runningCount
            metrics.waitingCount = scheduler.waitingCount
            metrics.kvCacheUsage = scheduler.blockPool.usage
            metrics.prefixQueryTokenCount = scheduler.blockPool.prefixQueryTokenCount
            metrics.prefixHitTokenCount = scheduler.blockPool.prefixHitTokenCount
            metrics.preemptionCount = scheduler.preemptionCount
            let snapshot = metrics
            shared.withLock { $0.metrics = snapshot }
        }
    }
}
