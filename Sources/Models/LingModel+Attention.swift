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
        profile?.lap(.norms)
        let qkv = scratch.queryKeyValue.pointer   // [tokenCount, (headCount + 2 * kvHeadCount) * headSize]
        pool.linear(qkv, yStride: qkvSize, normed, xStride: hiddenSize, weights.queryKeyValue, tokenCount: tokenCount)
        profile?.lap(.queryKeyValue)

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

        profile?.lap(.ropeAndCacheWrite)
        pagedAttention(qkv: qkv, kvLayer: kvLayer, batch: batch, kv: kv)
        profile?.lap(.attention)
        let attention = scratch.attention.pointer   // [tokenCount, headCount * headSize]
        let projection = scratch.projection.pointer
        pool.linear(projection, yStride: hiddenSize, attention, xStride: headCount * headSize, weights.output,
                    tokenCount: tokenCount)
        for i in 0..<(tokenCount * hiddenSize) { hidden[i] += projection[i] }
        profile?.lap(.attentionOutput)
    }

    /// attention [tokenCount, headCount * headSize] from the queries in qkv and the paged cache, flash-attention
    /// style (PagedAttention). Work items: (tile, KV head) where a tile is up to `attentionTileRows` query rows of
    /// consecutive tokens of one sequence; when those items are too few to occupy the pool (decode, speculative
    /// verification), tiles of a few tokens are split further by span (16 blocks of the context), each span giving
    /// a partial softmax, merged in span order in a second pass. The split is a schedule only: every row's bits are
    /// the same either way, in any batch, tile and thread count.
    private func pagedAttention(qkv: UnsafeMutablePointer<Float>, kvLayer: Int, batch: ForwardBatch, kv: KVStorage) {
        let tokenCount = batch.tokenCount
        let headSize = config.headSize
        let headCount = config.headCount
        let kvHeadCount = config.kvHeadCount
        let groupSize = config.queryGroupSize
        let qkvSize = config.qkvSize
        let blockSize = kv.blockSize
        let scale = Float(1 / Double(headSize).squareRoot())
        let attention = scratch.attention.pointer   // [tokenCount, headCount * headSize]
        let dtype = kv.precision.weightDType

        // Tiles: runs of consecutive positions of one sequence, cut every tileTokens tokens.
        let tileTokens = max(1, Self.attentionTileRows / groupSize)
        scratch.attentionLengths.reserve(tokenCount)
        scratch.attentionTiles.reserve(4 * tokenCount)
        let lengths = scratch.attentionLengths.pointer   // [tokenCount] positions each token sees
        let tiles = scratch.attentionTiles.pointer       // [tileCount, 4] first token, tokens, spans (0: not split), partial offset
        var tileCount = 0
        var t = 0
        while t < tokenCount {
            var end = t + 1
            while end < tokenCount, end - t < tileTokens, batch.sequenceIndices[end] == batch.sequenceIndices[t],
                  batch.positions[end] == batch.positions[end - 1] + 1 {
                end += 1
            }
            tiles[4 * tileCount] = t
            tiles[4 * tileCount + 1] = end - t
            tiles[4 * tileCount + 2] = 0
            tileCount += 1
            t = end
        }
        for t in 0..<tokenCount { lengths[t] = batch.positions[t] + 1 }

        // Span split when (tile, head) items alone leave the pool idle: tiles of at most splitTokens tokens.
        let splitTokens = 4
        var itemCount = 0
        var partialCount = 0
        let split = tileCount * kvHeadCount < 4 * pool.threadCount
        for i in 0..<tileCount {
            let first = tiles[4 * i], count = tiles[4 * i + 1]
            let spans = PagedAttention.spanCount(length: Int(lengths[first + count - 1]), blockSize: blockSize)
            if split && count <= splitTokens && spans > 1 {
                tiles[4 * i + 2] = spans
                tiles[4 * i + 3] = partialCount
                partialCount += kvHeadCount * spans * count * groupSize * (headSize + 2)
                itemCount += kvHeadCount * spans
            } else {
                itemCount += kvHeadCount
            }
        }
        scratch.attentionItems.reserve(3 * itemCount)
        let items = scratch.attentionItems.pointer   // [itemCount, 3] tile, KV head, span (-1: all spans)
        var n = 0
        for i in 0..<tileCount {
            for g in 0..<kvHeadCount {
                let spans = tiles[4 * i + 2]
                for s in 0..<max(spans, 1) {
                    items[3 * n] = i
                    items[3 * n + 1] = g
                    items[3 * n + 2] = spans == 0 ? -1 : s
                    n += 1
                }
            }
        }
        var longestTile = 1
        for i in 0..<tileCount { longestTile = max(longestTile, tiles[4 * i + 1]) }
        let workerScratchCount = PagedAttention.scratchCount(rowCount: longestTile * groupSize, blockSize: blockSize,
                                                             headSize: headSize)
        scratch.attentionWork.reserve(pool.threadCount * workerScratchCount)
        scratch.attentionPartials.reserve(max(partialCount, 1))
        let workBase = scratch.attentionWork.pointer
        let partialBase = scratch.attentionPartials.pointer

        func tile(_ i: Int, head g: Int) -> AttentionTile {
            let first = tiles[4 * i]
            return AttentionTile(queries: qkv + first * qkvSize + g * groupSize * headSize, queryTokenStride: qkvSize,
                                 out: attention + first * headCount * headSize + g * groupSize * headSize,
                                 outTokenStride: headCount * headSize, lengths: lengths + first,
                                 tokenCount: tiles[4 * i + 1], groupSize: groupSize, scale: scale)
        }
        func withHead(_ i: Int, _ g: Int, _ body: (KVHeadView) -> Void) {
            let first = tiles[4 * i]
            batch.sequences[Int(batch.sequenceIndices[first])].blockTable.withUnsafeBufferPointer { table in
                body(KVHeadView(keys: kv.keys(layer: kvLayer, block: 0, kvHead: g),
                                values: kv.values(layer: kvLayer, block: 0, kvHead: g), blockTable: table.baseAddress!,
                                blockStride: kv.blockStride, blockSize: blockSize, headSize: headSize, dtype: dtype))
            }
        }
        // Partials of a split (tile, head): [spans, rows, headSize] values, then [spans, rows] maxima and sums.
        func partials(_ i: Int, _ g: Int) -> UnsafeMutablePointer<Float> {
            let spans = tiles[4 * i + 2], rows = tiles[4 * i + 1] * groupSize
            return partialBase + tiles[4 * i + 3] + g * spans * rows * (headSize + 2)
        }
        let totalItems = itemCount
        // Items interleaved over workers: neighbouring tiles of a causal prompt cost about the same.
        pool.run { worker, workerCount in
            let work = workBase + worker * workerScratchCount
            var item = worker
            while item < totalItems {
                let i = items[3 * item], g = items[3 * item + 1], s = items[3 * item + 2]
                withHead(i, g) { head in
                    if s < 0 {
                        PagedAttention.attend(tile(i, head: g), head, scratch: work)
                    } else {
                        let spans = tiles[4 * i + 2], rows = tiles[4 * i + 1] * groupSize
                        let base = partials(i, g)
                        let maxima = base + spans * rows * headSize
                        PagedAttention.attendSpan(tile(i, head: g), head, span: s, partial: base + s * rows * headSize,
                                                  spanMax: maxima + s * rows, spanSum: maxima + (spans + s) * rows,
                                                  scratch: work)
                    }
                }
                item += workerCount
            }
        }
        guard partialCount > 0 else { return }
        let mergeCount = tileCount * kvHeadCount
        pool.run { worker, workerCount in
            var item = worker
            while item < mergeCount {
                let i = item / kvHeadCount, g = item % kvHeadCount
                let spans = tiles[4 * i + 2]
                if spans > 0 {
                    let rows = tiles[4 * i + 1] * groupSize
                    let base = partials(i, g)
                    let maxima = base + spans * rows * headSize
                    withHead(i, g) { head in
                        PagedAttention.merge(tile(i, head: g), head, spanCount: spans, partials: base, spanMax: maxima,
                                             spanSum: maxima + spans * rows)
                    }
                }
                item += workerCount
            }
        }
    }

    /// Query rows per attention tile: the K/V block widened once serves this many rows.
    static var attentionTileRows: Int { 64 }
}
