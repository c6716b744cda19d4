import KVCache

/// Continuous batching as a pure state machine (vLLM's v1 scheduler, reduced to what LingServe needs).
///
/// There are no prefill and decode phases: each sequence has tokens computed and tokens known; a step gives every
/// running sequence its next tokens (one for decode, a chunk of its prompt otherwise) within the token budget, then
/// admits waiting sequences with chunks of their prompts, reusing cached prefix blocks. When blocks run out, the
/// newest running sequence is preempted (blocks freed; recomputed later, usually cheaply thanks to the prefix
/// cache); running sequences are served oldest first, so the oldest always progresses.
///
/// `schedule()` returns the step; after the forward pass and sampling, `update(_:sampledTokenIds:)` applies the
/// results and returns the per-sequence updates. Not thread-safe: the engine thread owns it.
public struct Scheduler: Sendable {
    public let configuration: SchedulerConfiguration
    public private(set) var blockPool: BlockPool

    struct Sequence: Sendable {
        var request: SequenceRequest
        var tokenIds: [Int]  // prompt + generated
        var computedTokenCount = 0
        var blocks: [Int] = []
        var fullBlockHashes: [BlockHash] = []  // hashes of blocks registered in the prefix cache, in order
        var generatedCount = 0
        var cachedPromptTokenCount = 0
        var arrivalIndex: Int
        var preemptionCount = 0
        /// Speculative tokens proposed for the next decode step (verified there, then cleared).
        var draftTokenIds: [Int] = []
    }

    private var sequences: [Int: Sequence] = [:]
    /// Waiting ids, FIFO; preempted sequences go back to the front.
    private var waiting: [Int] = []
    /// Running ids in arrival order (oldest first).
    private var running: [Int] = []
    private var nextArrivalIndex = 0

    public private(set) var preemptionCount = 0

    public init(configuration: SchedulerConfiguration, blockPool: BlockPool) {
        precondition(configuration.maxBatchedTokenCount > 0 && configuration.maxRunningSequenceCount > 0)
        self.configuration = configuration
        self.blockPool = blockPool
    }

    public var waitingCount: Int { waiting.count }
    public var runningCount: Int { running.count }
    public var hasWork: Bool { !waiting.isEmpty || !running.isEmpty }
    public func contains(_ id: Int) -> Bool { sequences[id] != nil }

    /// Tokens of the sequence so far (prompt + generated).
    public func tokenIds(of id: Int) -> [Int]? { sequences[id]?.tokenIds }

    /// Prompt tokens served from the prefix cache at the sequence's last admission (`cached_tokens`).
    public func cachedPromptTokenCount(of id: Int) -> Int { sequences[id]?.cachedPromptTokenCount ?? 0 }

    /// Longest sequence the pool can ever hold.
    public var capacityTokenCount: Int { blockPool.blockCount * blockPool.blockSize }

    /// Queues a request. Refuses a prompt that could never be scheduled.
    public mutating func add(_ request: SequenceRequest) throws(AdmissionError) {
        guard sequences[request.id] == nil else { throw .duplicateId(request.id) }
        let limit = Swift.min(configuration.maxModelLength, capacityTokenCount - configuration.lookaheadTokenCount)
        guard !request.promptTokenIds.isEmpty, request.promptTokenIds.count < limit else {
            throw .promptTooLong(promptTokenCount: request.promptTokenIds.count, limit: limit)
        }
        var request = request
        request.maxNewTokenCount = Swift.max(0, Swift.min(request.maxNewTokenCount, limit - request.promptTokenIds.count))
        sequences[request.id] = Sequence(request: request, tokenIds: request.promptTokenIds, arrivalIndex: nextArrivalIndex)
        nextArrivalIndex += 1
        waiting.append(request.id)
    }

    /// Removes a sequence wherever it is and frees its blocks at once. Returns false if it was unknown.
    @discardableResult
    public mutating func cancel(_ id: Int) -> Bool {
        guard let sequence = sequences.removeValue(forKey: id) else { return false }
        blockPool.free(sequence.blocks.reversed())
        waiting.removeAll { $0 == id }
        running.removeAll { $0 == id }
        return true
    }

    // MARK: - Scheduling

