import Tensors

/// An expert worker in this process: runs each segment as grouped GEMMs (gate, up, SwiGLU, down) over the
/// segment's rows with the batch-invariant kernels, reading the experts' weights where the checkpoint is mapped.
public final class LocalExpertWorker: ExpertWorker, @unchecked Sendable {
    /// experts[layer][e]: routed experts of each layer slot (empty for dense layers).
    private let experts: [[SwiGLUWeights]]
    /// shared[layer]: the shared expert of each layer slot (segment expert id -1).
    private let shared: [SwiGLUWeights?]
    private let gathered = ScratchArray<Float>()   // [segment rows, hiddenSize]
    private let gate = ScratchArray<Float>()       // [segment rows, intermediateSize]
    private let up = ScratchArray<Float>()         // [segment rows, intermediateSize]
    private let stage = ScratchArray<Float>()      // [segment rows, staged row stride] bf16-compute activations

    init(experts: [[SwiGLUWeights]], shared: [SwiGLUWeights?]) {
        self.experts = experts
        self.shared = shared
    }

    public func process(_ dispatch: ExpertDispatch, into combine: ExpertCombine) {
        let hiddenSize = dispatch.hiddenSize
        let layerExperts = experts[dispatch.layer]
        let layerShared = shared[dispatch.layer]
        let width = max(layerExperts.first?.gate.rowCount ?? 0, layerShared?.gate.rowCount ?? 0)
        var largest = 0
        for s in 0..<dispatch.segmentCount { largest = max(largest, Int(dispatch.segmentRowCounts[s])) }
        gathered.reserve(largest * hiddenSize)
        gate.reserve(largest * width)
        up.reserve(largest * width)
        combine.outputBuffer.reserve(dispatch.rowCount * hiddenSize)
        combine.rowCount = dispatch.rowCount
        let x = gathered.pointer
        let g = gate.pointer
        let u = up.pointer
        var row = 0
        for s in 0..<dispatch.segmentCount {
            let n = Int(dispatch.segmentRowCounts[s])
            let id = Int(dispatch.segmentExperts[s])
            guard let expert = id >= 0 ? layerExperts[id] : layerShared else {
                row += n
                continue
            }
            for i in 0..<n {
                (x + i * hiddenSize).update(from: dispatch.tokens + Int(dispatch.rowTokens[row + i]) * hiddenSize,
                                            count: hiddenSize)
            }
            expert.apply(x, rowCount: n, gate: g, up: u, output: combine.outputs + row * hiddenSize, stage: stage)
            row += n
        }
    }
}
