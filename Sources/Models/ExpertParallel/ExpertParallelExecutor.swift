import Foundation
import Tensors

/// What one expert-parallel worker has done since the executor started.
public struct ExpertWorkerStats: Sendable, Equatable {
    /// Whether the worker's thread is pinned to its CPU.
    public var pinned: Bool
    /// Seconds spent on expert work (receiving tokens, evaluating experts, returning outputs).
    public var busySeconds: Double
    /// Seconds of the expert phases spent waiting for the other workers to finish.
    public var idleSeconds: Double
    /// Tokens received: a token counts once per layer however many of the worker's experts it chose.
    public var tokenCount: Int
    /// (token, routed expert) rows evaluated.
    public var rowCount: Int
    /// Shared-expert rows evaluated (the shared expert's tokens are spread to even out the workers).
    public var sharedRowCount: Int
    /// Experts held now, summed over the MoE layers (replicas included).
    public var expertCount: Int

    public init(pinned: Bool, busySeconds: Double, idleSeconds: Double, tokenCount: Int, rowCount: Int, sharedRowCount: Int,
                expertCount: Int) {
        self.sharedRowCount = sharedRowCount
        self.pinned = pinned
        self.busySeconds = busySeconds
        self.idleSeconds = idleSeconds
        self.tokenCount = tokenCount
        self.rowCount = rowCount
        self.expertCount = expertCount
    }
}

/// Expert parallelism over the model's `ComputePool`: pool worker w is expert worker w, owning a set of experts of
/// every MoE layer (its pages first-touched from its own thread). Per MoE layer the coordinator (the model's
/// thread) plans which rows go where, then every worker receives its tokens, evaluates its experts and returns
/// the rows to their places, all in one pool job; the model combines the rows with the routing weights in a fixed
/// order. The shared expert's tokens are spread over the same job to even out the workers' rows (every worker
/// holds it). Attention and dense layers run tensor-parallel on the same pool threads.
///
/// The output is bit-identical to `LocalExpertExecutor`'s for any worker count and placement: each row is one
/// token through one expert with batch-invariant kernels, and where it is computed does not change its bits.
public final class ExpertParallelExecutor: ExpertExecutor, @unchecked Sendable {
    public let strategy: ExpertPlacementStrategy
    /// Balanced only: a layer is re-placed each time this many more tokens have been routed through it.
    public let rebalanceInterval: Int
    public let replicateHotExperts: Bool
    public var workerCount: Int { pool.threadCount }

    private let pool: ComputePool
    private let expertCount: Int
    private let expertsPerToken: Int
    /// experts[layer]: routed experts of each layer slot (decoder layers, then MTP), empty for dense layers.
    private let experts: [[SwiGLUWeights]]
    private var placements: [LayerPlacement]
    private let workers: [any ExpertWorker]
    private let dispatches: [ExpertDispatch]
    private let combines: [ExpertCombine]
    // Coordinator-side bookkeeping per worker (never part of a message).
    private let sourceTokens: [ScratchArray<Int32>]   // [tokens sent] index of each sent token in the layer input
    /// [rows sent] assignment row (t * K + k) of each dispatched row; -(t + 1) for token t's shared-expert row.
    private let returnRows: [ScratchArray<Int32>]
    private let tokenSlot = ScratchArray<Int32>()     // [workerCount, tokenCount] position of token t in w's dispatch
    private let sharedRows = ScratchArray<Int>()      // [workerCount] shared-expert rows given to each worker
    /// Per worker, 8 words apart (no false sharing): busy ns, idle ns, tokens, routed rows, busy ns at the end of
    /// the previous phase, shared rows.
    private let counters = ScratchArray<UInt64>()
    private static let counterStride = 8
    /// loads[layer][e]: rows routed to expert e so far.
    private var loads: [[Int]]
    private var tokensSincePlacement: [Int]
    /// Calls of at most this many tokens split every expert's weight rows over the workers instead (`runSplit`).
    public static let splitTokenLimit = 2
    private let splitExperts = ScratchArray<Int32>()  // [rows] expert of each (token, expert) row, -1: shared
    private let splitTargets = ScratchArray<Int32>()  // [rows] assignment row, -(t + 1) for token t's shared row
    private let splitGate = ScratchArray<Float>()     // [rows, splitWidth] silu(gate) * up of each row
    private let splitUp = ScratchArray<Float>()       // [rows, splitWidth]
    private let splitStages: [ScratchArray<Float>]    // per worker: bf16-compute activations

