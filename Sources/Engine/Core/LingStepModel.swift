import KVCache
import Models

/// The Ling model behind the engine's `StepModel` protocol: a scheduled step becomes one flat `ForwardBatch` over
/// the paged KV storage, with logits for the last row of every sampling sequence (and for its draft rows).
///
/// With `drafting`, the checkpoint's MTP layer is the drafter (SGLang's NEXTN recipe): its KV lives in the same
/// storage (layer `num_hidden_layers`) under the same block tables, so rolling back rejected tokens needs nothing
/// but not counting them: their slots are rewritten by the next pass before anything attends to them.
public final class LingStepModel: StepModel {
    public let model: LingModel
    public let kv: KVStorage
    public let drafting: Bool
    public var vocabularySize: Int { model.config.vocabSize }
    public var kvBlockCount: Int { kv.blockCount }
    public var kvBlockSize: Int { kv.blockSize }
    public var expertWorkers: [ExpertWorkerStats] {
        (model.expertExecutor as? ExpertParallelExecutor)?.workerStats ?? []
    }
    public var canDraft: Bool { drafting }

    // Reused across steps: the batch description is rebuilt in place. // [tokenCount]
    private var tokenIds: [Int32] = []
    private var positions: [Int32] = []
    private var sequenceIndices: [Int32] = []
    /// Final-normed hidden states of the last main pass, kept for the drafter. // [tokenCount, hiddenSize]
    private var mainHidden: [Float] = []
    /// First row of each sequence of the last main pass. // [sequenceCount]
    private var rowOffsets: [Int] = []
    /// The drafter's input hidden states, gathered per pass. // [draftRows, hiddenSize]
    private var draftHidden: [Float] = []

    /// Throws when `drafting` is asked of a checkpoint without an MTP layer.
    public init(
        model: LingModel, kvBlockCount: Int, kvBlockSize: Int, precision: KVStorage.Precision = .f32, drafting: Bool = false
    ) throws {
        if drafting && !model.hasMTP {
            throw EngineError("\(model.directory) has no MTP layer (num_nextn_predict_layers = 0): MTP speculative decoding is not available")
        }
        self.model = model
        self.drafting = drafting
        kv = try model.makeKVStorage(blockCount: kvBlockCount, blockSize: kvBlockSize, precision: precision)
    }

    private func resetBatch() {
        tokenIds.removeAll(keepingCapacity: true)
        positions.removeAll(keepingCapacity: true)
        sequenceIndices.removeAll(keepingCapacity: true)
    }

    public func run(_ step: SchedulerStep, body: (UnsafeMutableBufferPointer<Float>) -> Void) throws {
        resetBatch()
        rowOffsets.removeAll(keepingCapacity: true)
        var sequences: [SequenceSlots] = []
        var logitRows: [Int32] = []
        sequences.reserveCapacity(step.sequences.count)
        for (index, item) in step.sequences.enumerated() {
            rowOffsets.append(tokenIds.count)
            var position = item.startPosition
            for token in item.tokenIds {
                tokenIds.append(Int32(token))
                positions.append(Int32(position))
                sequenceIndices.append(Int32(index))
                position += 1
            }
            for token in item.draftTokenIds {
                tokenIds.append(Int32(token))
                positions.append(Int32(position))
                sequenceIndices.append(Int32(index))
                position += 1
            }
            if item.samples {
                // The last token row, then each draft row: logits row j verifies draft j.
                let last = rowOffsets[index] + item.tokenIds.count - 1
                for j in 0...item.draftTokenIds.count { logitRows.append(Int32(last + j)) }
            }
            sequences.append(
                SequenceSlots(blockTable: item.blockTable.map { Int32($0) }, contextLength: item.startPosition + item.rowCount))
        }
        let batch = ForwardBatch(
            tokenIds: tokenIds, positions: positions, sequenceIndices: sequenceIndices, sequences: sequences,
            logitRows: logitRows, returnsHidden: drafting)
        let output = try model.forwardInScratch(batch, kv: kv)
        if drafting {  // kept past later passes for the drafter, in a buffer that keeps its capacity
            mainHidden.removeAll(keepingCapacity: true)
            mainHidden.append(contentsOf: output.hidden)
        }
        body(output.logits)
    }

