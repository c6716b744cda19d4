import KVCache
import Testing

@testable import Engine

/// A stand-in for the model: writes each computed token id into its KV slot through the block table, and predicts
/// the next token as a hash of the token ids it reads back for positions 0...p. Any wrong block table, stale cached
/// block or bad recompute after preemption changes what it reads, hence its output.
private struct FakeModel {
    var slots: [Int]
    let blockSize: Int
    let vocabularySize = 1000

    init(blockCount: Int, blockSize: Int) {
        slots = [Int](repeating: -1, count: blockCount * blockSize)
        self.blockSize = blockSize
    }

    static func predict(_ history: some Collection<Int>) -> Int {
        var h: UInt64 = 1469598103934665603
        for token in history { h = (h ^ UInt64(token)) &* 1099511628211 }
        return Int(h % 997) + 3  // never 0...2 (0 is used as the stop token in tests)
    }

    mutating func run(_ step: SchedulerStep) -> [Int: [Int]] {
        var sampled: [Int: [Int]] = [:]
        for item in step.sequences {
            for (offset, token) in item.tokenIds.enumerated() {
                let position = item.startPosition + offset
                slots[item.blockTable[position / blockSize] * blockSize + position % blockSize] = token
            }
            if item.samples {
                let end = item.startPosition + item.tokenIds.count
                let history = (0..<end).map { slots[item.blockTable[$0 / blockSize] * blockSize + $0 % blockSize] }
                sampled[item.id] = [Self.predict(history)]
            }
        }
        return sampled
    }
}

/// What a request produces when run alone with unlimited memory.
private func expectedOutput(prompt: [Int], count: Int) -> [Int] {
    var tokens = prompt
    var output: [Int] = []
    for _ in 0..<count {
        let next = FakeModel.predict(tokens)
        tokens.append(next)
        output.append(next)
    }
    return output
}

private struct Harness {
    var scheduler: Scheduler
    var model: FakeModel
    var outputs: [Int: [Int]] = [:]
    var finished: [Int: FinishReason] = [:]
    var stepCount = 0

    init(blockCount: Int, blockSize: Int = 4, configuration: SchedulerConfiguration) {
        scheduler = Scheduler(configuration: configuration, blockPool: BlockPool(blockCount: blockCount, blockSize: blockSize))
        model = FakeModel(blockCount: blockCount, blockSize: blockSize)
    }

    mutating func step() {
        let step = scheduler.schedule()
        #expect(step.tokenCount <= scheduler.configuration.maxBatchedTokenCount)
        let sampled = model.run(step)
        for update in scheduler.update(step, sampledTokenIds: sampled) {
            outputs[update.id, default: []].append(contentsOf: update.newTokenIds)
            if let reason = update.finishReason { finished[update.id] = reason }
        }
        stepCount += 1
        checkInvariants()
    }

    mutating func runToCompletion(maxSteps: Int = 10_000) {
        while scheduler.hasWork && stepCount < maxSteps { step() }
        #expect(!scheduler.hasWork, "scheduler starved or looped")
    }

    func checkInvariants() {
        // Refcounts are consistent with what sequences own is checked indirectly: when idle, all must be free.
        let pool = scheduler.blockPool
        #expect(pool.freeBlockCount + pool.usedBlockCount == pool.blockCount)
        if !scheduler.hasWork {
            #expect(pool.usedBlockCount == 0)
            for block in 0..<pool.blockCount { #expect(pool.refCount(of: block) == 0) }
        }
    }
}

@Suite struct SchedulerTests {
    @Test func chunkedPrefillThenDecodeMatchesRunningAlone() {
        for chunk in [1, 7, 64] {
            var harness = Harness(
                blockCount: 64, configuration: SchedulerConfiguration(maxBatchedTokenCount: chunk, enablePrefixCaching: false))
            let prompt = Array(10..<50)
            try? harness.scheduler.add(SequenceRequest(id: 1, promptTokenIds: prompt, maxNewTokenCount: 12))
            harness.runToCompletion()
            #expect(harness.outputs[1] == expectedOutput(prompt: prompt, count: 12), "chunk \(chunk)")
            #expect(harness.finished[1] == .length)
        }
    }

    @Test func stopTokenEndsTheSequenceAndIsReturned() {
        var harness = Harness(blockCount: 16, configuration: SchedulerConfiguration())
        let prompt = [5, 6, 7]
        let expected = expectedOutput(prompt: prompt, count: 3)
        try? harness.scheduler.add(
            SequenceRequest(id: 1, promptTokenIds: prompt, maxNewTokenCount: 50, stopTokenIds: [expected[2]]))
        harness.runToCompletion()
        #expect(harness.outputs[1] == expected)
        #expect(harness.finished[1] == .stop)
    }

