import Dispatch
import KVCache
import Synchronization
import Testing

@testable import Engine

/// A model whose "KV cache" stores token ids through the block tables; its logits favour a token derived from the
/// whole history it reads back, so batching, paging and cancellation mistakes change its output.
private final class FakeStepModel: StepModel {
    let vocabularySize = 64
    let kvBlockCount: Int
    let kvBlockSize = 4
    var slots: [Int]
    var failNextRun = false
    /// Sleep per step, so a test can act while a request is still running, whatever the machine's load.
    var stepDelayMilliseconds = 0
    var logits: [Float] = []

    init(blockCount: Int = 64) {
        kvBlockCount = blockCount
        slots = [Int](repeating: -1, count: blockCount * 4)
    }

    static func favourite(_ history: some Collection<Int>) -> Int {
        var h: UInt64 = 14695981039346656037
        for token in history { h = (h ^ UInt64(token)) &* 1099511628211 }
        return Int(h % 60) + 4  // 0...3 reserved for stop tokens in tests
    }

    func run(_ step: SchedulerStep, body: (UnsafeMutableBufferPointer<Float>) -> Void) throws {
        if failNextRun {
            failNextRun = false
            throw EngineError("injected failure")
        }
        if stepDelayMilliseconds > 0 { usleepForTest(milliseconds: stepDelayMilliseconds) }
        logits.removeAll(keepingCapacity: true)
        for item in step.sequences {
            for (offset, token) in item.tokenIds.enumerated() {
                let position = item.startPosition + offset
                slots[item.blockTable[position / kvBlockSize] * kvBlockSize + position % kvBlockSize] = token
            }
            guard item.samples else { continue }
            let end = item.startPosition + item.tokenIds.count
            let history = (0..<end).map { slots[item.blockTable[$0 / kvBlockSize] * kvBlockSize + $0 % kvBlockSize] }
            let best = Self.favourite(history)
            for id in 0..<vocabularySize { logits.append(id == best ? 3 : Float(id % 5) * 0.1) }
        }
        logits.withUnsafeMutableBufferPointer { body($0) }
    }
}

private func expected(prompt: [Int], count: Int) -> [Int] {
    var tokens = prompt
    for _ in 0..<count { tokens.append(FakeStepModel.favourite(tokens)) }
    return Array(tokens.dropFirst(prompt.count))
}

/// Collects a request's events and signals when it ends.
private final class Collector: Sendable {
    private let state = Mutex<[EngineEvent]>([])
    let done = DispatchSemaphore(value: 0)

    var handler: EngineEventHandler {
        { event in
            self.state.withLock { $0.append(event) }
            switch event {
            case .tokens(_, let finish) where finish != nil: self.done.signal()
            case .finished, .failed: self.done.signal()
            default: break
            }
        }
    }

    var events: [EngineEvent] { state.withLock { $0 } }
    var tokenIds: [Int] {
        events.flatMap { event -> [Int] in
            if case .tokens(let tokens, _) = event { return tokens.map(\.id) }
            return []
        }
    }
    var finishReason: FinishReason? {
        for event in events.reversed() {
            if case .tokens(_, let finish?) = event { return finish }
            if case .finished(let finish) = event { return finish }
        }
        return nil
    }
    func wait() -> Bool { done.wait(timeout: .now() + 20) == .success }
}

@Suite struct EngineTests {
    private func makeEngine(blockCount: Int = 64, batch: Int = 32) throws -> Engine {
        try Engine(
            configuration: EngineConfiguration(scheduler: SchedulerConfiguration(maxBatchedTokenCount: batch)),
            makeModel: { FakeStepModel(blockCount: blockCount) })
    }

    @Test func concurrentRequestsGetTheirOwnGreedyTokens() throws {
        let engine = try makeEngine()
        var collectors: [(Collector, [Int])] = []
        for index in 0..<12 {
            let prompt = (0..<(3 + index)).map { 4 + ($0 * 7 + index) % 50 }
            let collector = Collector()
            engine.submit(EngineRequest(promptTokenIds: prompt, maxNewTokenCount: 9), handler: collector.handler)
            collectors.append((collector, prompt))
        }
        for (collector, prompt) in collectors {
            #expect(collector.wait())
            #expect(collector.tokenIds == expected(prompt: prompt, count: 9))
            #expect(collector.finishReason == .length)
            #expect(collector.events.first == .started(cachedPromptTokenCount: 0))
        }
        // Metrics are published after a step's events: wait for the snapshot that follows the last one.
        var metrics = engine.metrics
        for _ in 0..<400 where metrics.runningCount != 0 || metrics.generatedTokenCount != 12 * 9 {
            usleepForTest()
            metrics = engine.metrics
        }
        #expect(metrics.runningCount == 0)
        #expect(metrics.kvCacheUsage == 0)
        #expect(metrics.generatedTokenCount == 12 * 9)
        engine.shutdown()
    }

