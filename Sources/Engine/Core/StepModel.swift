import KVCache
import Models

/// The model as the engine loop sees it: it runs one scheduled step (a flat batch of token chunks from several
/// sequences, each with its KV block table) and hands back one row of logits per sequence that samples.
///
/// Owned by the engine thread (not Sendable); create it on that thread through `EngineConfiguration.makeModel`.
public protocol StepModel: AnyObject {
    var vocabularySize: Int { get }
    /// KV blocks the model's storage holds, and tokens per block; the engine sizes its block pool from these.
    var kvBlockCount: Int { get }
    var kvBlockSize: Int { get }

    /// Computes `step` and calls `body` with the logits of the sampling sequences, in step order:
    /// `[samplingSequenceCount, vocabularySize]`, row-major. The buffer is valid only during the call.
    func run(_ step: SchedulerStep, body: (UnsafeMutableBufferPointer<Float>) -> Void) throws

    /// Expert-parallel workers' counters since start, for /metrics (read on the engine thread between steps).
    var expertWorkers: [ExpertWorkerStats] { get }
}

extension StepModel {
    /// Expert-parallel workers' counters (empty when the model does not run expert-parallel).
    public var expertWorkers: [ExpertWorkerStats] { [] }
}