    init(model: LingModel, strategy: ExpertPlacementStrategy, rebalanceInterval: Int, replicateHotExperts: Bool) {
        pool = model.pool
        self.strategy = strategy
        self.rebalanceInterval = max(1, rebalanceInterval)
        self.replicateHotExperts = replicateHotExperts
        expertCount = model.config.expertCount
        expertsPerToken = model.config.expertsPerToken
        experts = model.routedExpertsByLayer
        let n = pool.threadCount
        let initial = strategy == .roundRobin
            ? LayerPlacement.roundRobin(expertCount: expertCount, workerCount: n)
            : LayerPlacement.contiguous(expertCount: expertCount, workerCount: n)
        placements = [LayerPlacement](repeating: initial, count: experts.count)
        workers = (0..<n).map { _ in LocalExpertWorker(experts: model.routedExpertsByLayer, shared: model.sharedExpertByLayer) }
        dispatches = (0..<n).map { _ in ExpertDispatch() }
        combines = (0..<n).map { _ in ExpertCombine() }
        splitStages = (0..<n).map { _ in ScratchArray<Float>() }
        sourceTokens = (0..<n).map { _ in ScratchArray<Int32>() }
        returnRows = (0..<n).map { _ in ScratchArray<Int32>() }
        counters.reserve(n * Self.counterStride)
        counters.pointer.initialize(repeating: 0, count: n * Self.counterStride)
        loads = [[Int]](repeating: [Int](repeating: 0, count: model.config.expertCount), count: experts.count)
        tokensSincePlacement = [Int](repeating: 0, count: experts.count)
        firstTouch()
    }

    /// Each worker faults in the pages of the experts it owns, from its own (pinned) thread.
    private func firstTouch() {
        let sinks = ScratchArray<UInt8>(capacity: pool.threadCount * 64)
        pool.run { worker, _ in
            var checksum: UInt8 = 0
            for (layer, layerExperts) in self.experts.enumerated() {
                for (e, expert) in layerExperts.enumerated() where self.placements[layer].owners[e].contains(worker) {
                    for matrix in [expert.gate, expert.up, expert.down] {
                        checksum ^= MemoryPages.touch(matrix.base, byteCount: matrix.byteCount)
                    }
                }
            }
            sinks.pointer[worker * 64] = checksum
        }
    }

    /// The current placement of a layer slot (decoder layer index, or layerCount for the MTP layer).
    public func placement(layer: Int) -> LayerPlacement { placements[layer] }

    /// Rows routed to each expert of `layer` since the executor started ([] for a dense layer).
    public func expertLoads(layer: Int) -> [Int] { experts[layer].isEmpty ? [] : loads[layer] }

    /// Layer slots that have routed experts.
    public var moeLayers: [Int] { experts.indices.filter { !experts[$0].isEmpty } }

    public var workerStats: [ExpertWorkerStats] {
        var experts = [Int](repeating: 0, count: workerCount)
        for layer in moeLayers {
            for (w, count) in placements[layer].workerExpertCounts.enumerated() { experts[w] += count }
        }
        return (0..<workerCount).map { w in
            let c = counters.pointer + w * Self.counterStride
            return ExpertWorkerStats(pinned: pool.isPinned(worker: w), busySeconds: Double(c[0]) * 1e-9,
                                     idleSeconds: Double(c[1]) * 1e-9, tokenCount: Int(c[2]), rowCount: Int(c[3]),
                                     sharedRowCount: Int(c[5]), expertCount: experts[w])
        }
    }

