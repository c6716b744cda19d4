import Tensors

/// The two messages between the expert-parallel coordinator (the model's thread) and one expert worker for one MoE
/// layer. They hold plain numbers only (ids, counts and f32 activations), no pointers into the model, so a transport
/// can copy them across a process or machine boundary unchanged; the local transport just fills them in place.
///
/// Dispatch: tokens [tokenCount, hiddenSize] (each token the worker needs, sent once even when it chose several of
/// the worker's experts), then segments: segment s asks for expert segmentExperts[s] over segmentRowCounts[s] rows,
/// rows listed in segment order, row i reading token rowTokens[i]. Expert id -1 is the layer's shared expert, which
/// every worker holds: its rows are spread over the workers to even out each step's work.
public final class ExpertDispatch: @unchecked Sendable {
    public internal(set) var layer = 0
    public internal(set) var hiddenSize = 0
    public internal(set) var tokenCount = 0
    public internal(set) var segmentCount = 0
    public internal(set) var rowCount = 0
    let tokenBuffer = ScratchArray<Float>()      // [tokenCount, hiddenSize]
    let segmentExpertBuffer = ScratchArray<Int32>()  // [segmentCount]
    let segmentRowBuffer = ScratchArray<Int32>()     // [segmentCount]
    let rowTokenBuffer = ScratchArray<Int32>()       // [rowCount] index into tokens

    public init() {}

    public var tokens: UnsafePointer<Float> { UnsafePointer(tokenBuffer.pointer) }
    public var segmentExperts: UnsafePointer<Int32> { UnsafePointer(segmentExpertBuffer.pointer) }
    public var segmentRowCounts: UnsafePointer<Int32> { UnsafePointer(segmentRowBuffer.pointer) }
    public var rowTokens: UnsafePointer<Int32> { UnsafePointer(rowTokenBuffer.pointer) }

    /// Sizes the buffers for a message of at most these counts (grows only).
    func reserve(hiddenSize: Int, tokenCount: Int, rowCount: Int, expertCount: Int) {
        tokenBuffer.reserve(tokenCount * hiddenSize)
        segmentExpertBuffer.reserve(expertCount)
        segmentRowBuffer.reserve(expertCount)
        rowTokenBuffer.reserve(rowCount)
    }
}

/// Combine: the worker's answer to one dispatch, outputs [rowCount, hiddenSize] in dispatch row order.
public final class ExpertCombine: @unchecked Sendable {
    public internal(set) var rowCount = 0
    let outputBuffer = ScratchArray<Float>()   // [rowCount, hiddenSize]

    public init() {}

    public var outputs: UnsafeMutablePointer<Float> { outputBuffer.pointer }
}

/// One expert-parallel worker: evaluates the experts a dispatch names over its rows. Implementations own the
/// weights of their experts (the local worker reads the model's mapped weights; a remote one would map its own
/// copy of the checkpoint). Must be batch invariant: an output row depends only on its token and expert.
public protocol ExpertWorker: AnyObject {
    func process(_ dispatch: ExpertDispatch, into combine: ExpertCombine)
}
