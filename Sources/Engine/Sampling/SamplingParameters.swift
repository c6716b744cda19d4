/// How one sequence picks its next token. Validation of user input happens at the API edge; the engine checks the
/// ranges again with `validate()` so a bad value from any caller becomes an error, not a crash.
public struct SamplingParameters: Sendable, Equatable {
    /// 0 = greedy (argmax, ties to the lowest id). Otherwise logits are divided by it.
    public var temperature: Float
    /// Nucleus sampling: keep the smallest set of most likely tokens whose mass reaches `topP`. 1 = off.
    public var topP: Float
    /// Keep the `topK` most likely tokens. 0 = off.
    public var topK: Int
    /// Drop tokens whose probability is below `minP` times the top probability. 0 = off.
    public var minP: Float
    /// HF-style: over prompt + generated tokens, positive logits are divided by it, negative ones multiplied. 1 = off.
    public var repetitionPenalty: Float
    /// OpenAI-style, over generated tokens: logit -= presencePenalty if the token appeared at all.
    public var presencePenalty: Float
    /// OpenAI-style, over generated tokens: logit -= frequencyPenalty * count.
    public var frequencyPenalty: Float
    /// Added to the logits of the given token ids before anything else (OpenAI `logit_bias`, -100...100).
    public var logitBias: [Int: Float]
    /// Seed of this sequence's random source; nil draws one from the system.
    public var seed: UInt64?

    public init(
        temperature: Float = 1, topP: Float = 1, topK: Int = 0, minP: Float = 0, repetitionPenalty: Float = 1,
        presencePenalty: Float = 0, frequencyPenalty: Float = 0, logitBias: [Int: Float] = [:], seed: UInt64? = nil
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

    /// Greedy decoding with no penalties.
    public static let greedy = SamplingParameters(temperature: 0)

    public var isGreedy: Bool { temperature == 0 }

    /// True when penalties need the token history.
    public var usesPenalties: Bool { repetitionPenalty != 1 || presencePenalty != 0 || frequencyPenalty != 0 }

    /// Checks every range; `vocabularySize` bounds the `logitBias` keys.
    public func validate(vocabularySize: Int) throws(EngineError) {
        func check(_ ok: Bool, _ message: String) throws(EngineError) {
            if !ok { throw EngineError(message) }
        }
        try check(temperature.isFinite && temperature >= 0, "temperature must be >= 0, got \(temperature)")
        try check(topP.isFinite && topP > 0 && topP <= 1, "top_p must be in (0, 1], got \(topP)")
        try check(topK >= 0, "top_k must be >= 0, got \(topK)")
        try check(minP.isFinite && minP >= 0 && minP <= 1, "min_p must be in [0, 1], got \(minP)")
        try check(repetitionPenalty.isFinite && repetitionPenalty > 0, "repetition_penalty must be > 0")
        try check(presencePenalty.isFinite && frequencyPenalty.isFinite, "penalties must be finite")
        for (id, bias) in logitBias {
            try check(id >= 0 && id < vocabularySize, "logit_bias token id \(id) is outside 0..<\(vocabularySize)")
            try check(bias.isFinite, "logit_bias value for \(id) must be finite")
        }
    }
}
