import Dispatch
import Foundation
import KVCache
import Models
import Synchronization
import Testing

@testable import Engine

/// MTP speculative decoding with the real forward pass: greedy output identical to decoding without drafts (alone
/// and batched, with penalties, logit bias, stop tokens, max_tokens, prefix caching and preemption), and sampled
/// output with the same distribution (a chi-square test with fixed seeds).
@Suite(.serialized) struct SpeculativeDecodingTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../ModelsTests/Fixtures").standardizedFileURL.path
    static let lingTiny = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../models/ling-tiny").standardizedFileURL.path
    static let checkpoints = [fixtures + "/stress-f32", fixtures + "/release-bf16", lingTiny]

    /// 50 requests: prompts of 1...24 tokens (every fifth shares a prefix, for the prefix cache), 5...20 new
    /// tokens, and every third with repetition/frequency penalties and a logit bias, so the verified distribution
    /// must be the processed one.
    static func requests(vocabularySize: Int, seed: UInt64) -> [EngineRequest] {
        var random = RandomSource(seed: seed)
        let limit = UInt64(min(vocabularySize, 5000))
        let shared = (0..<18).map { _ in Int(random.next() % limit) }
        return (0..<50).map { index in
            let length = 1 + Int(random.next() % 24)
            let prompt: [Int] =
                index % 5 == 0
                ? Array(shared.prefix(min(length, 18))) + [index]
                : (0..<length).map { _ in Int(random.next() % limit) }
            var sampling = SamplingParameters.greedy
            if index % 3 == 1 {
                sampling.repetitionPenalty = 1.3
                sampling.frequencyPenalty = 0.4
                sampling.logitBias = [Int(random.next() % limit): 3, Int(random.next() % limit): -5]
            }
            return EngineRequest(
                promptTokenIds: prompt, sampling: sampling, maxNewTokenCount: 5 + index % 16, ignoreEOS: true)
        }
    }

    struct RunResult {
        var outputs: [[Int]]
        var finishReasons: [FinishReason?]
        var metrics: EngineMetrics
    }

    static func run(
        _ requests: [EngineRequest], checkpoint: String, draftCount: Int, concurrency: Int, blockCount: Int = 512,
        blockSize: Int = 16, batchTokens: Int = 256, prefixCaching: Bool = true
    ) throws -> RunResult {
        let engine = try Engine(
            configuration: EngineConfiguration(
                scheduler: SchedulerConfiguration(
                    maxBatchedTokenCount: batchTokens, maxRunningSequenceCount: concurrency,
                    enablePrefixCaching: prefixCaching),
                speculativeTokenCount: draftCount),
            makeModel: {
                let model = try LingModel(directory: checkpoint, threadCount: 2)
                return try LingStepModel(
                    model: model, kvBlockCount: blockCount, kvBlockSize: blockSize, drafting: draftCount > 0)
            })
        defer { engine.shutdown() }
        let results = Mutex([Int: [Int]]())
        let reasons = Mutex([Int: FinishReason]())
        let done = DispatchSemaphore(value: 0)
        for (index, request) in requests.enumerated() {
            engine.submit(request) { event in
                switch event {
                case .tokens(let tokens, let finish):
                    results.withLock { $0[index, default: []].append(contentsOf: tokens.map(\.id)) }
                    if let finish {
                        reasons.withLock { $0[index] = finish }
                        done.signal()
                    }
                case .finished(let finish):
                    reasons.withLock { $0[index] = finish }
                    done.signal()
                case .failed:
                    done.signal()
                case .started: break
                }
            }
        }
        for _ in requests { #expect(done.wait(timeout: .now() + 300) == .success) }
        // Metrics are published after the step's events; wait for the idle snapshot.
        var metrics = engine.metrics
        for _ in 0..<500 where metrics.runningCount != 0 {
            usleep(2000)
            metrics = engine.metrics
        }
        let outputs = results.withLock { map in requests.indices.map { map[$0] ?? [] } }
        let finish = reasons.withLock { map in requests.indices.map { map[$0] } }
        return RunResult(outputs: outputs, finishReasons: finish, metrics: metrics)
    }

    @Test(arguments: checkpoints)
    func greedyOutputIsIdenticalWithDrafts(checkpoint: String) throws {
        let vocabularySize = try ModelConfig.load(directory: checkpoint).vocabSize
        let requests = Self.requests(vocabularySize: vocabularySize, seed: 23)
        let reference = try Self.run(requests, checkpoint: checkpoint, draftCount: 0, concurrency: 1)
        #expect(reference.outputs.enumerated().allSatisfy { $0.element.count == requests[$0.offset].maxNewTokenCount })
        #expect(Set(reference.outputs).count > 40, "different prompts give different continuations")
        #expect(reference.metrics.specDraftCount == 0)
        for draftCount in [1, 2, 3] {
            for concurrency in [1, 16] {
                let result = try Self.run(requests, checkpoint: checkpoint, draftCount: draftCount, concurrency: concurrency)
                for index in requests.indices {
                    #expect(
                        result.outputs[index] == reference.outputs[index],
                        "\(checkpoint) request \(index), K = \(draftCount), \(concurrency) concurrent")
                }
                #expect(result.finishReasons == reference.finishReasons)
                let metrics = result.metrics
                #expect(metrics.specDraftCount > 0)
                #expect(metrics.specDraftTokenCount <= draftCount * metrics.specDraftCount)
                #expect(metrics.specAcceptedPerPosition.count == draftCount)
                #expect(metrics.specAcceptedPerPosition.reduce(0, +) == metrics.specAcceptedTokenCount)
                // Every token a verification yields is one accepted draft or the main model's own token.
                #expect(metrics.generatedTokenCount == reference.metrics.generatedTokenCount)
                // Later positions are accepted only after earlier ones.
                for position in 1..<metrics.specAcceptedPerPosition.count {
                    #expect(metrics.specAcceptedPerPosition[position] <= metrics.specAcceptedPerPosition[position - 1])
                }
            }
        }
    }

    @Test func theTrainedMTPLayerOfLingTinyDraftsWell() throws {
        // The bundled model's MTP layer is trained: most greedy drafts must be accepted (a random drafter is
        // accepted about once in the vocabulary size, 1/6144).
        let requests = Self.requests(vocabularySize: 6144, seed: 5).prefix(16).map { request in
            var plain = request
            plain.sampling = .greedy
            plain.maxNewTokenCount = 32
            return plain
        }
        let result = try Self.run(Array(requests), checkpoint: Self.lingTiny, draftCount: 2, concurrency: 16)
        let rate = Double(result.metrics.specAcceptedTokenCount) / Double(max(1, result.metrics.specDraftTokenCount))
        #expect(rate > 0.3, "acceptance rate \(rate)")
    }

    @Test func stopTokensAndPreemptionKeepTheTokens() throws {
        let checkpoint = Self.fixtures + "/stress-f32"
        var requests = Self.requests(vocabularySize: 1024, seed: 41)
        let plain = try Self.run(requests, checkpoint: checkpoint, draftCount: 0, concurrency: 1)
        // A stop token from the middle of each continuation: the output must end at its first occurrence, also
        // when it is an accepted draft with more accepted tokens behind it.
        for index in requests.indices where index % 2 == 0 {
            let tokens = plain.outputs[index]
            requests[index].stopTokenIds = [tokens[tokens.count / 2]]
            requests[index].ignoreEOS = false
        }
        let reference = try Self.run(requests, checkpoint: checkpoint, draftCount: 0, concurrency: 1)
        #expect(reference.finishReasons.filter { $0 == .stop }.count == 25)
        // 24 blocks of 4 slots for 16 running sequences of up to 44 tokens: preemption is certain.
        let tight = try Self.run(
            requests, checkpoint: checkpoint, draftCount: 3, concurrency: 16, blockCount: 24, blockSize: 4, batchTokens: 32)
        #expect(tight.metrics.preemptionCount > 0)
        #expect(tight.outputs == reference.outputs)
        #expect(tight.finishReasons == reference.finishReasons)
        let noPrefixCache = try Self.run(
            requests, checkpoint: checkpoint, draftCount: 2, concurrency: 16, prefixCaching: false)
        #expect(noPrefixCache.outputs == reference.outputs)
        #expect(noPrefixCache.finishReasons == reference.finishReasons)
    }

    /// Counts of tokens 1 and 2 of four over many seeded samples: `[position: [token: count]]`.
    static func sampleCounts(
        checkpoint: String, prompt: [Int], sampling: SamplingParameters, draftCount: Int, sampleCount: Int,
        firstSeed: UInt64
    ) throws -> (counts: [Int: [Int: Int]], metrics: EngineMetrics) {
        let requests = (0..<sampleCount).map { index in
            var parameters = sampling
            parameters.seed = firstSeed + UInt64(index)
            return EngineRequest(promptTokenIds: prompt, sampling: parameters, maxNewTokenCount: 4, ignoreEOS: true)
        }
        let result = try run(requests, checkpoint: checkpoint, draftCount: draftCount, concurrency: 64, blockCount: 1024)
        var counts: [Int: [Int: Int]] = [:]
        for output in result.outputs where output.count == 4 {
            for position in [1, 2] { counts[position, default: [:]][output[position], default: 0] += 1 }
        }
        return (counts, result.metrics)
    }

    /// Two-sample chi-square statistic (equal sample sizes) and its degrees of freedom; categories with fewer
    /// than 10 observations in total are pooled into one.
    static func chiSquare(_ a: [Int: Int], _ b: [Int: Int]) -> (statistic: Double, degrees: Int) {
        var pooledA = 0, pooledB = 0
        var statistic = 0.0
        var categories = 0
        for token in Set(a.keys).union(b.keys) {
            let x = a[token] ?? 0, y = b[token] ?? 0
            if x + y < 10 {
                pooledA += x
                pooledB += y
                continue
            }
            statistic += Double((x - y) * (x - y)) / Double(x + y)
            categories += 1
        }
        if pooledA + pooledB > 0 {
            statistic += Double((pooledA - pooledB) * (pooledA - pooledB)) / Double(pooledA + pooledB)
            categories += 1
        }
        return (statistic, max(1, categories - 1))
    }

    /// The chi-square quantile at 1 - 0.001 (Wilson-Hilferty).
    static func criticalValue(degrees: Int) -> Double {
        let k = Double(degrees)
        let z = 3.0902
        let term = 1 - 2 / (9 * k) + z * (2 / (9 * k)).squareRoot()
        return k * term * term * term
    }

    @Test func sampledTokensKeepTheMainModelsDistribution() throws {
        // ling-tiny: its trained drafter gets both accepted and rejected, so both branches of rejection sampling
        // run. Tokens 1 and 2 come from verification rows (token 0 from the prompt's row). The arms use disjoint
        // seeds, so their samples are independent.
        let prompt = [6133, 1000, 71, 72, 73, 1000, 71, 72]
        let sampling = SamplingParameters(temperature: 1, topK: 6)
        let samples = 2000
        let plain = try Self.sampleCounts(
            checkpoint: Self.lingTiny, prompt: prompt, sampling: sampling, draftCount: 0, sampleCount: samples,
            firstSeed: 1_000)
        let speculative = try Self.sampleCounts(
            checkpoint: Self.lingTiny, prompt: prompt, sampling: sampling, draftCount: 2, sampleCount: samples,
            firstSeed: 100_000)
        var warmer = sampling
        warmer.temperature = 3
        let other = try Self.sampleCounts(
            checkpoint: Self.lingTiny, prompt: prompt, sampling: warmer, draftCount: 0, sampleCount: samples,
            firstSeed: 200_000)
        let metrics = speculative.metrics
        #expect(metrics.specAcceptedTokenCount > 0 && metrics.specAcceptedTokenCount < metrics.specDraftTokenCount)
        for position in [1, 2] {
            let a = plain.counts[position] ?? [:], b = speculative.counts[position] ?? [:]
            #expect(a.values.reduce(0, +) == samples && b.values.reduce(0, +) == samples)
            let (statistic, degrees) = Self.chiSquare(a, b)
            #expect(degrees >= 3, "enough categories to test")
            #expect(statistic < Self.criticalValue(degrees: degrees), "position \(position): chi2 \(statistic), df \(degrees)")
            // The test has power: a different temperature is detected.
            let (shifted, shiftedDegrees) = Self.chiSquare(a, other.counts[position] ?? [:])
            #expect(shifted > Self.criticalValue(degrees: shiftedDegrees), "chi2 \(shifted), df \(shiftedDegrees)")
        }
    }

    @Test func seededSamplingWithDraftsIsReproducible() throws {
        let requests = Self.requests(vocabularySize: 6144, seed: 9).prefix(8).map { request in
            var sampled = request
            sampled.sampling.temperature = 0.8
            sampled.sampling.topP = 0.9
            sampled.sampling.seed = 77
            return sampled
        }
        let a = try Self.run(Array(requests), checkpoint: Self.lingTiny, draftCount: 3, concurrency: 8)
        let b = try Self.run(Array(requests), checkpoint: Self.lingTiny, draftCount: 3, concurrency: 8)
        #expect(a.outputs == b.outputs)
        #expect(a.metrics.specDraftCount > 0)
    }

    @Test func aCheckpointWithoutAnMTPLayerIsRefused() throws {
        // A copy of stress-f32 whose config declares no MTP layer.
        let source = Self.fixtures + "/stress-f32"
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("no-mtp-\(getpid())").path
        try? FileManager.default.removeItem(atPath: directory)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var config = try String(contentsOfFile: source + "/config.json", encoding: .utf8)
        config = config.replacingOccurrences(of: "\"num_nextn_predict_layers\": 1", with: "\"num_nextn_predict_layers\": 0")
        try config.write(toFile: directory + "/config.json", atomically: true, encoding: .utf8)
        try FileManager.default.copyItem(
            atPath: source + "/generation_config.json", toPath: directory + "/generation_config.json")
        // The weights without the MTP layer (model.layers.4.* in this 4-layer checkpoint).
        let file = try SafetensorsFile(path: source + "/model.safetensors")
        let kept = file.entries.values.filter { !$0.name.hasPrefix("model.layers.4.") }.sorted { $0.name < $1.name }
        try SafetensorsWriter.write(
            path: directory + "/model.safetensors",
            tensors: kept.map { SafetensorsWriter.Tensor(name: $0.name, dtype: $0.dtypeName, shape: $0.shape) }
        ) { index, sink throws(ModelError) in
            try sink.write(UnsafeRawBufferPointer(start: kept[index].data, count: kept[index].byteCount))
        }
        let model = try LingModel(directory: directory, threadCount: 1)
        #expect(!model.hasMTP)
        #expect(throws: EngineError.self) {
            _ = try LingStepModel(model: model, kvBlockCount: 8, kvBlockSize: 16, drafting: true)
        }
        // And the engine refuses speculation with a model that cannot draft.
        #expect(throws: EngineError.self) {
            _ = try Engine(
                configuration: EngineConfiguration(speculativeTokenCount: 2),
                makeModel: { try LingStepModel(model: LingModel(directory: directory, threadCount: 1), kvBlockCount: 8, kvBlockSize: 16) })
        }
    }
}
