import Foundation
import Models
import Testing

/// What one configuration computes: logits of every prompt position, MTP logits, greedy continuation, and a
/// two-sequence batch (decode row + prompt chunk in one pass).
private struct Trace: Equatable {
    var logits: [Float]
    var mtpLogits: [Float]
    var greedy: [Int]
    var batched: [Float]

    init(model: LingModel, prompt: [Int], steps: Int) throws {
        let session = try Session(model: model)
        let out = try session.run(prompt, all: true, hidden: model.hasMTP)
        logits = out.logits
        mtpLogits = model.hasMTP ? try session.mtp(tokens: prompt, hidden: out.hidden).logits : []
        greedy = []
        var next = argmax(out.row(out.rowCount - 1))
        for step in 0..<steps {
            greedy.append(next)
            next = argmax(try session.run([next], start: prompt.count + step).row(0))
        }
        greedy.append(next)
        // Sequence 0 decodes its next token while sequence 1 (its own blocks) prefills the prompt reversed.
        let half = session.table.count / 2
        let batch = ForwardBatch(
            tokenIds: [Int32(greedy[0])] + prompt.reversed().map { Int32($0) },
            positions: [Int32(prompt.count)] + (0..<prompt.count).map { Int32($0) },
            sequenceIndices: [0] + [Int32](repeating: 1, count: prompt.count),
            sequences: [SequenceSlots(blockTable: Array(session.table.prefix(half)), contextLength: prompt.count + 1),
                        SequenceSlots(blockTable: Array(session.table.suffix(half)), contextLength: prompt.count)],
            logitRows: [0, Int32(prompt.count)])
        batched = try model.forward(batch, kv: session.kv).logits
    }
}

@Suite("Expert-parallel workers")
struct ExpertParallelTests {
    static let strategies = ExpertPlacementStrategy.allCases

    /// Every worker count 1...4 and every placement give the single-threaded local executor's bits.
    func checkIdentical(directory: String, prompt: [Int], steps: Int) throws {
        let reference = try Trace(model: try LingModel(directory: directory, threadCount: 1), prompt: prompt, steps: steps)
        #expect(reference.logits.allSatisfy(\.isFinite) && Set(reference.logits).count > 100)
        for workers in 1...4 {
            let model = try LingModel(directory: directory, threadCount: workers)
            for strategy in Self.strategies {
                // A short rebalance interval makes the balanced placement change between (and within) passes.
                let executor = model.useExpertParallel(strategy: strategy, rebalanceInterval: 3)
                let trace = try Trace(model: model, prompt: prompt, steps: steps)
                #expect(trace == reference, "\(workers) workers, \(strategy.rawValue) placement differ from the reference")
                let stats = executor.workerStats
                #expect(stats.count == workers)
                let routed = executor.moeLayers.reduce(0) { $0 + executor.expertLoads(layer: $1).reduce(0, +) }
                #expect(stats.reduce(0) { $0 + $1.rowCount } == routed)
                // One shared-expert row per token and MoE layer (every layer here has a shared expert).
                #expect(stats.reduce(0) { $0 + $1.sharedRowCount } * model.config.expertsPerToken == routed)
                if strategy == .balanced && workers > 1 {
                    #expect(executor.moeLayers.contains { executor.placement(layer: $0) != .contiguous(expertCount: model.config.expertCount, workerCount: workers) })
                }
            }
        }
    }

    @Test("logits, MTP logits, greedy tokens and batched rows identical for 1-4 workers and every placement",
          arguments: ReferenceFixture.names)
    func referenceCheckpoints(name: String) throws {
        let fixture = try ReferenceFixture.load(name)
        let prompt = ints(fixture.allPositions["input_ids"])
        #expect(prompt.count >= 4)
        try checkIdentical(directory: fixture.directory, prompt: prompt, steps: 6)
    }

    @Test("identical on a 2-layer ling-mini-2.0-shaped random checkpoint (16 experts) for 1-4 workers and every placement")
    func lingMiniShaped() throws {
        let copy = try CheckpointCopy("ep-mini")
        defer { copy.remove() }
        try RandomCheckpoint(preset: .lingMini, layerCount: 2, expertCount: 16, dtype: "bf16", seed: 11).write(to: copy.directory)
        try checkIdentical(directory: copy.directory, prompt: [156_891, 100, 2_000, 57_000, 30_000, 9], steps: 2)
    }

