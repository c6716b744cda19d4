import Foundation
import Tensors

/// The routed tokens of one MoE layer, grouped by expert. Assignment row r = t * expertsPerToken + k is token t's
/// k-th choice; the rows of expert e are groupRows[groupOffsets[e] ..< groupOffsets[e + 1]], in token order.
public struct ExpertGroups: @unchecked Sendable {
    public let expertCount: Int
    public let expertsPerToken: Int
    public let groupOffsets: UnsafePointer<Int32>   // [expertCount + 1]
    public let groupRows: UnsafePointer<Int32>      // [tokenCount * expertsPerToken]

    /// Rows assigned to `expert`.
    @inline(__always)
    public func rows(of expert: Int) -> UnsafeBufferPointer<Int32> {
        let begin = Int(groupOffsets[expert])
        return UnsafeBufferPointer(start: groupRows + begin, count: Int(groupOffsets[expert + 1]) - begin)
    }
}

/// The shared expert of an MoE layer, evaluated with the routed ones: output[t] = SwiGLU_shared(input[t]) for
/// every token. output: [tokenCount, hiddenSize].
public struct SharedExpertJob: @unchecked Sendable {
    public let weights: SwiGLUWeights
    public let output: UnsafeMutablePointer<Float>

    public init(weights: SwiGLUWeights, output: UnsafeMutablePointer<Float>) {
        self.weights = weights
        self.output = output
    }
}

/// Runs the experts of one MoE layer. The model computes the routing, hands over the token groups, and combines
/// the outputs itself in a fixed order; an executor only evaluates experts. The local executor runs the grouped
/// GEMMs on this machine; an expert-parallel one ships groups to the workers owning those experts.
public protocol ExpertExecutor: AnyObject {
    /// For every expert e and every row r of its group: output[r] = SwiGLU_e(input[r / expertsPerToken]), and the
    /// shared expert over every token when `shared` is given.
    /// - input: [tokenCount, hiddenSize]; output: [tokenCount * expertsPerToken, hiddenSize].
    /// Rows must be bit-identical whatever other tokens are in the call (use batch-invariant kernels).
    func run(layer: Int, experts: [SwiGLUWeights], shared: SharedExpertJob?, input: UnsafePointer<Float>, tokenCount: Int,
             hiddenSize: Int, groups: ExpertGroups, output: UnsafeMutablePointer<Float>)
}

/// Evaluates experts on the local `ComputePool`: the active experts are split across the workers (balanced by
/// their token counts), and each worker runs whole experts as multi-token linears over gathered rows.
public final class LocalExpertExecutor: ExpertExecutor, @unchecked Sendable {
    private let pool: ComputePool
    private var gathered: [ScratchArray<Float>]   // per worker [tokenCount, hiddenSize]
    private var gate: [ScratchArray<Float>]       // per worker [tokenCount, intermediateSize]
    private var up: [ScratchArray<Float>]         // per worker [tokenCount, intermediateSize]
    private var down: [ScratchArray<Float>]       // per worker [tokenCount, hiddenSize]
    private var stage: [ScratchArray<Float>]      // per worker [tokenCount, staged row stride] bf16-compute activations
    private let assignment = ScratchArray<Int32>() // [expertCount] worker of each expert, -1 if idle
    private let sharedGate = ScratchArray<Float>()  // [tokenCount, shared intermediateSize]
    private let sharedUp = ScratchArray<Float>()    // [tokenCount, shared intermediateSize]

    public init(pool: ComputePool) {
        self.pool = pool
        let workers = pool.threadCount
        gathered = (0..<workers).map { _ in ScratchArray<Float>() }
        gate = (0..<workers).map { _ in ScratchArray<Float>() }
        up = (0..<workers).map { _ in ScratchArray<Float>() }
        down = (0..<workers).map { _ in ScratchArray<Float>() }
        stage = (0..<workers).map { _ in ScratchArray<Float>() }
    }

