import ArgumentParser
import Models
import Tensors

/// `--expert-parallel`, `--expert-placement` and `--expert-rebalance-tokens`, shared by generate, logits, bench and
/// expert-stats (serve reads the same settings from ServeSettings).
struct ExpertParallelOptions: ParsableArguments {
    @Option(name: .customLong("expert-parallel"),
            help: "Expert-parallel workers: compute threads pinned one per physical core, each owning a share of every MoE layer's experts (default: --threads, else one per physical core).")
    var expertParallel: Int?

    @Option(name: .customLong("expert-placement"), help: "Expert placement: contiguous, round-robin or balanced.")
    var expertPlacement = ExpertParallelSetup.defaultPlacement.rawValue

    @Option(name: .customLong("expert-rebalance-tokens"), help: "Balanced placement: re-place a layer every this many routed tokens.")
    var expertRebalanceTokens = ExpertParallelSetup.defaultRebalanceTokens

    @Option(name: .customLong("pin-workers"), help: "Pin each worker thread to its core: true or false (false suits machines shared with other busy processes).")
    var pinWorkers = true

    func validate() throws {
        if let expertParallel, expertParallel < 1 { throw ValidationError("--expert-parallel must be >= 1") }
        guard ExpertPlacementStrategy(rawValue: expertPlacement) != nil else {
            throw ValidationError("--expert-placement must be one of: "
                + ExpertPlacementStrategy.allCases.map(\.rawValue).joined(separator: ", "))
        }
        guard expertRebalanceTokens >= 1 else { throw ValidationError("--expert-rebalance-tokens must be >= 1") }
    }

    func setup(threads: Int?) throws -> ExpertParallelSetup {
        try ExpertParallelSetup(workers: expertParallel, threads: threads,
                                placement: ExpertPlacementStrategy(rawValue: expertPlacement) ?? ExpertParallelSetup.defaultPlacement,
                                rebalanceTokens: expertRebalanceTokens, pin: pinWorkers)
    }
}

/// Resolved expert-parallel settings: the worker count and the CPU each worker is pinned to.
struct ExpertParallelSetup: Sendable {
    static let defaultPlacement = ExpertPlacementStrategy.balanced
    static let defaultRebalanceTokens = 1024

    let workerCount: Int
    /// CPU of each worker (-1: unpinned, when there are more workers than CPUs).
    let cpus: [Int]
    let placement: ExpertPlacementStrategy
    let rebalanceTokens: Int

    /// workers (nil = threads, else one per physical core). Workers beyond the physical cores take the remaining
    /// allowed CPUs (SMT siblings), then run unpinned.
    init(workers: Int?, threads: Int?, placement: ExpertPlacementStrategy, rebalanceTokens: Int, pin: Bool = true) throws {
        if let workers, let threads, workers != threads {
            throw ValidationError("--threads \(threads) and --expert-parallel \(workers) name the same compute threads: give one")
        }
        let cores = CPUTopology.physicalCoreCPUs()
        let count = workers ?? threads ?? cores.count
        guard count >= 1 else { throw ValidationError("--expert-parallel must be >= 1") }
        let others = CPUTopology.allowedCPUs().filter { !cores.contains($0) }
        let order = cores + others
        workerCount = count
        cpus = (0..<count).map { pin && $0 < order.count ? order[$0] : -1 }
        self.placement = placement
        self.rebalanceTokens = rebalanceTokens
    }
}