    public func run(layer: Int, experts layerExperts: [SwiGLUWeights], shared: SharedExpertJob?, input: UnsafePointer<Float>,
                    tokenCount: Int, hiddenSize: Int, groups: ExpertGroups, output: UnsafeMutablePointer<Float>) {
        let n = workerCount
        let k = groups.expertsPerToken
        for e in 0..<groups.expertCount { loads[layer][e] += groups.rows(of: e).count }
        if strategy == .balanced {
            tokensSincePlacement[layer] += tokenCount
            if tokensSincePlacement[layer] >= rebalanceInterval {
                tokensSincePlacement[layer] = 0
                placements[layer] = LayerPlacement.balanced(loads: loads[layer], workerCount: n, replicate: replicateHotExperts)
            }
        }
        if n > 1 && tokenCount <= Self.splitTokenLimit {
            runSplit(layerExperts: layerExperts, shared: shared, input: input, tokenCount: tokenCount,
                     hiddenSize: hiddenSize, groups: groups, output: output)
            return
        }
        plan(layer: layer, tokenCount: tokenCount, hiddenSize: hiddenSize, groups: groups, k: k, shared: shared != nil)
        let sharedOutput = shared?.output

        let phaseStart = Self.nanoseconds()
        pool.run { worker, _ in
            let start = Self.nanoseconds()
            let dispatch = self.dispatches[worker]
            let combine = self.combines[worker]
            // Transport, send side: the tokens this worker needs.
            let sources = self.sourceTokens[worker].pointer
            let tokens = dispatch.tokenBuffer.pointer
            for i in 0..<dispatch.tokenCount {
                (tokens + i * hiddenSize).update(from: input + Int(sources[i]) * hiddenSize, count: hiddenSize)
            }
            self.workers[worker].process(dispatch, into: combine)
            // Transport, return side: each output row to its assignment row.
            let targets = self.returnRows[worker].pointer
            for i in 0..<combine.rowCount {
                let target = Int(targets[i])
                let destination = target >= 0 ? output + target * hiddenSize : sharedOutput.unsafelyUnwrapped + (-target - 1) * hiddenSize
                destination.update(from: combine.outputs + i * hiddenSize, count: hiddenSize)
            }
            let c = self.counters.pointer + worker * Self.counterStride
            c[0] &+= Self.nanoseconds() &- start
            c[2] &+= UInt64(dispatch.tokenCount)
            let sharedRows = self.sharedRows.pointer[worker]
            c[3] &+= UInt64(dispatch.rowCount - sharedRows)
            c[5] &+= UInt64(sharedRows)
        }
        recordIdle(since: phaseStart)
    }

    /// Adds each worker's idle time in the expert phase that began at `phaseStart`: the phase's wall time less what
    /// the worker was busy since the previous phase ended.
    private func recordIdle(since phaseStart: UInt64) {
        let phase = Self.nanoseconds() &- phaseStart
        for w in 0..<workerCount {
            let c = counters.pointer + w * Self.counterStride
            c[1] &+= phase &- min(phase, c[0] &- c[4])
            c[4] = c[0]   // busy ns at the end of the previous phase
        }
    }