    @Test func theStepObserverSeesEveryStepWithItsBatchAndBlocks() throws {
        let records = Mutex<[EngineStepRecord]>([])
        let engine = try Engine(
            configuration: EngineConfiguration(
                scheduler: SchedulerConfiguration(maxBatchedTokenCount: 8),
                stepObserver: { record in records.withLock { $0.append(record) } }),
            makeModel: { FakeStepModel(blockCount: 64) })
        let first = Collector(), second = Collector()
        engine.submit(EngineRequest(promptTokenIds: Array(4..<24), maxNewTokenCount: 5), handler: first.handler)
        engine.submit(EngineRequest(promptTokenIds: Array(30..<33), maxNewTokenCount: 5), handler: second.handler)
        #expect(first.wait())
        #expect(second.wait())
        engine.shutdown()
        let seen = records.withLock { $0 }
        #expect(seen.map(\.index) == Array(1...seen.count))
        // Every prompt token and every generated token but the last of each request passes through a forward pass.
        #expect(seen.reduce(0) { $0 + $1.tokenCount } == 20 + 3 + 2 * 4)
        #expect(seen.reduce(0) { $0 + $1.generatedTokenCount } == 10)
        #expect(seen.allSatisfy { $0.tokenCount <= 8 && $0.usedBlockCount <= $0.totalBlockCount && $0.seconds >= 0 })
        #expect(seen.allSatisfy { $0.decodeSequenceCount <= $0.sequenceCount })
        // Blocks in use after each step: held while a request runs, all released after the last step.
        #expect(seen.contains { $0.usedBlockCount >= 2 })
        #expect(seen.last?.usedBlockCount == 0)
        #expect(seen.last?.logLine.hasPrefix("step \(seen.count): ") == true)
    }

    @Test func stopTokenEndsARequest() throws {
        let engine = try makeEngine()
        let prompt = [10, 11, 12]
        let tokens = expected(prompt: prompt, count: 4)
        let collector = Collector()
        engine.submit(
            EngineRequest(promptTokenIds: prompt, maxNewTokenCount: 50, stopTokenIds: [tokens[3]]),
            handler: collector.handler)
        #expect(collector.wait())
        let firstStop = tokens.firstIndex(of: tokens[3]) ?? 3
        #expect(collector.tokenIds == Array(tokens[...firstStop]))
        #expect(collector.finishReason == .stop)
        engine.shutdown()
    }

    @Test func cancellingARunningRequestFreesItsBlocks() throws {
        // 4096 blocks of 4 tokens at 2 ms a step: the request would run for over 30 s, so the cancel always lands.
        let engine = try Engine(
            configuration: EngineConfiguration(),
            makeModel: {
                let model = FakeStepModel(blockCount: 4096)
                model.stepDelayMilliseconds = 2
                return model
            })
        let collector = Collector()
        let id = engine.submit(
            EngineRequest(promptTokenIds: Array(4..<40), maxNewTokenCount: 100_000, ignoreEOS: true),
            handler: collector.handler)
        while collector.tokenIds.count < 3 { usleepForTest() }
        engine.cancel(id)
        #expect(collector.wait())
        #expect(collector.finishReason == .abort)
        // The engine publishes metrics after applying the cancellation.
        var usage = engine.metrics.kvCacheUsage
        for _ in 0..<200 where usage > 0 {
            usleepForTest()
            usage = engine.metrics.kvCacheUsage
        }
        #expect(usage == 0)
        engine.shutdown()
    }

    @Test func aFailingForwardPassFailsOnlyThatStepAndTheEngineKeepsServing() throws {
        let model = FakeStepModel()
        model.failNextRun = true
        nonisolated(unsafe) let unsafeModel = model
        let engine = try Engine(configuration: EngineConfiguration(), makeModel: { unsafeModel })
        let failed = Collector()
        engine.submit(EngineRequest(promptTokenIds: [5, 6], maxNewTokenCount: 3), handler: failed.handler)
        #expect(failed.wait())
        #expect(failed.events.contains { if case .failed = $0 { return true } else { return false } })
        let next = Collector()
        engine.submit(EngineRequest(promptTokenIds: [5, 6], maxNewTokenCount: 3), handler: next.handler)
        #expect(next.wait())
        #expect(next.tokenIds == expected(prompt: [5, 6], count: 3))
        engine.shutdown()
    }

    @Test func seededSamplingIsReproducibleAndLogprobsAreReported() throws {
        let engine = try makeEngine()
        func run(seed: UInt64) -> Collector {
            let collector = Collector()
            engine.submit(
                EngineRequest(
                    promptTokenIds: [7, 8, 9], sampling: SamplingParameters(temperature: 1.5, seed: seed),
                    maxNewTokenCount: 20, logprobCount: 2),
                handler: collector.handler)
            _ = collector.wait()
            return collector
        }
        let a = run(seed: 1), b = run(seed: 1), c = run(seed: 2)
        #expect(a.tokenIds == b.tokenIds)
        #expect(a.tokenIds != c.tokenIds)
        let firstTokens = a.events.compactMap { event -> GeneratedToken? in
            if case .tokens(let tokens, _) = event { return tokens.first }
            return nil
        }
        #expect(firstTokens.allSatisfy { $0.logProbability != nil && $0.topLogProbabilities.count == 2 })
        engine.shutdown()
    }

    @Test func aPromptLongerThanTheCacheFailsCleanly() throws {
        let engine = try makeEngine(blockCount: 4)
        let collector = Collector()
        engine.submit(EngineRequest(promptTokenIds: Array(repeating: 5, count: 40), maxNewTokenCount: 1), handler: collector.handler)
        #expect(collector.wait())
        #expect(collector.events.count == 1)
        if case .failed(let message) = collector.events.first {
            #expect(message.contains("40 tokens"))
        } else {
            Issue.record("expected a failure, got \(collector.events)")
        }
        engine.shutdown()
    }

    @Test func modelLoadFailureIsThrown() {
        #expect(throws: EngineError.self) {
            _ = try Engine(configuration: EngineConfiguration(), makeModel: { throw EngineError("no weights") })
        }
    }
}

private func usleepForTest(milliseconds: Int = 5) {
    _ = DispatchSemaphore(value: 0).wait(timeout: .now() + .milliseconds(milliseconds))
}
