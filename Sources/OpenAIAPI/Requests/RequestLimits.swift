/// Server-side caps that request validation enforces (`openai-compat.md` §5). Defaults are the contract's.
public struct RequestLimits: Sendable, Equatable {
    /// Largest valid token id (the vocabulary size minus one). Default: 157152.
    public var maxTokenId: Int
    /// `--max-n`. Default: 8.
    public var maxN: Int
    /// Stop strings per request. Default: 16.
    public var maxStopCount: Int
    /// UTF-8 bytes per stop string. Default: 256.
    public var maxStopBytes: Int
    /// Tools per request. Default: 128.
    public var maxToolCount: Int
    /// `logit_bias` entries. Default: 1024.
    public var maxLogitBiasCount: Int
    /// `top_logprobs` (chat). Default: 20.
    public var maxTopLogprobs: Int
    /// `logprobs` (completions). Default: 5.
    public var maxCompletionLogprobs: Int
    /// Prompts in one completions request. Default: 16.
    public var maxPromptCount: Int
    /// Largest token count a request may ask for (`max_tokens`, `max_completion_tokens`, `top_k`). A sanity bound
    /// far above any context, so that every later sum (prompt + n × max_tokens) fits; a count within it but beyond
    /// the context is a `context_length_exceeded` error. Default: 2^31 - 1.
    public static let maxRequestedTokenCount = Int(Int32.max)

    public init(
        maxTokenId: Int = 157_152, maxN: Int = 8, maxStopCount: Int = 16, maxStopBytes: Int = 256,
        maxToolCount: Int = 128, maxLogitBiasCount: Int = 1024, maxTopLogprobs: Int = 20,
        maxCompletionLogprobs: Int = 5, maxPromptCount: Int = 16
    ) {
        self.maxTokenId = maxTokenId
        self.maxN = maxN
        self.maxStopCount = maxStopCount
        self.maxStopBytes = maxStopBytes
        self.maxToolCount = maxToolCount
        self.maxLogitBiasCount = maxLogitBiasCount
        self.maxTopLogprobs = maxTopLogprobs
        self.maxCompletionLogprobs = maxCompletionLogprobs
        self.maxPromptCount = maxPromptCount
    }
}
