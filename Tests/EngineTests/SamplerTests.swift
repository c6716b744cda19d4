import Testing

@testable import Engine

@Suite struct SamplerTests {
    private func sample(
        _ logits: [Float], _ parameters: SamplingParameters, history: TokenHistory? = nil, seed: UInt64 = 1,
        draws: Int = 1
    ) -> [Int] {
        var sampler = Sampler(vocabularySize: logits.count)
        var random = RandomSource(seed: seed)
        var results: [Int] = []
        for _ in 0..<draws {
            var row = logits
            let id = row.withUnsafeMutableBufferPointer {
                sampler.sample(logits: $0, parameters: parameters, history: history, random: &random)
            }
            results.append(id)
        }
        return results
    }

    @Test func greedyTakesTheLowestIdAmongTies() {
        #expect(sample([0.5, 2, 2, 1], .greedy) == [1])
        #expect(sample([-.infinity, -3, -1], .greedy) == [2])
    }

    @Test func logitBiasAppliesBeforeGreedy() {
        var parameters = SamplingParameters.greedy
        parameters.logitBias = [0: 10]
        #expect(sample([0, 5, 1], parameters) == [0])
        parameters.logitBias = [1: -100]
        #expect(sample([0, 5, 1], parameters) == [2])
    }

    @Test func repetitionPenaltyDividesPositiveAndMultipliesNegativeLogits() {
        var logits: [Float] = [2, -1, 1.5, 0]
        var parameters = SamplingParameters.greedy
        parameters.repetitionPenalty = 2
        let history = TokenHistory(promptTokenIds: [0, 1])
        logits.withUnsafeMutableBufferPointer {
            Sampler.applyBiasAndPenalties($0, parameters: parameters, history: history)
        }
        #expect(logits == [1, -2, 1.5, 0])
    }

    @Test func presenceAndFrequencyPenaltiesCountGeneratedTokensOnly() {
        var logits: [Float] = [3, 3, 3]
        var parameters = SamplingParameters.greedy
        parameters.presencePenalty = 0.5
        parameters.frequencyPenalty = 0.25
        var history = TokenHistory(promptTokenIds: [2])
        history.appendGenerated(0)
        history.appendGenerated(0)
        history.appendGenerated(1)
        logits.withUnsafeMutableBufferPointer {
            Sampler.applyBiasAndPenalties($0, parameters: parameters, history: history)
        }
        #expect(logits == [3 - 0.5 - 0.5, 3 - 0.5 - 0.25, 3])
        history.removeGenerated(0)
        history.removeGenerated(0)
        #expect(history.generatedCounts == [1: 1])
    }

    @Test func sameSeedSameTokensDifferentSeedDifferentTokens() {
        let logits: [Float] = (0..<64).map { Float($0 % 7) * 0.3 }
        let parameters = SamplingParameters(temperature: 1)
        let a = sample(logits, parameters, seed: 42, draws: 50)
        let b = sample(logits, parameters, seed: 42, draws: 50)
        let c = sample(logits, parameters, seed: 43, draws: 50)
        #expect(a == b)
        #expect(a != c)
    }

    @Test func topKKeepsOnlyTheKBestTokens() {
        let logits: [Float] = [1, 4, 3, 2, 0]
        let drawn = Set(sample(logits, SamplingParameters(temperature: 1, topK: 2), draws: 400))
        #expect(drawn == [1, 2])
    }

    @Test func topPKeepsTheSmallestPrefixReachingTheMass() {
        // Probabilities 0.5, 0.25, 0.125, 0.125 (log-space logits).
        let logits: [Float] = [logf(0.5), logf(0.25), logf(0.125), logf(0.125)]
        let drawn = Set(sample(logits, SamplingParameters(temperature: 1, topP: 0.7), draws: 400))
        #expect(drawn == [0, 1])
        let onlyFirst = Set(sample(logits, SamplingParameters(temperature: 1, topP: 0.5), draws: 200))
        #expect(onlyFirst == [0])
    }

