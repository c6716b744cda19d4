import KVCache
import TokenConstraints
import Models

/// A generation request in token ids: what the engine runs, with no text anywhere.
public struct EngineRequest: Sendable {
    public var promptTokenIds: [Int]
    public var sampling: SamplingParameters
    /// Most tokens to generate; clipped to the context by the scheduler.
    public var maxNewTokenCount: Int
    /// EOS ids and `stop_token_ids`: sampling one ends the request (unless `ignoreEOS`).
    public var stopTokenIds: Set<Int>
    public var ignoreEOS: Bool
    /// nil: no log probabilities. n >= 0: the chosen token's and the n most likely tokens'.
    public var logprobCount: Int?
    /// Token ids that may never be sampled (e.g. `<tool_call>` under `tool_choice: none`).
    public var bannedTokenIds: [Int]
    /// Random stream (the choice index for OpenAI `n`), combined with `sampling.seed`.
    public var randomStream: UInt64
    /// Constrained decoding: before each sampling step only the tokens it allows (plus `stopTokenIds` when it may
    /// end) keep their logits; once it is complete a stop id is forced. nil = unconstrained.
    public var constraint: (any DecodingConstraint)?

    public init(
        promptTokenIds: [Int], sampling: SamplingParameters = .greedy, maxNewTokenCount: Int,
        stopTokenIds: Set<Int> = [], ignoreEOS: Bool = false, logprobCount: Int? = nil, bannedTokenIds: [Int] = [],
        randomStream: UInt64 = 0, constraint: (any DecodingConstraint)? = nil
    ) {
        self.constraint = constraint
        self.promptTokenIds = promptTokenIds
        self.sampling = sampling
        self.maxNewTokenCount = maxNewTokenCount
        self.stopTokenIds = stopTokenIds
        self.ignoreEOS = ignoreEOS
        self.logprobCount = logprobCount
        self.bannedTokenIds = bannedTokenIds
        self.randomStream = randomStream
    }
}

/// One generated token with its optional log probabilities.
public struct GeneratedToken: Sendable, Equatable {
    public var id: Int
    public var logProbability: TokenLogProbability?
    public var topLogProbabilities: [TokenLogProbability]

    public init(id: Int, logProbability: TokenLogProbability? = nil, topLogProbabilities: [TokenLogProbability] = []) {
        self.id = id
        self.logProbability = logProbability
        self.topLogProbabilities = topLogProbabilities
    }
}

/// What the engine tells a request's owner after a step. Events of one request arrive in order, on the engine
/// thread: handlers must return quickly (hand the work to another queue).
public enum EngineEvent: Sendable, Equatable {
    /// The request was scheduled for the first time: `cachedPromptTokenCount` of its prompt came from the cache.
    case started(cachedPromptTokenCount: Int)
    /// Tokens produced by one step (one, or several with speculative decoding), and the finish reason if it ended.
    case tokens([GeneratedToken], finishReason: FinishReason?)
    /// The request ended without a new token: cancelled (`.abort`) or failed.
    case finished(FinishReason)
    /// The engine could not run the request (the message says why). No more events follow.
    case failed(String)
}

public typealias EngineEventHandler = @Sendable (EngineEvent) -> Void

/// Counters and gauges for /metrics, refreshed once per step.
public struct EngineMetrics: Sendable, Equatable {
    public var runningCount = 0
    public var waitingCount = 0
    public var kvCacheUsage = 0.0
    public var kvBlockCount = 0
    public var prefixQueryTokenCount = 0
    public var prefixHitTokenCount = 0
    public var preemptionCount = 0
    public var promptTokenCount = 0
    public var generatedTokenCount = 0
    public var stepCount = 0
    /// Seconds spent in forward passes and sampling, summed.
    public var busySeconds = 0.0
    /// Monotonic time of the last completed step (seconds), 0 before the first.
    public var lastStepTime = 0.0
    public var lastStepTokenCount = 0
    public var lastStepSequenceCount = 0
    /// Expert-parallel workers: busy/idle seconds of the expert phases, tokens and rows received, experts held.
    public var expertWorkers: [ExpertWorkerStats] = []
    /// Speculative decoding: verifications that carried drafts (one per sequence and step), drafts proposed,
    /// drafts accepted, and accepted drafts by position (0 = the first draft of a step).
    public var specDraftCount = 0
    public var specDraftTokenCount = 0
    public var specAcceptedTokenCount = 0
    public var specAcceptedPerPosition: [Int] = []

    /// Tokens one verification yields on average: 1 + accepted / drafts (0 before any draft).
    public var meanAcceptanceLength: Double {
        specDraftCount == 0 ? 0 : 1 + Double(specAcceptedTokenCount) / Double(specDraftCount)
    }
}

/// One engine step, as the step observer sees it (the server's per-step trace line).
public struct EngineStepRecord: Sendable, Equatable {
    /// 1-based step number.
    public var index: Int
    /// Sequences in the batch, and how many of them were plain decodes (one token, sampled).
    public var sequenceCount: Int
    public var decodeSequenceCount: Int
    /// Tokens computed by the forward pass (decode tokens + prompt chunk tokens + drafts to verify).
    public var tokenCount: Int
    /// Speculative draft tokens verified in this pass.
    public var draftTokenCount: Int
    /// Tokens appended to sequences this step.
    public var generatedTokenCount: Int
    public var preemptedCount: Int
    public var waitingCount: Int
    public var usedBlockCount: Int
    public var totalBlockCount: Int
    /// Wall time of the step: schedule, forward, sample, report.
    public var seconds: Double

    /// `step 12: 5 seqs (4 decode, 1 prefill), 68 tokens (0 drafts), 4 generated, 0 preempted, 3 waiting, blocks 40/1024, 81.2 ms`
    public var logLine: String {
        "step \(index): \(sequenceCount) seqs (\(decodeSequenceCount) decode, \(sequenceCount - decodeSequenceCount) prefill), "
            + "\(tokenCount) tokens (\(draftTokenCount) drafts), \(generatedTokenCount) generated, \(preemptedCount) preempted, \(waitingCount) waiting, "
            + "blocks \(usedBlockCount)/\(totalBlockCount), \((seconds * 1e4).rounded() / 10) ms"
    }
}