    public mutating func schedule() -> SchedulerStep {
        var budget = configuration.maxBatchedTokenCount
        var scheduled: [ScheduledSequence] = []
        var preempted: [Int] = []

        // 1. Running sequences, oldest first.
        var index = 0
        while index < running.count && budget > 0 {
            let id = running[index]
            guard let sequence = sequences[id] else {
                index += 1
                continue
            }
            let pending = sequence.tokenIds.count - sequence.computedTokenCount
            let count = Swift.min(pending, budget)
            var fits = ensureBlocks(for: id, upTo: sequence.computedTokenCount + count)
            while !fits {
                // Preempt the newest running sequence; if that is this one, it waits.
                guard let victim = running.last else { break }
                preempt(victim)
                preempted.append(victim)
                if victim == id { break }
                fits = ensureBlocks(for: id, upTo: sequence.computedTokenCount + count)
            }
            guard fits, var current = sequences[id] else { continue }  // preempted itself: running shrank
            budget -= count
            var drafts: [Int] = []
            if count == pending && !current.draftTokenIds.isEmpty {
                // Drafts ride along a decode step when the budget and the pool allow; otherwise they are dropped.
                let remaining = current.request.maxNewTokenCount - current.generatedCount
                let room = Swift.min(current.draftTokenIds.count, budget, Swift.max(0, remaining - 1))
                if room > 0 && ensureBlocks(for: id, upTo: current.computedTokenCount + count + room),
                    let refreshed = sequences[id]
                {
                    current = refreshed
                    drafts = Array(current.draftTokenIds.prefix(room))
                    budget -= room
                }
                sequences[id]?.draftTokenIds = []
            }
            var item = makeScheduled(current, count: count)
            item.draftTokenIds = drafts
            scheduled.append(item)
            index += 1
        }

        // 2. Waiting sequences, FIFO, unless this step had to preempt (memory is tight).
        while preempted.isEmpty, budget > 0, running.count < configuration.maxRunningSequenceCount,
            let id = waiting.first, var sequence = sequences[id]
        {
            var cachedBlocks: [Int] = []
            if configuration.enablePrefixCaching && sequence.computedTokenCount == 0 {
                // At least one token must be computed to get logits: look up full blocks of tokens[0 ..< count-1].
                let hashes = BlockHash.chain(Array(sequence.tokenIds.dropLast()), blockSize: blockPool.blockSize)
                cachedBlocks = blockPool.takeCachedPrefix(hashes)
                sequence.blocks = cachedBlocks
                sequence.fullBlockHashes = Array(hashes.prefix(cachedBlocks.count))
                sequence.computedTokenCount = cachedBlocks.count * blockPool.blockSize
            }
            let pending = sequence.tokenIds.count - sequence.computedTokenCount
            let count = Swift.min(pending, budget)
            sequences[id] = sequence
            guard ensureBlocks(for: id, upTo: sequence.computedTokenCount + count) else {
                // Not enough memory now: give the cached blocks back and try again next step.
                blockPool.free(cachedBlocks.reversed())
                sequences[id]?.blocks = []
                sequences[id]?.fullBlockHashes = []
                sequences[id]?.computedTokenCount = 0
                break
            }
            if configuration.enablePrefixCaching && sequence.preemptionCount == 0 {
                blockPool.recordPrefixQuery(
                    queryTokenCount: sequence.request.promptTokenIds.count, hitTokenCount: sequence.computedTokenCount)
            }
            if sequence.preemptionCount == 0 { sequences[id]?.cachedPromptTokenCount = sequence.computedTokenCount }
            waiting.removeFirst()
            running.append(id)
            if let current = sequences[id] {
                scheduled.append(makeScheduled(current, count: count))
            }
            budget -= count
        }
        return SchedulerStep(sequences: scheduled, preemptedIds: preempted)
    }

    /// Applies a step's results. `sampledTokenIds[id]` holds the tokens accepted for each sequence that sampled
    /// (one, or more with speculative decoding). Stop conditions are checked token by token: tokens after a stop
    /// are dropped.
    public mutating func update(_ step: SchedulerStep, sampledTokenIds: [Int: [Int]]) -> [SequenceUpdate] {
        var updates: [SequenceUpdate] = []
        updates.reserveCapacity(step.sequences.count)
        for item in step.sequences {
            guard var sequence = sequences[item.id] else { continue }  // cancelled during the step
            sequence.computedTokenCount = item.startPosition + item.tokenIds.count
            sequence.draftTokenIds = []
            var newTokens: [Int] = []
            var finish: FinishReason?
            if item.samples, let sampled = sampledTokenIds[item.id] {
                // Accepted drafts come first and were computed in this pass; the last token (the main model's own)
                // was not. Rejected drafts are not counted, so their KV slots are rewritten and never cached.
                var accepted = 0
                while accepted < Swift.min(sampled.count - 1, item.draftTokenIds.count),
                    sampled[accepted] == item.draftTokenIds[accepted]
                {
                    accepted += 1
                }
                sequence.computedTokenCount += accepted
                for token in sampled {
                    sequence.tokenIds.append(token)
                    sequence.generatedCount += 1
                    newTokens.append(token)
                    if !sequence.request.ignoreEOS && sequence.request.stopTokenIds.contains(token) {
                        finish = .stop
                    } else if sequence.generatedCount >= sequence.request.maxNewTokenCount {
                        finish = .length
                    }
                    if finish != nil { break }
                }
            }
            sequences[item.id] = sequence
            registerFullBlocks(of: item.id)
            updates.append(SequenceUpdate(id: item.id, newTokenIds: newTokens, finishReason: finish))
            if finish != nil { finishSequence(item.id) }
        }
        return updates
    }

