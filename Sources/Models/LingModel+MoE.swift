import Foundation
import Tensors

extension LingModel {
    /// output = sum_k weight_k * Expert_{id_k}(x) + SharedExpert(x), routed as the reference does: f32 sigmoid
    /// scores, expert_bias for selection only, group-limited top-k (group score = sum of its top-2 biased scores),
    /// weights = unbiased scores / (their sum + 1e-20) * routed_scaling_factor.
    func mixtureOfExperts(_ moe: MoEWeights, layer: Int, input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
                          tokenCount: Int) {
        let hiddenSize = config.hiddenSize
        let expertCount = config.expertCount
        let k = config.expertsPerToken
        let logits = scratch.routerLogits.pointer   // [tokenCount, expertCount]
        pool.linear(logits, yStride: expertCount, input, xStride: hiddenSize, moe.router, tokenCount: tokenCount)
        let ids = scratch.expertIds.pointer
        let routeWeights = scratch.expertWeights.pointer
        moe.expertBias.withUnsafeBufferPointer { bias in
            for t in 0..<tokenCount {
                route(logits + t * expertCount, bias: bias.baseAddress!, ids: ids + t * k, weights: routeWeights + t * k)
            }
        }
        if let routingObserver {
            routingObserver(layer, Array(UnsafeBufferPointer(start: ids, count: tokenCount * k)),
                            Array(UnsafeBufferPointer(start: routeWeights, count: tokenCount * k)))
        }

        profile?.lap(.router)
        // Group assignment rows (t * k + j) by expert, in token order (counting sort).
        let offsets = scratch.groupOffsets.pointer
        let rows = scratch.groupRows.pointer
        offsets.initialize(repeating: 0, count: expertCount + 1)
        for r in 0..<(tokenCount * k) { offsets[Int(ids[r]) + 1] += 1 }
        for e in 0..<expertCount { offsets[e + 1] += offsets[e] }
        for r in 0..<(tokenCount * k) {
            let e = Int(ids[r])
            // offsets[e] walks forward; restored below.
            rows[Int(offsets[e])] = Int32(r)
            offsets[e] += 1
        }
        for e in stride(from: expertCount, to: 0, by: -1) { offsets[e] = offsets[e - 1] }
        offsets[0] = 0

        let expertOutput = scratch.expertOutput.pointer   // [tokenCount * k, hiddenSize]
        let sharedOutput = scratch.shared.pointer   // [tokenCount, hiddenSize]
        expertExecutor.run(layer: layer, experts: moe.experts, shared: moe.shared.map { SharedExpertJob(weights: $0, output: sharedOutput) },
                           input: input, tokenCount: tokenCount, hiddenSize: hiddenSize,
                           groups: ExpertGroups(expertCount: expertCount, expertsPerToken: k, groupOffsets: offsets,
                                                groupRows: rows),
                           output: expertOutput)
        profile?.lap(.experts)
        // Combine in a fixed order (k = 0..<K per token) so a token's result never depends on its batch.
        output.initialize(repeating: 0, count: tokenCount * hiddenSize)
        for t in 0..<tokenCount {
            for j in 0..<k {
                Kernels.axpy(output + t * hiddenSize, routeWeights[t * k + j], expertOutput + (t * k + j) * hiddenSize,
                             count: hiddenSize)
            }
        }
        if moe.shared != nil {
            for i in 0..<(tokenCount * hiddenSize) { output[i] += sharedOutput[i] }
        }
    }

    /// Routing of one token. logits: [expertCount] router logits (overwritten with scores); ids/weights: [K],
    /// by descending biased score (ties to the lower expert id).
    @inline(__always)
    private func route(_ logits: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>, ids: UnsafeMutablePointer<Int32>,
                       weights: UnsafeMutablePointer<Float>) {
        let expertCount = config.expertCount
        let groupCount = config.groupCount
        let groupSize = expertCount / groupCount
        let keptGroups = config.keptGroupCount
        let k = config.expertsPerToken
        // Scores s (unbiased) stay in logits; biased b = s + bias computed on the fly.
        for e in 0..<expertCount { logits[e] = 1 / (1 + expf(-logits[e])) }
        @inline(__always) func biased(_ e: Int) -> Float { logits[e] + bias[e] }
        // Group scores: sum of the two largest biased scores in each contiguous group.
        var keptMask: UInt64 = 0   // bit g = group g kept (n_group <= 64, checked at load)
        withUnsafeTemporaryAllocation(of: Float.self, capacity: groupCount) { groupScores in
            for g in 0..<groupCount {
                var first = -Float.infinity
                var second = -Float.infinity
                for e in (g * groupSize)..<((g + 1) * groupSize) {
                    let b = biased(e)
                    if b > first {
                        second = first
                        first = b
                    } else if b > second {
                        second = b
                    }
                }
                groupScores[g] = first + second
            }
            for _ in 0..<keptGroups {
                var best = -1
                for g in 0..<groupCount where keptMask & (1 << UInt64(g)) == 0 {
                    if best < 0 || groupScores[g] > groupScores[best] { best = g }
                }
                keptMask |= 1 << UInt64(best)
            }
        }
        // Top-k by biased score inside the kept groups (selection sort over K; K and E are small).
        var chosenSum: Float = 0
        for j in 0..<k {
            var best = -1
            var bestScore = -Float.infinity
            for e in 0..<expertCount where keptMask & (1 << UInt64(e / groupSize)) != 0 {
                let b = biased(e)
                if best < 0 || b > bestScore {
                    var taken = false
                    for i in 0..<j where Int(ids[i]) == e { taken = true }
                    if !taken {
                        best = e
                        bestScore = b
                    }
                }
            }
            ids[j] = Int32(best)
            weights[j] = logits[best]
            chosenSum += logits[best]
        }
        let denominator = chosenSum + 1e-20
        let scaling = Float(config.routedScalingFactor)
        for j in 0..<k { weights[j] = weights[j] / denominator * scaling }
    }
}
