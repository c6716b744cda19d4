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
                    let block = slot / kv.blockSize
                    let offset = slot % kv.blockSize
                    for g in 0..<kvHeadCount {
                        kv.write(layer: kvLayer, block: block, offset: offset, kvHead: g, key: row + (headCount + g) * headSize,
                                 value: row + (headCount + kvHeadCount + g) * headSize)
                    }
                }
            }
        }

        // One work item = one token and one KV head: its query group's scores against each cached block are one
        // small GEMM ([groupSize, headSize] x [blockSize, headSize]^T), then softmax and a weighted sum of values.
        let attention = scratch.attention.pointer   // [tokenCount, headCount * headSize]
        let scale = Float(1 / Double(headSize).squareRoot())
        let groupSize = config.queryGroupSize
        let rowStride = scratch.scoreRowStride
        let blockSize = kv.blockSize
        let scoresBase = scratch.scores.pointer
        scratch.blockValues.reserve(pool.threadCount * blockSize * headSize)
        let valueScratchBase = scratch.blockValues.pointer
        let workCount = tokenCount * kvHeadCount
        pool.run { worker, workerCount in
            let scores = scoresBase + worker * groupSize * rowStride   // [groupSize, rowStride]
            let valueScratch = valueScratchBase + worker * blockSize * headSize   // [blockSize, headSize]
            let begin = workCount * worker / workerCount
            let end = workCount * (worker + 1) / workerCount
            for item in begin..<end {
                let t = item / kvHeadCount
                let g = item % kvHeadCount
                let queries = qkv + t * qkvSize + g * groupSize * headSize   // [groupSize, headSize]
                let out = attention + t * headCount * headSize + g * groupSize * headSize
                let length = Int(batch.positions[t]) + 1
                batch.sequences[Int(batch.sequenceIndices[t])].blockTable.withUnsafeBufferPointer { table in
                    let blockCount = (length + blockSize - 1) / blockSize
                    for b in 0..<blockCount {
                        let keys = WeightMatrix(base: kv.keys(layer: kvLayer, block: Int(table[b]), kvHead: g),
                                                dtype: kv.precision.weightDType, rowCount: blockSize, columnCount: headSize)
                        Kernels.linear(scores + b * blockSize, yStride: rowStride, queries, xStride: headSize, keys,
                                       tokenCount: groupSize, rows: 0..<min(blockSize, length - b * blockSize))
                    }
                    for i in 0..<groupSize {
                        let row = scores + i * rowStride
                        var maximum = -Float.infinity
                        for j in 0..<length {
                            row[j] *= scale
                            maximum = max(maximum, row[j])
                        }
                        var sum: Float = 0
                        for j in 0..<length {
                            let e = expf(row[j] - maximum)
                            row[j] = e
                            sum += e
                        }
                        let inverse = 1 / sum
                        let headOut = out + i * headSize
                        headOut.initialize(repeating: 0, count: headSize)
                        for b in 0..<blockCount {
                            let rows = min(blockSize, length - b * blockSize)
                            let values = kv.valuesAsF32(layer: kvLayer, block: Int(table[b]), kvHead: g, rowCount: rows,
                                                        scratch: valueScratch)
                            for j in 0..<rows {
                                Kernels.axpy(headOut, row[b * blockSize + j] * inverse, values + j * headSize, count: headSize)
                            }
                        }
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
