/// What the API layer needs from the engine, in token ids only. The coordinator adapts `Engine` to it; tests use a
/// scripted fake. Implementations must be thread-safe: `submit` and `cancel` are called from connection tasks.
public protocol GenerationBackend: Sendable {
    /// Admission is decided here, before any response byte is written (§5). On `.accepted` the stream yields the
    /// request's events until every choice has finished (or the request failed or was cancelled), then ends.
    func submit(_ request: GenerationRequest) -> AdmissionResult

    /// Ends a whole request (client gone): dequeued if waiting, stopped at the next prefill chunk or decode step,
    /// KV blocks freed, counted as `finished_reason="abort"`. Unknown or finished ids are ignored.
    func cancel(requestID: GenerationRequestID)

    /// Ends one choice early because the API layer decided it is done (a stop string matched, or the first
    /// `</tool_call>` with `parallel_tool_calls: false`). The backend still sends `.finished` for it.
    func stopChoice(requestID: GenerationRequestID, choiceIndex: Int)
}

/// Unique per submitted request (the server's request id).
public struct GenerationRequestID: Hashable, Sendable, CustomStringConvertible {
    public let value: String
    public init(_ value: String) { self.value = value }
    public var description: String { value }
}

/// The sampler settings after server defaults were applied (§6.2, §6.4).
public struct SamplingConfig: Sendable, Equatable {
    public var temperature: Double
    public var topP: Double
    /// nil = off.
    public var topK: Int?
    public var minP: Double
    public var repetitionPenalty: Double
    public var presencePenalty: Double
    public var frequencyPenalty: Double
    /// `(token id, bias)` pairs, applied before penalties.
    public var logitBias: [TokenBias]
    /// Choice i is seeded from (seed, i); nil = random.
    public var seed: UInt64?

    public struct TokenBias: Sendable, Equatable {
        public var tokenId: Int
        public var bias: Double
        public init(tokenId: Int, bias: Double) {
            self.tokenId = tokenId
            self.bias = bias
        }
    }

    public init(
        temperature: Double = 1, topP: Double = 1, topK: Int? = nil, minP: Double = 0, repetitionPenalty: Double = 1,
        presencePenalty: Double = 0, frequencyPenalty: Double = 0, logitBias: [TokenBias] = [], seed: UInt64? = nil
    ) {
        self.temperature = temperature
        self.topP = topP
        self.topK = topK
        self.minP = minP
        self.repetitionPenalty = repetitionPenalty
        self.presencePenalty = presencePenalty
        self.frequencyPenalty = frequencyPenalty
        self.logitBias = logitBias
        self.seed = seed
    }
}

/// One request as the engine sees it.
public struct GenerationRequest: Sendable {
    public var id: GenerationRequestID
    /// [promptTokenCount]
    public var promptTokenIds: [Int]
    public var sampling: SamplingConfig
    /// Per choice, counted in sampled tokens.
    public var maxTokens: Int
    /// End-of-sequence ids (from `generation_config.json`); ignored when `ignoreEOS`.
    public var eosTokenIds: Set<Int>
    /// The request's `stop_token_ids`: always end the choice, even with `ignoreEOS`.
    public var stopTokenIds: Set<Int>
    public var ignoreEOS: Bool
    /// Independent sequences sharing the prompt.
    public var choiceCount: Int
    /// nil: no logprobs; else the number of alternatives per token (0 ... 20).
    public var logprobCount: Int?
    /// Token ids that may never be sampled (e.g. `<tool_call>` under `tool_choice: "none"`).
    public var bannedTokenIds: [Int]
    /// Constrained decoding (tool_choice required/named, json_object, json_schema); nil = unconstrained.
    public var constraint: (any TokenConstraintFactory)?
    /// Seconds since the epoch when the request passed validation ("arrival" for the metrics).
    public var arrivalTime: Double

    public init(
        id: GenerationRequestID, promptTokenIds: [Int], sampling: SamplingConfig, maxTokens: Int,
        eosTokenIds: Set<Int>, stopTokenIds: Set<Int> = [], ignoreEOS: Bool = false, choiceCount: Int = 1, logprobCount: Int? = nil,
        bannedTokenIds: [Int] = [], constraint: (any TokenConstraintFactory)? = nil, arrivalTime: Double = 0
    ) {
        self.id = id
        self.promptTokenIds = promptTokenIds
        self.sampling = sampling
        self.maxTokens = maxTokens
        self.eosTokenIds = eosTokenIds
        self.stopTokenIds = stopTokenIds
        self.ignoreEOS = ignoreEOS
        self.choiceCount = choiceCount
        self.logprobCount = logprobCount
        self.bannedTokenIds = bannedTokenIds
        self.constraint = constraint
        self.arrivalTime = arrivalTime
    }
}

public enum AdmissionResult: Sendable {
    case accepted(AsyncStream<GenerationEvent>)
    /// 429 with `Retry-After` (whole seconds >= 1, estimated from the drain rate).
    case queueFull(retryAfterSeconds: Int)
    /// A request the engine cannot take (e.g. 503 while loading or draining).
    case rejected(status: Int, code: String, message: String, retryAfterSeconds: Int?)
}

/// One sampled token with its log-probabilities (raw distribution, before bias and penalties).
public struct SampledToken: Sendable, Equatable {
    public var id: Int
    /// nil unless logprobs were requested.
    public var logprob: Double?
    /// (id, logprob) by descending logprob, `logprobCount` entries.
    public var topLogprobs: [(id: Int, logprob: Double)]

    public init(id: Int, logprob: Double? = nil, topLogprobs: [(id: Int, logprob: Double)] = []) {
        self.id = id
        self.logprob = logprob
        self.topLogprobs = topLogprobs
    }

    public static func == (lhs: SampledToken, rhs: SampledToken) -> Bool {
        lhs.id == rhs.id && lhs.logprob == rhs.logprob && lhs.topLogprobs.map(\.id) == rhs.topLogprobs.map(\.id)
            && lhs.topLogprobs.map(\.logprob) == rhs.topLogprobs.map(\.logprob)
    }
}

public enum GenerationFinishReason: Sendable, Equatable {
    /// An EOS or stop token id was sampled (it is the last token of the step).
    case stopToken
    /// `maxTokens` reached or the context is full.
    case length
    /// `stopChoice` was honoured.
    case stoppedByClient
    /// `cancel` was honoured.
    case cancelled
}

public enum GenerationEvent: Sendable, Equatable {
    /// The request left the queue; `cachedPromptTokenCount` prompt tokens came from the prefix cache.
    case scheduled(cachedPromptTokenCount: Int)
    /// What one engine step produced for one choice: the accepted tokens (several with MTP; none after a stop token)
    /// and, on the step that ends the choice, why. The finish rides on the step so the API can merge it with the last
    /// text (§6.10). `tokens` may be empty (a cancelled or stopped choice).
    case step(choiceIndex: Int, tokens: [SampledToken], finish: GenerationFinishReason?)
    /// An engine failure for this request after admission.
    case failed(message: String)
}