    @Test func manyConcurrentRequestsGiveTheSameTokensAsAlone() {
        var random = RandomSource(seed: 11)
        var harness = Harness(
            blockCount: 400, configuration: SchedulerConfiguration(maxBatchedTokenCount: 48, maxRunningSequenceCount: 8))
        var prompts: [Int: [Int]] = [:]
        var lengths: [Int: Int] = [:]
        for id in 0..<32 {
            let length = 1 + Int(random.next() % 40)
            prompts[id] = (0..<length).map { _ in 3 + Int(random.next() % 900) }
            lengths[id] = 1 + Int(random.next() % 20)
            try? harness.scheduler.add(SequenceRequest(id: id, promptTokenIds: prompts[id]!, maxNewTokenCount: lengths[id]!))
        }
        harness.runToCompletion()
        for id in 0..<32 {
            #expect(harness.outputs[id] == expectedOutput(prompt: prompts[id]!, count: lengths[id]!), "request \(id)")
        }
    }

    @Test func preemptionWithATinyPoolStillGivesTheSameTokens() {
        // 12 blocks of 4 tokens: not enough for 6 sequences of ~20 tokens at once.
        var harness = Harness(
            blockCount: 12, configuration: SchedulerConfiguration(maxBatchedTokenCount: 16, maxRunningSequenceCount: 6))
        var prompts: [Int: [Int]] = [:]
        for id in 0..<6 {
            prompts[id] = (0..<(6 + id)).map { 3 + ($0 * 31 + id * 7) % 900 }
            try? harness.scheduler.add(SequenceRequest(id: id, promptTokenIds: prompts[id]!, maxNewTokenCount: 14))
        }
        harness.runToCompletion()
        #expect(harness.scheduler.preemptionCount > 0, "the pool was meant to be too small")
        for id in 0..<6 {
            #expect(harness.outputs[id] == expectedOutput(prompt: prompts[id]!, count: 14), "request \(id)")
        }
    }

    @Test func prefixCacheSkipsTheSharedPrefixOfALaterRequest() {
        var harness = Harness(blockCount: 64, configuration: SchedulerConfiguration())
        let shared = Array(100..<124)  // 6 full blocks of 4
        try? harness.scheduler.add(SequenceRequest(id: 1, promptTokenIds: shared + [7, 8], maxNewTokenCount: 3))
        harness.runToCompletion()
        try? harness.scheduler.add(SequenceRequest(id: 2, promptTokenIds: shared + [9], maxNewTokenCount: 3))
        let step = harness.scheduler.schedule()
        #expect(step.sequences.first?.startPosition == 24)
        #expect(step.sequences.first?.tokenIds == [9])
        #expect(harness.scheduler.cachedPromptTokenCount(of: 2) == 24)
        let sampled = harness.model.run(step)
        for update in harness.scheduler.update(step, sampledTokenIds: sampled) {
            harness.outputs[update.id, default: []].append(contentsOf: update.newTokenIds)
        }
        harness.runToCompletion()
        #expect(harness.outputs[2] == expectedOutput(prompt: shared + [9], count: 3))
        #expect(harness.scheduler.blockPool.prefixHitTokenCount == 24)
        #expect(harness.scheduler.blockPool.prefixQueryTokenCount == 26 + 25)
    }

    @Test func multiTurnConversationComputesOnlyTheNewTokensEachTurn() {
        var harness = Harness(blockCount: 128, configuration: SchedulerConfiguration())
        var conversation = Array(3..<19)  // 16 tokens
        for turn in 0..<4 {
            let id = 100 + turn
            try? harness.scheduler.add(SequenceRequest(id: id, promptTokenIds: conversation, maxNewTokenCount: 8))
            let hitsBefore = harness.scheduler.blockPool.prefixHitTokenCount
            harness.runToCompletion()
            let hits = harness.scheduler.blockPool.prefixHitTokenCount - hitsBefore
            if turn > 0 {
                // Everything but the partial last block (and the one token that must be computed) was cached.
                let cacheable = ((conversation.count - 1) / 4) * 4
                #expect(hits >= cacheable - 8, "turn \(turn): \(hits) of \(cacheable)")
            }
            conversation += harness.outputs[id] ?? []
            conversation += [7, 8, 9, 10, 11]  // the next user message
        }
    }

    @Test func randomArrivalsAndCancellationsKeepThePoolConsistent() {
        var random = RandomSource(seed: 5)
        var harness = Harness(
            blockCount: 40, configuration: SchedulerConfiguration(maxBatchedTokenCount: 24, maxRunningSequenceCount: 5))
        var nextId = 0
        var live: [Int] = []
        for _ in 0..<600 {
            if random.next() % 3 == 0 {
                let length = 1 + Int(random.next() % 30)
                let prompt = (0..<length).map { _ in 3 + Int(random.next() % 50) }  // small alphabet: prefix hits
                try? harness.scheduler.add(SequenceRequest(id: nextId, promptTokenIds: prompt, maxNewTokenCount: 1 + Int(random.next() % 15)))
                live.append(nextId)
                nextId += 1
            }
            if !live.isEmpty && random.next() % 7 == 0 {
                let victim = live.remove(at: Int(random.next() % UInt64(live.count)))
                harness.scheduler.cancel(victim)
            }
            harness.step()
        }
        harness.runToCompletion()
        #expect(harness.scheduler.blockPool.usedBlockCount == 0)
    }

