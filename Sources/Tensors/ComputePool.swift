internal import CKernels

/// A fixed set of worker threads (the calling thread is worker 0). One job at a time: a pool belongs to one engine
/// thread, which is the only caller of `run` and `linear`.
public final class ComputePool: @unchecked Sendable {
    private let pool: OpaquePointer?
    /// Number of workers including the caller.
    public let threadCount: Int
    /// The activations of bf16-compute `linear`s, rounded once per call ([tokenCount, staged row stride]).
    private let stage = ScratchArray<Float>()

    /// threadCount >= 1; pinToCores pins worker k to CPU k.
    public init(threadCount: Int, pinToCores: Bool = false) {
        precondition(threadCount >= 1, "threadCount must be >= 1")
        self.threadCount = threadCount
        pool = threadCount > 1 ? lk_pool_create(Int32(threadCount), pinToCores ? 1 : 0) : nil
    }

    /// cpus.count workers (>= 1), worker k pinned to CPU cpus[k] (worker 0 is the creating thread, which is pinned
    /// too). A CPU that cannot be pinned (offline, outside the process's affinity mask) leaves that worker unpinned.
    public init(pinnedTo cpus: [Int]) {
        precondition(!cpus.isEmpty, "a pool needs at least one CPU")
        threadCount = cpus.count
        pool = cpus.map { Int32(clamping: $0) }.withUnsafeBufferPointer { lk_pool_create_on(Int32(cpus.count), $0.baseAddress) }
    }

    /// Whether `worker` runs pinned to its CPU (known once the worker has taken part in a `run`).
    public func isPinned(worker: Int) -> Bool { lk_pool_worker_pinned(pool, Int32(worker)) != 0 }

    deinit { if let pool { lk_pool_destroy(pool) } }

    /// Runs body(worker, workerCount) on every worker concurrently and returns when all are done.
    /// The body must only write disjoint memory per worker.
    public func run(_ body: (Int, Int) -> Void) {
        guard let pool else {
            body(0, 1)
            return
        }
        withoutActuallyEscaping(body) { escapable in
            var box = escapable
            withUnsafeMutablePointer(to: &box) { boxPointer in
                lk_pool_run(pool, { context, worker, workerCount in
                    guard let context else { return }
                    let f = context.assumingMemoryBound(to: ((Int, Int) -> Void).self).pointee
                    f(Int(worker), Int(workerCount))
                }, boxPointer)
            }
        }
    }

    /// `Kernels.linear` over all rows of `w`, split by output rows across the workers (same bits).
    public func linear(_ y: UnsafeMutablePointer<Float>, yStride: Int, _ x: UnsafePointer<Float>, xStride: Int,
                       _ w: WeightMatrix, tokenCount: Int) {
        guard tokenCount > 0 else { return }
        // bf16 compute: x is rounded once here, and every worker reads the staged copy.
        let (input, inputStride) = Kernels.stageActivations(x, xStride: xStride, w, tokenCount: tokenCount, stage: stage)
        Kernels.withScales(w) { scales in
            lk_linear_parallel(pool, y, Int64(yStride), input, Int64(inputStride), w.base,
                               lk_dtype(rawValue: UInt32(w.dtype.rawValue)), scales, Int64(tokenCount),
                               Int64(w.columnCount), Int64(w.rowCount), w.kernelCompute)
        }
    }
}