    /// A call of one or two tokens (decode) has at most 2 x 9 rows: handed out whole, as whole experts, they leave
    /// the workers uneven (5 rows against 4, or worse when the placement puts a token's experts together), and the
    /// lighter ones idle for a row's time in every MoE layer. Here every worker takes its share of every row
    /// instead: its slice of the gate and up rows (then SwiGLU on it), and after the pool's barrier its slice of the
    /// down rows over the whole activation. Each output is still one dot product in the kernels' fixed order, so
    /// the bits are those of the whole-expert path. The worker statistics credit row i to worker i % n.
    private func runSplit(layerExperts: [SwiGLUWeights], shared: SharedExpertJob?, input: UnsafePointer<Float>,
                          tokenCount: Int, hiddenSize: Int, groups: ExpertGroups, output: UnsafeMutablePointer<Float>) {
        let n = workerCount
        let k = groups.expertsPerToken
        let rowLimit = tokenCount * (k + 1)
        splitExperts.reserve(rowLimit)
        splitTargets.reserve(rowLimit)
        var rowCount = 0
        for e in 0..<groups.expertCount {
            for row in groups.rows(of: e) {
                splitExperts.pointer[rowCount] = Int32(e)
                splitTargets.pointer[rowCount] = row
                rowCount += 1
            }
        }
        let routedCount = rowCount
        if shared != nil {
            for t in 0..<tokenCount {
                splitExperts.pointer[rowCount] = -1
                splitTargets.pointer[rowCount] = Int32(-t - 1)
                rowCount += 1
            }
        }
        let width = max(layerExperts.first?.gate.rowCount ?? 0, shared?.weights.gate.rowCount ?? 0)
        splitGate.reserve(rowCount * width)
        splitUp.reserve(rowCount * width)
        let experts = splitExperts.pointer, targets = splitTargets.pointer
        let gate = splitGate.pointer, up = splitUp.pointer
        let sharedOutput = shared?.output
        let rows = rowCount
        func weights(_ i: Int) -> SwiGLUWeights {
            let e = Int(experts[i])
            return e >= 0 ? layerExperts[e] : shared.unsafelyUnwrapped.weights
        }
        func token(_ i: Int) -> Int {
            let target = Int(targets[i])
            return target >= 0 ? target / k : -target - 1
        }
        let phaseStart = Self.nanoseconds()
        pool.run { worker, workerCount in
            let start = Self.nanoseconds()
            let stage = self.splitStages[worker]
            for i in 0..<rows {
                let expert = weights(i)
                let rowWidth = expert.gate.rowCount
                let slice = (rowWidth * worker / workerCount)..<(rowWidth * (worker + 1) / workerCount)
                let x = input + token(i) * hiddenSize
                let g = gate + i * width, u = up + i * width
                Kernels.linear(g, yStride: width, x, xStride: hiddenSize, expert.gate, tokenCount: 1, rows: slice, stage: stage)
                Kernels.linear(u, yStride: width, x, xStride: hiddenSize, expert.up, tokenCount: 1, rows: slice, stage: stage)
                swiGLUActivate(g + slice.lowerBound, u + slice.lowerBound, count: slice.count)
            }
            let c = self.counters.pointer + worker * Self.counterStride
            c[0] &+= Self.nanoseconds() &- start
        }
        pool.run { worker, workerCount in
            let start = Self.nanoseconds()
            let stage = self.splitStages[worker]
            let slice = (hiddenSize * worker / workerCount)..<(hiddenSize * (worker + 1) / workerCount)
            for i in 0..<rows {
                let expert = weights(i)
                let target = Int(targets[i])
                let destination = target >= 0
                    ? output + target * hiddenSize : sharedOutput.unsafelyUnwrapped + (-target - 1) * hiddenSize
                Kernels.linear(destination, yStride: hiddenSize, gate + i * width, xStride: width, expert.down,
                               tokenCount: 1, rows: slice, stage: stage)
            }
            let c = self.counters.pointer + worker * Self.counterStride
            c[0] &+= Self.nanoseconds() &- start
        }
        recordIdle(since: phaseStart)
        for w in 0..<n {
            let c = counters.pointer + w * Self.counterStride
            let creditedRouted = (routedCount + n - 1 - w) / n            // rows i < routedCount with i % n == w
            let creditedAll = (rows + n - 1 - w) / n
            c[3] &+= UInt64(creditedRouted)
            c[5] &+= UInt64(creditedAll - creditedRouted)
        }
        // Tokens received: every worker reads every token of the call.
        for w in 0..<n { counters.pointer[w * Self.counterStride + 2] &+= UInt64(tokenCount) }
    }