    @Test func oldestRequestAlwaysProgresses() {
        var harness = Harness(
            blockCount: 10, configuration: SchedulerConfiguration(maxBatchedTokenCount: 8, maxRunningSequenceCount: 4))
        for id in 0..<4 {
            try? harness.scheduler.add(SequenceRequest(id: id, promptTokenIds: Array(3..<15), maxNewTokenCount: 20))
        }
        var lastLength = 0
        for _ in 0..<200 where harness.finished[0] == nil {
            harness.step()
            let length = harness.outputs[0]?.count ?? 0
            #expect(length >= lastLength)
            lastLength = length
        }
        #expect(harness.finished[0] != nil)
        harness.runToCompletion()
    }

    @Test func admissionRefusesAPromptThatCanNeverFit() {
        var scheduler = Scheduler(configuration: SchedulerConfiguration(), blockPool: BlockPool(blockCount: 4, blockSize: 4))
        #expect(throws: AdmissionError.self) {
            try scheduler.add(SequenceRequest(id: 1, promptTokenIds: Array(0..<16), maxNewTokenCount: 1))
        }
        #expect(throws: AdmissionError.self) {
            try scheduler.add(SequenceRequest(id: 2, promptTokenIds: [], maxNewTokenCount: 1))
        }
        #expect(throws: Never.self) {
            try scheduler.add(SequenceRequest(id: 3, promptTokenIds: Array(0..<15), maxNewTokenCount: 100))
        }
    }

    @Test func cancellingFreesBlocksAtOnce() {
        var harness = Harness(blockCount: 32, configuration: SchedulerConfiguration(enablePrefixCaching: false))
        try? harness.scheduler.add(SequenceRequest(id: 1, promptTokenIds: Array(3..<30), maxNewTokenCount: 50))
        harness.step()
        #expect(harness.scheduler.blockPool.usedBlockCount > 0)
        let first = harness.scheduler.cancel(1)
        #expect(first)
        #expect(harness.scheduler.blockPool.usedBlockCount == 0)
        let second = harness.scheduler.cancel(1)
        #expect(!second)
    }
}

/// Speculative drafts in the scheduler: they ride along a decode step, count against the budget, and only the
/// accepted ones become computed tokens; rejected ones are never registered in the prefix cache.
@Suite struct SchedulerDraftTests {
    @Test func acceptedDraftsAreComputedAndRejectedOnesAreNotCached() {
        var scheduler = Scheduler(
            configuration: SchedulerConfiguration(maxBatchedTokenCount: 64, lookaheadTokenCount: 3),
            blockPool: BlockPool(blockCount: 16, blockSize: 4))
        #expect(throws: Never.self) {
            try scheduler.add(SequenceRequest(id: 1, promptTokenIds: [10, 11, 12], maxNewTokenCount: 20))
        }
        var step = scheduler.schedule()  // prefill
        #expect(step.sequences.first?.draftTokenIds == [])
        _ = scheduler.update(step, sampledTokenIds: [1: [13]])
        scheduler.setDrafts(1, [14, 15, 16])
        step = scheduler.schedule()
        let item = step.sequences[0]
        #expect(item.tokenIds == [13] && item.draftTokenIds == [14, 15, 16] && item.startPosition == 3)
        #expect(step.tokenCount == 4 && item.logitRowCount == 4)
        #expect(item.blockTable.count * 4 >= 3 + 4)
        // Drafts 14 and 15 accepted, 16 rejected (replaced by 99): positions 3, 4, 5 are computed; 6 is not.
        let updates = scheduler.update(step, sampledTokenIds: [1: [14, 15, 99]])
        #expect(updates[0].newTokenIds == [14, 15, 99])
        #expect(scheduler.tokenIds(of: 1) == [10, 11, 12, 13, 14, 15, 99])
        // Six computed tokens: one full block (0...3) is cached, the second (4...7, holding the rejected draft's
        // slot at 6) is not.
        #expect(scheduler.blockPool.cachedBlockCount == 1)
        step = scheduler.schedule()  // no drafts set: a plain decode step from position 6
        #expect(step.sequences[0].startPosition == 6 && step.sequences[0].tokenIds == [99])
        #expect(step.sequences[0].draftTokenIds.isEmpty)
    }

    @Test func draftsStopAtTheBudgetAndAtMaxTokens() {
        var scheduler = Scheduler(
            configuration: SchedulerConfiguration(maxBatchedTokenCount: 3, lookaheadTokenCount: 4),
            blockPool: BlockPool(blockCount: 32, blockSize: 4))
        #expect(throws: Never.self) {
            try scheduler.add(SequenceRequest(id: 1, promptTokenIds: [5], maxNewTokenCount: 3))
        }
        var step = scheduler.schedule()
        _ = scheduler.update(step, sampledTokenIds: [1: [6]])
        scheduler.setDrafts(1, [7, 8, 9, 10])
        step = scheduler.schedule()
        // Budget 3 = the token + 2 drafts; and 2 more tokens may be generated: the token's bonus + 1 draft.
        #expect(step.sequences[0].draftTokenIds == [7])
        let updates = scheduler.update(step, sampledTokenIds: [1: [7, 8]])
        #expect(updates[0].newTokenIds == [7, 8] && updates[0].finishReason == .length)
    }
}