    public func run(layer: Int, experts: [SwiGLUWeights], shared: SharedExpertJob?, input: UnsafePointer<Float>,
                    tokenCount: Int, hiddenSize: Int, groups: ExpertGroups, output: UnsafeMutablePointer<Float>) {
        runRouted(experts: experts, input: input, tokenCount: tokenCount, hiddenSize: hiddenSize, groups: groups, output: output)
        guard let shared else { return }
        // The shared expert tensor-parallel over the pool (split by output rows: same bits as one thread).
        let width = shared.weights.gate.rowCount
        sharedGate.reserve(tokenCount * width)
        sharedUp.reserve(tokenCount * width)
        pool.linear(sharedGate.pointer, yStride: width, input, xStride: hiddenSize, shared.weights.gate, tokenCount: tokenCount)
        pool.linear(sharedUp.pointer, yStride: width, input, xStride: hiddenSize, shared.weights.up, tokenCount: tokenCount)
        swiGLUActivate(sharedGate.pointer, sharedUp.pointer, count: tokenCount * width)
        pool.linear(shared.output, yStride: hiddenSize, sharedGate.pointer, xStride: width, shared.weights.down, tokenCount: tokenCount)
    }

    private func runRouted(experts: [SwiGLUWeights], input: UnsafePointer<Float>, tokenCount: Int, hiddenSize: Int,
                           groups: ExpertGroups, output: UnsafeMutablePointer<Float>) {
        let workerCount = pool.threadCount
        let width = experts.first?.gate.rowCount ?? 0
        for w in 0..<workerCount {
            gathered[w].reserve(tokenCount * hiddenSize)
            gate[w].reserve(tokenCount * width)
            up[w].reserve(tokenCount * width)
            down[w].reserve(tokenCount * hiddenSize)
        }
        assignment.reserve(groups.expertCount)
        // Cost of an expert ~ reading its weights (constant) + its rows.
        let overhead = 4
        var total = 0
        for e in 0..<groups.expertCount {
            let count = groups.rows(of: e).count
            if count > 0 { total += count + overhead }
        }
        var before = 0
        for e in 0..<groups.expertCount {
            let count = groups.rows(of: e).count
            if count == 0 {
                assignment.pointer[e] = -1
                continue
            }
            let cost = count + overhead
            assignment.pointer[e] = Int32(min((before + cost / 2) * workerCount / max(total, 1), workerCount - 1))
            before += cost
        }
        pool.run { worker, _ in
            let x = self.gathered[worker].pointer
            let g = self.gate[worker].pointer
            let u = self.up[worker].pointer
            let d = self.down[worker].pointer
            let stage = self.stage[worker]
            for e in 0..<groups.expertCount where Int(self.assignment.pointer[e]) == worker {
                let rows = groups.rows(of: e)
                let n = rows.count
                for (i, row) in rows.enumerated() {
                    (x + i * hiddenSize).update(from: input + (Int(row) / groups.expertsPerToken) * hiddenSize,
                                                count: hiddenSize)
                }
                experts[e].apply(x, rowCount: n, gate: g, up: u, output: d, stage: stage)
                for (i, row) in rows.enumerated() {
                    (output + Int(row) * hiddenSize).update(from: d + i * hiddenSize, count: hiddenSize)
                }
            }
        }
    }
}

extension SwiGLUWeights {
    /// output = down(silu(gate(x)) * up(x)) on this thread, for x: [rowCount, hiddenSize] (row stride hiddenSize);
    /// gate and up: [rowCount, intermediateSize] scratch; output: [rowCount, hiddenSize]; stage: the bf16-compute
    /// activations (`Kernels.linear`).
    @inline(__always)
    func apply(_ x: UnsafePointer<Float>, rowCount n: Int, gate g: UnsafeMutablePointer<Float>,
               up u: UnsafeMutablePointer<Float>, output: UnsafeMutablePointer<Float>, stage: ScratchArray<Float>) {
        let width = gate.rowCount
        let hiddenSize = gate.columnCount
        Kernels.linear(g, yStride: width, x, xStride: hiddenSize, gate, tokenCount: n, rows: 0..<width, stage: stage)
        Kernels.linear(u, yStride: width, x, xStride: hiddenSize, up, tokenCount: n, rows: 0..<width, stage: stage)
        swiGLUActivate(g, u, count: n * width)
        Kernels.linear(output, yStride: hiddenSize, g, xStride: width, down, tokenCount: n, rows: 0..<hiddenSize,
                       stage: stage)
    }
}

/// gate[i] = silu(gate[i]) * up[i]
@inline(__always)
func swiGLUActivate(_ gate: UnsafeMutablePointer<Float>, _ up: UnsafePointer<Float>, count: Int) {
    for i in 0..<count {
        let g = gate[i]
        gate[i] = g / (1 + expf(-g)) * up[i]
    }
}