    /// The MTP layer over the final rows (row t pairs the main hidden state at position p with the token at p + 1),
    /// then `draftCount - 1` more MTP passes, each feeding back the MTP's own output hidden state and last draft one
    /// position further (the recursive NEXTN drafter). All sequences share each pass.
    public func draft(
        _ step: SchedulerStep, work: [DraftWork], pick: (Int, UnsafeMutableBufferPointer<Float>) -> Int
    ) throws -> [[Int]] {
        guard drafting else { throw EngineError("this model was not set up for drafting") }
        let hiddenSize = model.config.hiddenSize
        var drafts = [[Int]](repeating: [], count: work.count)
        guard !work.isEmpty else { return drafts }

        // 1. Catch-up pass: the MTP layer's KV for every final row; logits for the last row of drafting sequences.
        resetBatch()
        draftHidden.removeAll(keepingCapacity: true)
        var sequences: [SequenceSlots] = []
        var logitRows: [Int32] = []
        var logitOwners: [Int] = []  // work index of each logit row
        var lastRow = [Int](repeating: -1, count: work.count)  // batch row of each work item's last final row
        for (w, item) in work.enumerated() where item.rowCount > 0 {
            guard step.sequences.indices.contains(item.sequenceIndex), rowOffsets.indices.contains(item.sequenceIndex),
                item.nextTokenIds.count == item.rowCount
            else { throw EngineError("draft: work item \(w) does not match the last step") }
            let scheduled = step.sequences[item.sequenceIndex]
            let offset = rowOffsets[item.sequenceIndex]
            guard item.rowCount <= scheduled.rowCount, (offset + item.rowCount) * hiddenSize <= mainHidden.count else {
                throw EngineError("draft: work item \(w) covers rows the last step did not compute")
            }
            let slot = Int32(sequences.count)
            for r in 0..<item.rowCount {
                tokenIds.append(Int32(item.nextTokenIds[r]))
                positions.append(Int32(scheduled.startPosition + r))
                sequenceIndices.append(slot)
            }
            draftHidden.append(contentsOf: mainHidden[(offset * hiddenSize)..<((offset + item.rowCount) * hiddenSize)])
            lastRow[w] = tokenIds.count - 1
            if item.draftCount > 0 {
                logitRows.append(Int32(tokenIds.count - 1))
                logitOwners.append(w)
            }
            sequences.append(
                SequenceSlots(
                    blockTable: item.blockTable.map { Int32($0) }, contextLength: scheduled.startPosition + item.rowCount))
        }
        guard !tokenIds.isEmpty else { return drafts }
        let recursive = work.contains { $0.draftCount > 1 }
        var output = try forwardMTP(
            ForwardBatch(
                tokenIds: tokenIds, positions: positions, sequenceIndices: sequenceIndices, sequences: sequences,
                logitRows: logitRows, returnsHidden: recursive))
        let vocabularySize = model.config.vocabSize
        for (r, w) in logitOwners.enumerated() {
            let row = UnsafeMutableBufferPointer(rebasing: output.logits[(r * vocabularySize)..<((r + 1) * vocabularySize)])
            drafts[w].append(pick(w, row))
        }

        // 2. Recursive passes: one row per sequence still drafting, at the next position.
        var previousRows = logitOwners.map { lastRow[$0] }  // row of each active sequence in `output.hidden`
        var active = logitOwners
        var depth = 1
        while true {
            var nextActive: [Int] = []
            var nextPrevious: [Int] = []
            for (a, w) in active.enumerated() where work[w].draftCount > depth {
                nextActive.append(w)
                nextPrevious.append(previousRows[a])
            }
            guard !nextActive.isEmpty else { break }
            resetBatch()
            draftHidden.removeAll(keepingCapacity: true)
            sequences.removeAll(keepingCapacity: true)
            logitRows.removeAll(keepingCapacity: true)
            for (a, w) in nextActive.enumerated() {
                let item = work[w]
                let position = step.sequences[item.sequenceIndex].startPosition + item.rowCount - 1 + depth
                tokenIds.append(Int32(drafts[w][depth - 1]))
                positions.append(Int32(position))
                sequenceIndices.append(Int32(a))
                let row = nextPrevious[a]
                draftHidden.append(contentsOf: output.hidden[(row * hiddenSize)..<((row + 1) * hiddenSize)])
                logitRows.append(Int32(a))
                sequences.append(SequenceSlots(blockTable: item.blockTable.map { Int32($0) }, contextLength: position + 1))
            }
            output = try forwardMTP(
                ForwardBatch(
                    tokenIds: tokenIds, positions: positions, sequenceIndices: sequenceIndices, sequences: sequences,
                    logitRows: logitRows, returnsHidden: true))
            for (r, w) in nextActive.enumerated() {
                let row = UnsafeMutableBufferPointer(rebasing: output.logits[(r * vocabularySize)..<((r + 1) * vocabularySize)])
                drafts[w].append(pick(w, row))
            }
            active = nextActive
            previousRows = Array(nextActive.indices)
            depth += 1
        }
        return drafts
    }

    /// The MTP layer over `draftHidden`, results left in the model's scratch (valid until its next pass).
    private func forwardMTP(_ batch: ForwardBatch) throws -> ForwardView {
        try draftHidden.withUnsafeBufferPointer { hidden in try model.forwardMTPInScratch(batch, hidden: hidden, kv: kv) }
    }
}
