import Foundation
import KVCache
import Tensors

extension LingModel {
    /// hidden += dense(attention(RMSNorm(hidden))): fused QKV, per-head QK-RMSNorm, partial NeoX RoPE, K/V written
    /// to the paged storage, then causal GQA attention read through each sequence's block table.
    func attentionBlock(_ weights: AttentionWeights, kvLayer: Int, batch: ForwardBatch, kv: KVStorage) {
        let tokenCount = batch.tokenCount
        let hiddenSize = config.hiddenSize
        let headSize = config.headSize
        let headCount = config.headCount
        let kvHeadCount = config.kvHeadCount
        let qkvSize = config.qkvSize
        let hidden = scratch.hidden.pointer
        let normed = scratch.normed.pointer
        weights.inputNorm.withUnsafeBufferPointer { w in
            for t in 0..<tokenCount {
                rmsNorm(normed + t * hiddenSize, hidden + t * hiddenSize, w.baseAddress!, count: hiddenSize)
            }
        }
        let qkv = scratch.queryKeyValue.pointer   // [tokenCount, (headCount + 2 * kvHeadCount) * headSize]
        pool.linear(qkv, yStride: qkvSize, normed, xStride: hiddenSize, weights.queryKeyValue, tokenCount: tokenCount)

        let half = rope.rotaryDimension / 2
        weights.queryNorm.withUnsafeBufferPointer { queryNorm in
            weights.keyNorm.withUnsafeBufferPointer { keyNorm in
                for t in 0..<tokenCount {
                    let row = qkv + t * qkvSize
                    let cosines = scratch.cosines.pointer + t * half
                    let sines = scratch.sines.pointer + t * half
                    for h in 0..<(headCount + kvHeadCount) {
                        let head = row + h * headSize
                        rmsNorm(head, head, h < headCount ? queryNorm.baseAddress! : keyNorm.baseAddress!, count: headSize)
                        rope.apply(head, cosines: cosines, sines: sines)
                    }
                    let slot = scratch.slots.pointer[t]
                    kv.keys(layer: kvLayer, slot: slot).update(from: row + headCount * headSize, count: kvHeadCount * headSize)
                    kv.values(layer: kvLayer, slot: slot).update(from: row + (headCount + kvHeadCount) * headSize,
                                                                 count: kvHeadCount * headSize)
                }
            }
        }

        let attention = scratch.attention.pointer   // [tokenCount, headCount * headSize]
        let scale = Float(1 / Double(headSize).squareRoot())
        let groupSize = config.queryGroupSize
        let scoresStride = scratch.scores.capacity / pool.threadCount
        let blockSize = kv.blockSize
        let scoresBase = scratch.scores.pointer
        let workCount = tokenCount * headCount
        pool.run { worker, workerCount in
            let scores = scoresBase + worker * scoresStride
            let begin = workCount * worker / workerCount
            let end = workCount * (worker + 1) / workerCount
            for item in begin..<end {
                let t = item / headCount
                let h = item % headCount
                let g = h / groupSize
                let query = qkv + t * qkvSize + h * headSize
                let out = attention + t * headCount * headSize + h * headSize
                let position = Int(batch.positions[t])
                batch.sequences[Int(batch.sequenceIndices[t])].blockTable.withUnsafeBufferPointer { table in
                    var maximum = -Float.infinity
                    for j in 0...position {
                        let slot = Int(table[j / blockSize]) * blockSize + j % blockSize
                        let s = Kernels.dot(query, kv.keys(layer: kvLayer, slot: slot) + g * headSize, count: headSize) * scale
                        scores[j] = s
                        maximum = max(maximum, s)
                    }
                    var sum: Float = 0
                    for j in 0...position {
                        let e = expf(scores[j] - maximum)
                        scores[j] = e
                        sum += e
                    }
                    let inverse = 1 / sum
                    out.initialize(repeating: 0, count: headSize)
                    for j in 0...position {
                        let slot = Int(table[j / blockSize]) * blockSize + j % blockSize
                        Kernels.axpy(out, scores[j] * inverse, kv.values(layer: kvLayer, slot: slot) + g * headSize, count: headSize)
                    }
                }
            }
        }
        let projection = scratch.projection.pointer
        pool.linear(projection, yStride: hiddenSize, attention, xStride: headCount * headSize, weights.output,
                    tokenCount: tokenCount)
        for i in 0..<(tokenCount * hiddenSize) { hidden[i] += projection[i] }
    }
}
