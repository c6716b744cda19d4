/// One sequence's view of the paged KV storage during a forward pass.
public struct SequenceSlots: Sendable, Equatable {
    /// Block ids in position order: position p lives in slot blockTable[p / blockSize] * blockSize + p % blockSize.
    public var blockTable: [Int32]
    /// Positions 0..<contextLength are valid after this pass (cached ones plus the ones this batch writes).
    public var contextLength: Int

    public init(blockTable: [Int32], contextLength: Int) {
        self.blockTable = blockTable
        self.contextLength = contextLength
    }
}

/// A flat batch of tokens from one or more sequences, run in ONE forward pass (prefill chunks, decode steps and
/// speculative verification rows mix freely). Token t of sequence s at position p attends to positions 0...p of s:
/// the ones already cached and the ones this batch writes (causal within the batch).
///
/// Results do not depend on the batch composition: each token's logits are bit-identical whether it runs alone
/// or with other sequences (batch-invariant kernels, per-token attention, fixed MoE combine order).
public struct ForwardBatch: Sendable, Equatable {
    public var tokenIds: [Int32]          // [tokenCount]
    public var positions: [Int32]         // [tokenCount]
    public var sequenceIndices: [Int32]   // [tokenCount], index into `sequences`
    public var sequences: [SequenceSlots]
    /// Token rows whose logits are computed, in output order (e.g. the last row of each sequence).
    public var logitRows: [Int32]
    /// Return the final-normed hidden state of every token (the MTP layer's input).
    public var returnsHidden: Bool

    public init(tokenIds: [Int32], positions: [Int32], sequenceIndices: [Int32], sequences: [SequenceSlots],
                logitRows: [Int32], returnsHidden: Bool = false) {
        self.tokenIds = tokenIds
        self.positions = positions
        self.sequenceIndices = sequenceIndices
        self.sequences = sequences
        self.logitRows = logitRows
        self.returnsHidden = returnsHidden
    }

    public var tokenCount: Int { tokenIds.count }

    /// One sequence: `tokens` at positions start..<start+count, logits for the last row (or all rows).
    public static func single(tokens: [Int32], startPosition: Int, blockTable: [Int32], allLogits: Bool = false,
                              returnsHidden: Bool = false) -> ForwardBatch {
        let count = tokens.count
        return ForwardBatch(
            tokenIds: tokens, positions: (0..<count).map { Int32(startPosition + $0) },
            sequenceIndices: [Int32](repeating: 0, count: count),
            sequences: [SequenceSlots(blockTable: blockTable, contextLength: startPosition + count)],
            logitRows: allLogits ? (0..<count).map { Int32($0) } : (count > 0 ? [Int32(count - 1)] : []),
            returnsHidden: returnsHidden)
    }
}

/// What a forward pass returns.
public struct ForwardOutput: Sendable {
    /// [logitRows.count, vocabSize], f32.
    public var logits: [Float]
    public var vocabSize: Int
    /// [tokenCount, hiddenSize] final-normed hidden states when `returnsHidden`, else empty.
    public var hidden: [Float]

    public var rowCount: Int { vocabSize == 0 ? 0 : logits.count / vocabSize }

    /// Row r of the logits.
    public func row(_ r: Int) -> ArraySlice<Float> { logits[(r * vocabSize)..<((r + 1) * vocabSize)] }
}

/// What a forward pass leaves in the model's scratch, without a copy: valid until the model's next pass. The engine
/// reads its step through this, so no step allocates a logits or hidden-state array.
public struct ForwardView {
    /// [logitRows.count, vocabSize], f32.
    public let logits: UnsafeMutableBufferPointer<Float>
    public let vocabSize: Int
    /// [tokenCount, hiddenSize] final-normed hidden states when `returnsHidden`, else empty.
    public let hidden: UnsafeBufferPointer<Float>

    /// A copy that outlives the next pass.
    public var copied: ForwardOutput { ForwardOutput(logits: Array(logits), vocabSize: vocabSize, hidden: Array(hidden)) }
}