    @Test("skewed routing: balanced placement evens the per-worker rows that contiguous piles on one worker")
    func skewedRouting() throws {
        let fixture = try ReferenceFixture.load("release-bf16")
        let copy = try CheckpointCopy("ep-skewed")
        defer { copy.remove() }
        // Experts 0...3 get +1 on their selection bias in every MoE layer: every token chooses all four.
        try copy.copyConfigs(from: fixture.directory)
        var items = try CheckpointCopy.items(of: fixture.directory)
        for index in items.indices where items[index].name.hasSuffix("mlp.gate.expert_bias") {
            #expect(items[index].dtype == "F32")
            items[index].bytes.withUnsafeMutableBytes { raw in
                let bias = raw.bindMemory(to: Float.self)
                for e in 0..<4 { bias[e] += 1 }
            }
        }
        try copy.write(items)
        let prompt = (0..<48).map { ($0 * 37 + 11) % 700 }
        let workers = 4

        func run(_ strategy: ExpertPlacementStrategy) throws -> (rows: [Int], logits: [Float], executor: ExpertParallelExecutor) {
            let model = try LingModel(directory: copy.directory, threadCount: workers)
            let executor = model.useExpertParallel(strategy: strategy, rebalanceInterval: 16)
            let session = try Session(model: model)
            _ = try session.run(Array(prompt.prefix(16)))   // warm-up: the balanced executor counts and re-places
            let before = executor.workerStats.map(\.rowCount)
            let out = try session.run(Array(prompt.dropFirst(16)), start: 16, all: true)
            let rows = zip(before, executor.workerStats.map(\.rowCount)).map { $1 - $0 }
            return (rows, out.logits, executor)
        }
        func imbalance(_ rows: [Int]) -> Double { Double(rows.max() ?? 0) * Double(rows.count) / Double(max(1, rows.reduce(0, +))) }

        let fixtureLayerCount = try LingModel(directory: copy.directory, threadCount: 1).config.layerCount
        let contiguous = try run(.contiguous)
        let balanced = try run(.balanced)
        #expect(contiguous.logits == balanced.logits)
        #expect(contiguous.rows.reduce(0, +) == balanced.rows.reduce(0, +))
        // The four hot experts all sit on worker 0 under contiguous placement: it gets at least half of all rows.
        #expect(imbalance(contiguous.rows) >= 2, "contiguous rows per worker \(contiguous.rows)")
        #expect(imbalance(balanced.rows) < 1.3, "balanced rows per worker \(balanced.rows)")
        // Each hot expert now has a worker of its own.
        for layer in balanced.executor.moeLayers where layer < fixtureLayerCount {
            let loads = balanced.executor.expertLoads(layer: layer)
            #expect(loads.prefix(4).allSatisfy { $0 == 48 }, "layer \(layer) loads \(loads)")
            let hotOwners = Set(balanced.executor.placement(layer: layer).owners.prefix(4).flatMap { $0 })
            #expect(hotOwners.count == workers)
        }
    }

    @Test("placements: every expert owned, replicas on distinct workers, rows conserved, hot experts replicated")
    func placements() {
        let loads = [400, 10, 0, 5, 30, 30, 2, 0, 90, 1, 1, 1]
        for workers in 1...5 {
            for placement in [LayerPlacement.contiguous(expertCount: loads.count, workerCount: workers),
                              .roundRobin(expertCount: loads.count, workerCount: workers),
                              .balanced(loads: loads, workerCount: workers),
                              .balanced(loads: loads, workerCount: workers, replicate: false)] {
                #expect(placement.owners.count == loads.count)
                #expect(placement.owners.allSatisfy { !$0.isEmpty && Set($0).count == $0.count && $0.allSatisfy { (0..<workers).contains($0) } })
                #expect(placement.workerRows(loads: loads).reduce(0, +) == loads.reduce(0, +))
            }
        }
        let balanced = LayerPlacement.balanced(loads: loads, workerCount: 4)
        // Expert 0 holds 400 of 570 rows, 2.8 fair shares of 4 workers: 3 replicas.
        #expect(balanced.owners[0].count == 3)
        let rows = balanced.workerRows(loads: loads)
        let unreplicated = LayerPlacement.balanced(loads: loads, workerCount: 4, replicate: false).workerRows(loads: loads)
        let contiguous = LayerPlacement.contiguous(expertCount: loads.count, workerCount: 4).workerRows(loads: loads)
        #expect(rows.max()! < unreplicated.max()! && unreplicated.max()! <= contiguous.max()!)
        #expect(LayerPlacement.contiguous(expertCount: 8, workerCount: 2).owners == [[0], [0], [0], [0], [1], [1], [1], [1]])
        #expect(LayerPlacement.roundRobin(expertCount: 4, workerCount: 3).owners == [[0], [1], [2], [0]])
    }
}
