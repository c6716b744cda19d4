/// How routed experts are spread over the expert-parallel workers.
public enum ExpertPlacementStrategy: String, CaseIterable, Sendable {
    /// Expert e goes to worker e * N / E: whole expert groups stay together.
    case contiguous
    /// Expert e goes to worker e % N.
    case roundRobin = "round-robin"
    /// Starts contiguous, then re-places each layer from its counted expert loads (and replicates the hottest
    /// experts, as DeepSeek's EPLB does) so that every worker gets the same expected work.
    case balanced
}

/// Which workers hold each routed expert of one MoE layer. An expert has one or more replicas; the rows routed to
/// a replicated expert in one step are split evenly between its replicas, in replica order.
public struct LayerPlacement: Sendable, Equatable {
    public let workerCount: Int
    /// owners[e]: the workers holding expert e (never empty, no worker twice).
    public let owners: [[Int]]

    public init(workerCount: Int, owners: [[Int]]) {
        self.workerCount = workerCount
        self.owners = owners
    }

    public static func contiguous(expertCount: Int, workerCount: Int) -> LayerPlacement {
        LayerPlacement(workerCount: workerCount, owners: (0..<expertCount).map { [$0 * workerCount / max(expertCount, 1)] })
    }

    public static func roundRobin(expertCount: Int, workerCount: Int) -> LayerPlacement {
        LayerPlacement(workerCount: workerCount, owners: (0..<expertCount).map { [$0 % workerCount] })
    }

    /// Load-balanced placement from per-expert loads (rows routed to each expert). An expert whose load exceeds a
    /// worker's fair share (total / N) gets ceil(load / share) replicas when `replicate` (at most N). Replicas are
    /// then packed largest first onto the least-loaded worker that does not hold the expert yet, where an expert
    /// also costs a constant (reading its weights), so idle experts spread evenly too. Deterministic: ties go to the
    /// lower expert id and the lower worker index.
    public static func balanced(loads: [Int], workerCount: Int, replicate: Bool = true) -> LayerPlacement {
        let expertCount = loads.count
        let total = loads.reduce(0, +)
        guard total > 0, workerCount > 1 else { return contiguous(expertCount: expertCount, workerCount: workerCount) }
        let share = Double(total) / Double(workerCount)
        let overhead = Double(total) / Double(4 * max(expertCount, 1))
        var replicas = [Int](repeating: 1, count: expertCount)
        if replicate {
            for e in 0..<expertCount where Double(loads[e]) > share {
                replicas[e] = min(workerCount, Int((Double(loads[e]) / share).rounded(.up)))
            }
        }
        // (expert, replica index, cost), costliest first.
        var items: [(expert: Int, replica: Int, cost: Double)] = []
        for e in 0..<expertCount {
            for r in 0..<replicas[e] { items.append((e, r, rowShare(loads[e], replica: r, of: replicas[e]) + overhead)) }
        }
        items.sort { $0.cost != $1.cost ? $0.cost > $1.cost : ($0.expert != $1.expert ? $0.expert < $1.expert : $0.replica < $1.replica) }
        var workerCost = [Double](repeating: 0, count: workerCount)
        var workerExperts = [Int](repeating: 0, count: workerCount)
        var owners = [[Int]](repeating: [], count: expertCount)
        for item in items {
            var best = -1
            for w in 0..<workerCount where !owners[item.expert].contains(w) {
                if best < 0 || workerCost[w] < workerCost[best]
                    || (workerCost[w] == workerCost[best] && workerExperts[w] < workerExperts[best]) {
                    best = w
                }
            }
            owners[item.expert].append(best)
            workerCost[best] += item.cost
            workerExperts[best] += 1
        }
        return LayerPlacement(workerCount: workerCount, owners: owners)
    }

    /// Rows of replica `replica` when `count` rows are split over `replicaCount` replicas (as dispatch splits them).
    @inline(__always)
    static func rowRange(_ count: Int, replica: Int, of replicaCount: Int) -> Range<Int> {
        (count * replica / replicaCount)..<(count * (replica + 1) / replicaCount)
    }

    private static func rowShare(_ count: Int, replica: Int, of replicaCount: Int) -> Double {
        Double(rowRange(count, replica: replica, of: replicaCount).count)
    }

    /// Rows each worker would evaluate for these per-expert loads (replicated experts split as dispatch splits them).
    public func workerRows(loads: [Int]) -> [Int] {
        var rows = [Int](repeating: 0, count: workerCount)
        for (e, workers) in owners.enumerated() where e < loads.count {
            for (r, w) in workers.enumerated() { rows[w] += Self.rowRange(loads[e], replica: r, of: workers.count).count }
        }
        return rows
    }

    /// Experts (replicas included) each worker holds.
    public var workerExpertCounts: [Int] {
        var counts = [Int](repeating: 0, count: workerCount)
        for workers in owners { for w in workers { counts[w] += 1 } }
        return counts
    }
}
