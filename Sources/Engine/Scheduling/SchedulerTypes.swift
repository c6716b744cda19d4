import KVCache

/// Limits the scheduler works within.
public struct SchedulerConfiguration: Sendable {
    /// Most tokens computed in one forward pass (`--max-batched-tokens`): decode tokens first, then prompt chunks.
    public var maxBatchedTokenCount: Int
    /// Most sequences in the running batch (`--max-running-requests`).
    public var maxRunningSequenceCount: Int
    /// Longest sequence (prompt + output) a request may reach (`--max-model-len`).
    public var maxModelLength: Int
    /// Reuse KV blocks of identical prompt prefixes.
    public var enablePrefixCaching: Bool
    /// Extra KV slots reserved per sequence for speculative tokens verified in the same step.
    public var lookaheadTokenCount: Int

    public init(
        maxBatchedTokenCount: Int = 2048, maxRunningSequenceCount: Int = 64, maxModelLength: Int = 32768,
        enablePrefixCaching: Bool = true, lookaheadTokenCount: Int = 0
    ) {
        self.maxBatchedTokenCount = maxBatchedTokenCount
        self.maxRunningSequenceCount = maxRunningSequenceCount
        self.maxModelLength = maxModelLength
        self.enablePrefixCaching = enablePrefixCaching
        self.lookaheadTokenCount = lookaheadTokenCount
    }
}

/// What the engine asks the scheduler to run: token ids in, token ids out.
public struct SequenceRequest: Sendable {
    public var id: Int
    public var promptTokenIds: [Int]
    /// Most tokens to generate (the API's max_tokens, already clipped to the context).
    public var maxNewTokenCount: Int
    /// Sampling any of these ends the sequence (unless `ignoreEOS`); the token counts as generated.
    public var stopTokenIds: Set<Int>
    public var ignoreEOS: Bool

    public init(id: Int, promptTokenIds: [Int], maxNewTokenCount: Int, stopTokenIds: Set<Int> = [], ignoreEOS: Bool = false) {
        self.id = id
        self.promptTokenIds = promptTokenIds
        self.maxNewTokenCount = maxNewTokenCount
        self.stopTokenIds = stopTokenIds
        self.ignoreEOS = ignoreEOS
    }
}

/// Why a sequence ended.
public enum FinishReason: String, Sendable, Equatable {
    /// A stop token (EOS or `stop_token_ids`), or a stop string found by the caller.
    case stop
    /// `maxNewTokenCount` or the context length reached.
    case length
    /// Cancelled (client gone) or failed.
    case abort
}

/// One sequence's share of a step: compute `tokenIds` at positions `startPosition...`, writing their K/V through
/// `blockTable`; when `samples` is true the last row's logits pick the next token. With speculative decoding a
/// decode step also carries `draftTokenIds`, computed right after `tokenIds` (positions continue) and verified
/// against the logits of the last token row and of every draft row.
public struct ScheduledSequence: Sendable, Equatable {
    public var id: Int
    public var tokenIds: [Int]
    public var startPosition: Int
    /// Physical KV block of each logical block, covering at least startPosition + rowCount positions.
    public var blockTable: [Int]
    public var samples: Bool
    /// Speculative tokens to verify (empty unless `samples`).
    public var draftTokenIds: [Int] = []

    public init(id: Int, tokenIds: [Int], startPosition: Int, blockTable: [Int], samples: Bool, draftTokenIds: [Int] = []) {
        self.id = id
        self.tokenIds = tokenIds
        self.startPosition = startPosition
        self.blockTable = blockTable
        self.samples = samples
        self.draftTokenIds = draftTokenIds
    }

    /// Rows this sequence adds to the forward pass: its tokens, then its drafts.
    public var rowCount: Int { tokenIds.count + draftTokenIds.count }
    /// Logit rows it needs: one per draft plus one, when it samples.
    public var logitRowCount: Int { samples ? draftTokenIds.count + 1 : 0 }
}

/// Everything one forward pass computes, in batch order (running sequences first, oldest first).
public struct SchedulerStep: Sendable {
    public var sequences: [ScheduledSequence]
    /// Sequences preempted while building this step (their blocks were freed; they will be recomputed).
    public var preemptedIds: [Int]

    public var tokenCount: Int { sequences.reduce(0) { $0 + $1.rowCount } }
    public var isEmpty: Bool { sequences.isEmpty }
}

/// What a step produced for one sequence, as the engine reports it back to its caller.
public struct SequenceUpdate: Sendable, Equatable {
    public var id: Int
    /// Tokens appended this step (0 during a prefill chunk, 1 normally, more with speculative decoding).
    public var newTokenIds: [Int]
    public var finishReason: FinishReason?
}

/// Admission refusals: values the caller turns into API errors.
public enum AdmissionError: Error, Equatable, Sendable {
    /// The prompt alone needs more KV blocks than the whole pool holds, or reaches the context length.
    case promptTooLong(promptTokenCount: Int, limit: Int)
    case duplicateId(Int)
}