    @Test func topPOnALargeVocabularyMatchesAFullSort() {
        // 5000 tokens with a long tail: the bounded prefix sort must cut where a full sort would.
        var random = RandomSource(seed: 7)
        let logits: [Float] = (0..<5000).map { _ in random.nextUnitFloat() * 6 }
        var sampler = Sampler(vocabularySize: logits.count)
        var probabilities = [Float](repeating: 0, count: logits.count)
        let parameters = SamplingParameters(temperature: 0.8, topP: 0.9)
        logits.withUnsafeBufferPointer { l in
            probabilities.withUnsafeMutableBufferPointer {
                sampler.distribution(logits: l, parameters: parameters, into: $0)
            }
        }
        // Reference: full softmax, full sort, cut.
        let scaled = logits.map { Double($0) / 0.8 }
        let maxValue = scaled.max()!
        let weights = scaled.map { exp($0 - maxValue) }
        let total = weights.reduce(0, +)
        let order = weights.indices.sorted { weights[$0] > weights[$1] || (weights[$0] == weights[$1] && $0 < $1) }
        var cumulative = 0.0
        var kept = Set<Int>()
        for id in order {
            kept.insert(id)
            cumulative += weights[id] / total
            if cumulative >= 0.9 { break }
        }
        let keptBySampler = Set(probabilities.indices.filter { probabilities[$0] > 0 })
        #expect(keptBySampler.symmetricDifference(kept).count <= 1)  // float rounding at the boundary only
        #expect(abs(probabilities.reduce(0, +) - 1) < 1e-4)
    }

    @Test func largeTopKAndTiesKeepExactlyTheBestKByLowestId() {
        // 20,000 tokens, 3 of every 10 sharing one logit (ties at the cut), top_k 6,000 (above the listed limit,
        // so the radix-selected threshold decides): exactly the 6,000 best, ties broken by lower id.
        var random = RandomSource(seed: 11)
        let logits: [Float] = (0..<20_000).map { $0 % 10 < 3 ? 1.5 : Float(Int(random.nextUnitFloat() * 256)) / 64 }
        var sampler = Sampler(vocabularySize: logits.count)
        var probabilities = [Float](repeating: 0, count: logits.count)
        let parameters = SamplingParameters(temperature: 1, topK: 6000)
        logits.withUnsafeBufferPointer { l in
            probabilities.withUnsafeMutableBufferPointer { sampler.distribution(logits: l, parameters: parameters, into: $0) }
        }
        let order = logits.indices.sorted { logits[$0] > logits[$1] || (logits[$0] == logits[$1] && $0 < $1) }
        let expected = Set(order.prefix(6000))
        let kept = Set(probabilities.indices.filter { probabilities[$0] > 0 })
        #expect(kept == expected)
        #expect(abs(probabilities.reduce(0, +) - 1) < 1e-4)
    }

    /// Rows for the small-top-k paths: the sampled-threshold gather, and the histogram it falls back to.
    static let smallTopKRows: [(name: String, logits: [Float], topK: Int)] = {
        var random = RandomSource(seed: 5)
        let vocabulary = 40_000
        let flat: [Float] = (0..<vocabulary).map { _ in random.nextUnitFloat() * 0.01 }
        let peaked: [Float] = (0..<vocabulary).map { _ in -8 * random.nextUnitFloat() * random.nextUnitFloat() }
        // Ties at the cut: a quarter of the row on one value, the rest spread below and above it.
        let ties: [Float] = (0..<vocabulary).map { $0 % 4 == 1 ? 2 : Float(Int(random.nextUnitFloat() * 64)) / 16 }
        // The best tokens sit between the sample positions (ids that are not multiples of 64).
        let offSample: [Float] = (0..<vocabulary).map { $0 % 64 == 0 ? -3 : ($0 % 997 == 5 ? 4 : random.nextUnitFloat()) }
        // Only 50 tokens not banned: the sample sees too few positive weights, the histogram path decides.
        let sparse: [Float] = (0..<vocabulary).map { $0 % 800 == 7 ? random.nextUnitFloat() : -.infinity }
        return [
            ("flat", flat, 40), ("flat", flat, 4096), ("peaked", peaked, 1), ("peaked", peaked, 50),
            ("ties", ties, 100), ("ties", ties, 3000), ("offSample", offSample, 30), ("sparse", sparse, 40),
            ("sparse", sparse, 50),
        ]
    }()

