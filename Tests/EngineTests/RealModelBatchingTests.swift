import Dispatch
import Foundation
import KVCache
import Models
import Synchronization
import Tensors
import Testing

@testable import Engine

/// Continuous batching with the real forward pass (the stress-f32 reference checkpoint): a request's greedy tokens
/// must not depend on what else is in the batch, on prefix caching, on preemption or on the prefill chunk size.
@Suite(.serialized) struct RealModelBatchingTests {
    static let checkpoint = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../ModelsTests/Fixtures/stress-f32").standardizedFileURL.path
    /// bf16 weights: with bf16 compute, the AVX512-BF16 dot-product kernels run where the CPU has them.
    static let bf16Checkpoint = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../ModelsTests/Fixtures/release-bf16").standardizedFileURL.path

    /// 32 prompts of different lengths (1...40 tokens), some sharing prefixes so the prefix cache has work.
    static let prompts: [[Int]] = {
        var random = RandomSource(seed: 17)
        let shared = (0..<20).map { _ in Int(random.next() % 1000) }
        return (0..<32).map { index in
            let length = 1 + Int(random.next() % 40)
            if index % 4 == 0 { return Array(shared.prefix(min(length, 20))) + [index] }
            return (0..<length).map { _ in Int(random.next() % 1000) }
        }
    }()

    static let newTokenCount = 8

    private func run(
        prompts: [[Int]], blockCount: Int, blockSize: Int, batchTokens: Int, prefixCaching: Bool,
        expertWorkers: Int? = nil, checkpoint: String = Self.checkpoint, compute: ComputeDType = .f32
    ) throws -> (outputs: [[Int]], preemptions: Int, metrics: EngineMetrics) {
        let path = checkpoint
        let engine = try Engine(
            configuration: EngineConfiguration(
                scheduler: SchedulerConfiguration(
                    maxBatchedTokenCount: batchTokens, maxRunningSequenceCount: 32, enablePrefixCaching: prefixCaching)),
            makeModel: {
                let model = try LingModel(directory: path, threadCount: expertWorkers ?? 2, compute: ComputeSetting(compute))
                if expertWorkers != nil { model.useExpertParallel(strategy: .balanced, rebalanceInterval: 64) }
                return try LingStepModel(model: model, kvBlockCount: blockCount, kvBlockSize: blockSize)
            })
        defer { engine.shutdown() }
        let results = Mutex([Int: [Int]]())
        let done = DispatchSemaphore(value: 0)
        for (index, prompt) in prompts.enumerated() {
            engine.submit(EngineRequest(promptTokenIds: prompt, maxNewTokenCount: Self.newTokenCount, ignoreEOS: true)) { event in
                switch event {
                case .tokens(let tokens, let finish):
                    results.withLock { $0[index, default: []].append(contentsOf: tokens.map(\.id)) }
                    if finish != nil { done.signal() }
                case .finished, .failed: done.signal()
                case .started: break
                }
            }
        }
        for _ in prompts { #expect(done.wait(timeout: .now() + 120) == .success) }
        let outputs = results.withLock { map in prompts.indices.map { map[$0] ?? [] } }
        return (outputs, engine.metrics.preemptionCount, engine.metrics)
    }

    /// Each prompt alone, one at a time, with a roomy cache: the reference.
    static let alone: [[Int]] = {
        (try? RealModelBatchingTests().runAlone()) ?? []
    }()

    private func runAlone() throws -> [[Int]] {
        try Self.prompts.map { prompt in
            try run(prompts: [prompt], blockCount: 64, blockSize: 16, batchTokens: 2048, prefixCaching: false).outputs[0]
        }
    }

    @Test("expert-parallel workers (3, balanced): the same tokens, and per-worker counters in the engine metrics")
    func expertParallelEngine() throws {
        let result = try run(prompts: Self.prompts, blockCount: 256, blockSize: 16, batchTokens: 64, prefixCaching: true,
                             expertWorkers: 3)
        for index in Self.prompts.indices {
            #expect(result.outputs[index] == Self.alone[index], "request \(index)")
        }
        let workers = result.metrics.expertWorkers
        #expect(workers.count == 3)
        #expect(workers.allSatisfy { $0.rowCount > 0 && $0.tokenCount > 0 && $0.busySeconds > 0 && $0.expertCount > 0 })
        #expect(workers.reduce(0) { $0 + $1.tokenCount } <= workers.reduce(0) { $0 + $1.rowCount })
    }

    @Test(arguments: [(1, true), (7, true), (64, true), (64, false)])
    func thirtyTwoConcurrentRequestsMatchEachAlone(chunk: Int, prefixCaching: Bool) throws {
        #expect(Self.alone.count == 32)
        #expect(Self.alone.allSatisfy { $0.count == Self.newTokenCount }, "every request generates all its tokens")
        #expect(Set(Self.alone).count > 16, "different prompts give different continuations")
        let result = try run(
            prompts: Self.prompts, blockCount: 256, blockSize: 16, batchTokens: chunk, prefixCaching: prefixCaching)
        for index in Self.prompts.indices {
            #expect(result.outputs[index] == Self.alone[index], "request \(index), chunk \(chunk), prefix \(prefixCaching)")
        }
    }

    @Test("bf16 compute (release-bf16): 32 concurrent requests, chunk 7, prefix caching, match each alone")
    func bf16ComputeMatchesAlone() throws {
        let prompts = Self.prompts.map { $0.map { $0 % 768 } }  // release-bf16 has 768 tokens
        let alone = try prompts.map { prompt in
            try run(prompts: [prompt], blockCount: 64, blockSize: 16, batchTokens: 2048, prefixCaching: false,
                    checkpoint: Self.bf16Checkpoint, compute: .bf16).outputs[0]
        }
        #expect(alone.allSatisfy { $0.count == Self.newTokenCount })
        #expect(Set(alone).count > 16, "different prompts give different continuations")
        let result = try run(prompts: prompts, blockCount: 256, blockSize: 16, batchTokens: 7, prefixCaching: true,
                             checkpoint: Self.bf16Checkpoint, compute: .bf16)
        for index in prompts.indices {
            #expect(result.outputs[index] == alone[index], "request \(index)")
        }
    }

    @Test func preemptionByATinyPoolKeepsTheTokens() throws {
        // 20 blocks of 4 tokens (80 slots) for 32 sequences of up to 49 tokens: preemption is certain.
        let result = try run(prompts: Self.prompts, blockCount: 20, blockSize: 4, batchTokens: 64, prefixCaching: true)
        #expect(result.preemptions > 0)
        for index in Self.prompts.indices {
            #expect(result.outputs[index] == Self.alone[index], "request \(index)")
        }
    }
}
