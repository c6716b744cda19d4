import KVCache

/// The model as the engine loop sees it: it runs one scheduled step (a flat batch of token chunks from several
/// sequences, each with its KV block table) and hands back the logits of the sequences that sample.
///
/// Owned by the engine thread (not Sendable); create it on that thread through `EngineConfiguration.makeModel`.
public protocol StepModel: AnyObject {
    var vocabularySize: Int { get }
    /// KV blocks the model's storage holds, and tokens per block; the engine sizes its block pool from these.
    var kvBlockCount: Int { get }
    var kvBlockSize: Int { get }

    /// Computes `step` and calls `body` with the logits of the sampling sequences, in step order, each with
    /// `logitRowCount` rows (its last token row, then one row per draft): `[rows, vocabularySize]`, row-major.
    /// The buffer is valid only during the call.
    func run(_ step: SchedulerStep, body: (UnsafeMutableBufferPointer<Float>) -> Void) throws

    /// Whether `draft` works (the model carries a drafter, e.g. an MTP layer, and was set up to use it).
    var canDraft: Bool { get }

    /// After `run(step)` and sampling: brings the drafter up to date over the rows that are now final, then
    /// proposes `draftCount` tokens after each sequence's last final row. `pick(workIndex, logits)` turns one
    /// drafter logit row `[vocabularySize]` into a draft token (it may modify the row). Returns the drafts of each
    /// work item, in order.
    func draft(
        _ step: SchedulerStep, work: [DraftWork], pick: (Int, UnsafeMutableBufferPointer<Float>) -> Int
    ) throws -> [[Int]]
}

extension StepModel {
    public var canDraft: Bool { false }

    public func draft(
        _ step: SchedulerStep, work: [DraftWork], pick: (Int, UnsafeMutableBufferPointer<Float>) -> Int
    ) throws -> [[Int]] {
        throw EngineError("this model has no drafter")
    }
}

/// The drafter's job for one sequence of the step that just ran.
public struct DraftWork: Sendable, Equatable {
    /// Index into `step.sequences`.
    public var sequenceIndex: Int
    /// Leading rows of that sequence that are now final: its tokens, plus the accepted drafts when it sampled.
    public var rowCount: Int
    /// The token that follows each of those rows (the next prompt token, an accepted draft or the sampled token).
    public var nextTokenIds: [Int]  // [rowCount]
    /// Drafts to propose after the last row; 0 only updates the drafter's KV cache.
    public var draftCount: Int
    /// The sequence's block table, covering positions up to `startPosition + rowCount - 1 + draftCount`.
    public var blockTable: [Int]

    public init(sequenceIndex: Int, rowCount: Int, nextTokenIds: [Int], draftCount: Int, blockTable: [Int]) {
        self.sequenceIndex = sequenceIndex
        self.rowCount = rowCount
        self.nextTokenIds = nextTokenIds
        self.draftCount = draftCount
        self.blockTable = blockTable
    }
}