    @Test(arguments: 0..<smallTopKRows.count)
    func smallTopKIsExactlyTheBestKByLowestIdWithItsWeights(row: Int) {
        let (name, logits, topK) = Self.smallTopKRows[row]
        var sampler = Sampler(vocabularySize: logits.count)
        var probabilities = [Float](repeating: 0, count: logits.count)
        let parameters = SamplingParameters(temperature: 1, topK: topK)
        logits.withUnsafeBufferPointer { l in
            probabilities.withUnsafeMutableBufferPointer { sampler.distribution(logits: l, parameters: parameters, into: $0) }
        }
        let finite = logits.indices.filter { logits[$0] > -.infinity }
        let order = finite.sorted { logits[$0] > logits[$1] || (logits[$0] == logits[$1] && $0 < $1) }
        let expected = Set(order.prefix(topK))
        let kept = Set(probabilities.indices.filter { probabilities[$0] > 0 })
        #expect(kept == expected, "\(name), top_k \(topK)")
        // Weights relative to the best token's: e^(logit - max), normalised over the kept set.
        let maxLogit = Double(logits[order[0]])
        let total = expected.reduce(0.0) { $0 + exp(Double(logits[$1]) - maxLogit) }
        for id in expected {
            let want = exp(Double(logits[id]) - maxLogit) / total
            #expect(abs(Double(probabilities[id]) - want) <= 1e-5 * max(want, 1e-3), "\(name), token \(id)")
        }
    }

    @Test func minPDropsTokensBelowTheRelativeThreshold() {
        let logits: [Float] = [logf(0.6), logf(0.3), logf(0.1)]
        let drawn = Set(sample(logits, SamplingParameters(temperature: 1, minP: 0.4), draws: 300))
        #expect(drawn == [0, 1])
    }

    @Test func temperatureSharpensTheDistribution() {
        let logits: [Float] = [1, 0]
        let cold = sample(logits, SamplingParameters(temperature: 0.1), draws: 500).filter { $0 == 0 }.count
        let hot = sample(logits, SamplingParameters(temperature: 2), draws: 500).filter { $0 == 0 }.count
        #expect(cold > 490)
        #expect(hot > 250 && hot < 450)
    }

    @Test func empiricalFrequenciesFollowTheSoftmax() {
        let logits: [Float] = [0, logf(2), logf(3), logf(4)]  // probabilities 0.1, 0.2, 0.3, 0.4
        let draws = sample(logits, SamplingParameters(temperature: 1), seed: 99, draws: 20_000)
        let expected: [Double] = [0.1, 0.2, 0.3, 0.4]
        var chiSquare = 0.0
        for id in 0..<4 {
            let observed = Double(draws.filter { $0 == id }.count)
            let wanted = expected[id] * 20_000
            chiSquare += (observed - wanted) * (observed - wanted) / wanted
        }
        #expect(chiSquare < 16.27)  // p = 0.001 with 3 degrees of freedom; deterministic with the fixed seed
    }

    @Test func bannedTokensAreNeverDrawn() {
        var sampler = Sampler(vocabularySize: 3)
        var random = RandomSource(seed: 3)
        for _ in 0..<100 {
            var row: [Float] = [5, 5, 5]
            let id = row.withUnsafeMutableBufferPointer {
                sampler.sample(
                    logits: $0, parameters: SamplingParameters(temperature: 1), history: nil, random: &random,
                    bannedIds: [0, 2])
            }
            #expect(id == 1)
        }
    }

    @Test func logProbabilitiesAreALogSoftmaxOfTheRawLogits() {
        let logits: [Float] = [logf(0.1), logf(0.2), logf(0.3), logf(0.4)]
        let result = logits.withUnsafeBufferPointer { LogProbabilities.compute(logits: $0, chosen: 1, topCount: 2) }
        #expect(abs(result.chosen.logProbability - logf(0.2)) < 1e-5)
        #expect(result.top.map(\.tokenId) == [3, 2])
        #expect(abs(result.top[0].logProbability - logf(0.4)) < 1e-5)
    }

    @Test func validationNamesTheParameter() {
        #expect(throws: EngineError.self) { try SamplingParameters(temperature: -1).validate(vocabularySize: 10) }
        #expect(throws: EngineError.self) { try SamplingParameters(topP: 0).validate(vocabularySize: 10) }
        #expect(throws: EngineError.self) {
            try SamplingParameters(logitBias: [10: 1]).validate(vocabularySize: 10)
        }
        #expect(throws: Never.self) { try SamplingParameters(topK: 5).validate(vocabularySize: 10) }
    }
}

#if canImport(Glibc)
import Glibc
#endif