    /// Fills every worker's dispatch (segments, row tokens) and the coordinator's return addresses. Rows of expert e
    /// are split between its replicas in order; a token goes to a worker once whatever number of its rows land there.
    /// The shared expert's rows (one per token) then fill up the workers with the fewest routed rows: each row goes
    /// to the currently lightest worker (ties to the lower index), as contiguous token ranges in worker order.
    private func plan(layer: Int, tokenCount: Int, hiddenSize: Int, groups: ExpertGroups, k: Int, shared: Bool) {
        let n = workerCount
        let placement = placements[layer]
        tokenSlot.reserve(n * tokenCount)
        tokenSlot.pointer.initialize(repeating: -1, count: n * tokenCount)
        for w in 0..<n {
            dispatches[w].reserve(hiddenSize: hiddenSize, tokenCount: tokenCount, rowCount: tokenCount * (k + 1),
                                  expertCount: expertCount + 1)
            dispatches[w].layer = layer
            dispatches[w].hiddenSize = hiddenSize
            dispatches[w].tokenCount = 0
            dispatches[w].segmentCount = 0
            dispatches[w].rowCount = 0
            sourceTokens[w].reserve(tokenCount)
            returnRows[w].reserve(tokenCount * (k + 1))
        }
        for e in 0..<groups.expertCount {
            let rows = groups.rows(of: e)
            if rows.isEmpty { continue }
            let owners = placement.owners[e]
            for (replica, w) in owners.enumerated() {
                let range = LayerPlacement.rowRange(rows.count, replica: replica, of: owners.count)
                if range.isEmpty { continue }
                let dispatch = dispatches[w]
                dispatch.segmentExpertBuffer.pointer[dispatch.segmentCount] = Int32(e)
                dispatch.segmentRowBuffer.pointer[dispatch.segmentCount] = Int32(range.count)
                dispatch.segmentCount += 1
                let slots = tokenSlot.pointer + w * tokenCount
                for row in rows[range] { append(row: row, token: Int(row) / k, worker: w, slots: slots) }
            }
        }
        sharedRows.reserve(n)
        let counts = sharedRows.pointer
        for w in 0..<n { counts[w] = 0 }
        guard shared else { return }
        for _ in 0..<tokenCount {
            var lightest = 0
            for w in 1..<n where dispatches[w].rowCount + counts[w] < dispatches[lightest].rowCount + counts[lightest] {
                lightest = w
            }
            counts[lightest] += 1
        }
        var next = 0
        for w in 0..<n where counts[w] > 0 {
            let dispatch = dispatches[w]
            dispatch.segmentExpertBuffer.pointer[dispatch.segmentCount] = -1
            dispatch.segmentRowBuffer.pointer[dispatch.segmentCount] = Int32(counts[w])
            dispatch.segmentCount += 1
            let slots = tokenSlot.pointer + w * tokenCount
            for t in next..<(next + counts[w]) { append(row: Int32(-t - 1), token: t, worker: w, slots: slots) }
            next += counts[w]
        }
    }

    /// Adds one row (return address `row`) reading token `token` to worker w's dispatch, sending the token if new.
    @inline(__always)
    private func append(row: Int32, token t: Int, worker w: Int, slots: UnsafeMutablePointer<Int32>) {
        let dispatch = dispatches[w]
        if slots[t] < 0 {
            slots[t] = Int32(dispatch.tokenCount)
            sourceTokens[w].pointer[dispatch.tokenCount] = Int32(t)
            dispatch.tokenCount += 1
        }
        dispatch.rowTokenBuffer.pointer[dispatch.rowCount] = slots[t]
        returnRows[w].pointer[dispatch.rowCount] = row
        dispatch.rowCount += 1
    }

    @inline(__always)
    private static func nanoseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) &* 1_000_000_000 &+ UInt64(now.tv_nsec)
    }
}