    /// Ends a sequence for a reason found outside (a stop string): frees it like a cancellation.
    public mutating func finish(_ id: Int) { finishSequence(id) }

    // MARK: - Speculative decoding

    /// Sets the draft tokens to verify in the sequence's next decode step (replacing any earlier ones).
    public mutating func setDrafts(_ id: Int, _ draftTokenIds: [Int]) {
        sequences[id]?.draftTokenIds = draftTokenIds
    }

    /// The token at `index` of the sequence (prompt + generated), if known.
    public func tokenId(of id: Int, at index: Int) -> Int? {
        guard let sequence = sequences[id], sequence.tokenIds.indices.contains(index) else { return nil }
        return sequence.tokenIds[index]
    }

    /// Tokens the sequence may still generate.
    public func remainingTokenCount(of id: Int) -> Int {
        guard let sequence = sequences[id] else { return 0 }
        return Swift.max(0, sequence.request.maxNewTokenCount - sequence.generatedCount)
    }

    /// Makes the sequence own KV slots for positions `0 ..< tokenCount` (the drafter writes speculative positions
    /// ahead of the computed ones) and returns its block table, or nil when the pool is short (nothing preempted).
    public mutating func reserveSlots(for id: Int, upTo tokenCount: Int) -> [Int]? {
        guard ensureBlocks(for: id, upTo: tokenCount) else { return nil }
        return sequences[id]?.blocks
    }

    // MARK: - Internals

    private func makeScheduled(_ sequence: Sequence, count: Int) -> ScheduledSequence {
        let start = sequence.computedTokenCount
        return ScheduledSequence(
            id: sequence.request.id, tokenIds: Array(sequence.tokenIds[start..<start + count]), startPosition: start,
            blockTable: sequence.blocks, samples: start + count == sequence.tokenIds.count)
    }

    /// Makes the sequence own enough blocks for `tokenCount` positions plus the lookahead. False if the pool is short.
    private mutating func ensureBlocks(for id: Int, upTo tokenCount: Int) -> Bool {
        guard let sequence = sequences[id] else { return false }
        let needed = (tokenCount + configuration.lookaheadTokenCount + blockPool.blockSize - 1) / blockPool.blockSize
        let missing = needed - sequence.blocks.count
        guard missing > 0 else { return true }
        guard let blocks = blockPool.allocate(missing) else { return false }
        sequences[id]?.blocks.append(contentsOf: blocks)
        return true
    }

    private mutating func preempt(_ id: Int) {
        guard var sequence = sequences[id] else { return }
        blockPool.free(sequence.blocks.reversed())
        sequence.blocks = []
        sequence.fullBlockHashes = []
        sequence.computedTokenCount = 0
        sequence.draftTokenIds = []
        sequence.preemptionCount += 1
        sequences[id] = sequence
        running.removeAll { $0 == id }
        // Back to the waiting queue in arrival order among the preempted at its front.
        var position = 0
        while position < waiting.count, let other = sequences[waiting[position]], other.preemptionCount > 0,
            other.arrivalIndex < sequence.arrivalIndex
        {
            position += 1
        }
        waiting.insert(id, at: position)
        preemptionCount += 1
    }

    /// Registers every block that became full of computed tokens in the prefix cache.
    private mutating func registerFullBlocks(of id: Int) {
        guard configuration.enablePrefixCaching, var sequence = sequences[id] else { return }
        let blockSize = blockPool.blockSize
        let fullCount = Swift.min(sequence.computedTokenCount / blockSize, sequence.blocks.count)
        while sequence.fullBlockHashes.count < fullCount {
            let blockIndex = sequence.fullBlockHashes.count
            let start = blockIndex * blockSize
            let hash = BlockHash(parent: sequence.fullBlockHashes.last, tokens: sequence.tokenIds[start..<start + blockSize])
            blockPool.cacheFullBlock(sequence.blocks[blockIndex], hash: hash)
            sequence.fullBlockHashes.append(hash)
        }
        sequences[id] = sequence
    }

    private mutating func finishSequence(_ id: Int) {
        guard let sequence = sequences.removeValue(forKey: id) else { return }
        blockPool.free(sequence.blocks.reversed())
        running.removeAll { $0 == id }
        waiting.removeAll { $0 == id }
    }
}
