import KVCache

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
}
