import KVCache
import Models

/// The Ling model behind the engine's `StepModel` protocol: a scheduled step becomes one flat `ForwardBatch` over
/// the paged KV storage, with logits for the last row of every sampling sequence.
public final class LingStepModel: StepModel {
    public let model: LingModel
    public let kv: KVStorage
    public var vocabularySize: Int { model.config.vocabSize }
    public var kvBlockCount: Int { kv.blockCount }
    public var kvBlockSize: Int { kv.blockSize }
    public var expertWorkers: [ExpertWorkerStats] {
        (model.expertExecutor as? ExpertParallelExecutor)?.workerStats ?? []
    }

    // Reused across steps: the batch description is rebuilt in place. // [tokenCount]
    private var tokenIds: [Int32] = []
    private var positions: [Int32] = []
    private var sequenceIndices: [Int32] = []

    public init(model: LingModel, kvBlockCount: Int, kvBlockSize: Int, precision: KVStorage.Precision = .f32) throws {
        self.model = model
        kv = try model.makeKVStorage(blockCount: kvBlockCount, blockSize: kvBlockSize, precision: precision)
    }

    public func run(_ step: SchedulerStep, body: (UnsafeMutableBufferPointer<Float>) -> Void) throws {
        tokenIds.removeAll(keepingCapacity: true)
        positions.removeAll(keepingCapacity: true)
        sequenceIndices.removeAll(keepingCapacity: true)
        var sequences: [SequenceSlots] = []
        var logitRows: [Int32] = []
        sequences.reserveCapacity(step.sequences.count)
        for (index, item) in step.sequences.enumerated() {
            for (offset, token) in item.tokenIds.enumerated() {
                tokenIds.append(Int32(token))
                positions.append(Int32(item.startPosition + offset))
                sequenceIndices.append(Int32(index))
            }
            if item.samples { logitRows.append(Int32(tokenIds.count - 1)) }
            sequences.append(
                SequenceSlots(
                    blockTable: item.blockTable.map { Int32($0) }, contextLength: item.startPosition + item.tokenIds.count))
        }
        let batch = ForwardBatch(
            tokenIds: tokenIds, positions: positions, sequenceIndices: sequenceIndices, sequences: sequences,
            logitRows: logitRows)
        var output = try model.forward(batch, kv: kv)
        output.logits.withUnsafeMutableBufferPointer { body($0) }
    }
}
