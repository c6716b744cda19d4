import CKernels
import Foundation
import Testing

/// A paged K/V cache of one layer in KVStorage's layout ([block, kvHead, offset, headSize]), its blocks shuffled, with
/// the exact f32 value of every stored element for the reference.
private struct TestCache {
    let blockSize: Int
    let headSize: Int
    let kvHeadCount: Int
    let dtype: lk_dtype
    let blockTable: [Int32]      // logical -> physical
    var keyBytes: [UInt8]
    var valueBytes: [UInt8]
    var keys: [Float]            // [position, kvHead, headSize] exact values in position order
    var values: [Float]

    init(length: Int, blockSize: Int, headSize: Int, kvHeadCount: Int, dtype: lk_dtype, random: inout TestRandom) {
        self.blockSize = blockSize
        self.headSize = headSize
        self.kvHeadCount = kvHeadCount
        self.dtype = dtype
        let logical = (length + blockSize - 1) / blockSize
        let physicalCount = logical + 3
        var table = (0..<physicalCount).map { Int32($0) }
        for i in stride(from: physicalCount - 1, to: 0, by: -1) { table.swapAt(i, Int(random.next() % UInt64(i + 1))) }
        blockTable = Array(table.prefix(logical))
        let elementSize = dtype == LK_DTYPE_BF16 ? 2 : 4
        let blockStride = kvHeadCount * blockSize * headSize
        keyBytes = [UInt8](repeating: 0, count: physicalCount * blockStride * elementSize)
        valueBytes = keyBytes
        keys = [Float](repeating: 0, count: length * kvHeadCount * headSize)
        values = keys
        for p in 0..<length {
            let block = Int(blockTable[p / blockSize])
            for g in 0..<kvHeadCount {
                for d in 0..<headSize {
                    // Keys with a spread of magnitudes so softmax maxima move from block to block.
                    let k = random.unit() * (1 + Float(p % 7))
                    let v = random.unit()
                    let element = block * blockStride + g * blockSize * headSize + (p % blockSize) * headSize + d
                    let index = (p * kvHeadCount + g) * headSize + d
                    keys[index] = store(k, into: &keyBytes, element: element)
                    values[index] = store(v, into: &valueBytes, element: element)
                }
            }
        }
    }

    private func store(_ x: Float, into bytes: inout [UInt8], element: Int) -> Float {
        if dtype == LK_DTYPE_BF16 {
            let h = bf16Reference(x)
            bytes[2 * element] = UInt8(h & 0xff)
            bytes[2 * element + 1] = UInt8(h >> 8)
            return Float(bitPattern: UInt32(h) << 16)
        }
        withUnsafeBytes(of: x.bitPattern.littleEndian) { raw in
            for i in 0..<4 { bytes[4 * element + i] = raw[i] }
        }
        return x
    }

    /// Calls body with the lk_kv_head of `kvHead`.
    func withHead<R>(_ kvHead: Int, _ body: (inout lk_kv_head) -> R) -> R {
        let elementSize = dtype == LK_DTYPE_BF16 ? 2 : 4
        return keyBytes.withUnsafeBytes { k in
            valueBytes.withUnsafeBytes { v in
                blockTable.withUnsafeBufferPointer { table in
                    var head = lk_kv_head(
                        keys: k.baseAddress! + kvHead * blockSize * headSize * elementSize,
                        values: v.baseAddress! + kvHead * blockSize * headSize * elementSize,
                        blockTable: table.baseAddress!, blockStride: Int64(kvHeadCount * blockSize * headSize),
                        blockSize: Int64(blockSize), headSize: Int64(headSize), dtype: dtype)
                    return body(&head)
                }
            }
        }
    }
}

/// Queries of `tokenCount` tokens at positions start..., each [groupSize, headSize] for one KV head, and ways to run
/// the kernel on any tiling of them.
private struct AttentionCase {
    let cache: TestCache
    let kvHead: Int
    let groupSize: Int
    let start: Int          // position of the first query token
    let tokenCount: Int
    let queries: [Float]    // [tokenCount, groupSize, headSize]
    var headSize: Int { cache.headSize }
    var scale: Float { Float(1 / Double(headSize).squareRoot()) }

    /// Double-precision softmax attention of token i, head h.
    func reference(token i: Int, head h: Int) -> [Double] {
        let length = start + i + 1
        let q = queries[((i * groupSize) + h) * headSize..<((i * groupSize) + h + 1) * headSize]
        var scores = [Double](repeating: 0, count: length)
        for p in 0..<length {
            var dot = 0.0
            for d in 0..<headSize {
                dot += Double(q[q.startIndex + d]) * Double(cache.keys[(p * cache.kvHeadCount + kvHead) * headSize + d])
            }
            scores[p] = dot * Double(scale)
        }
        let maximum = scores.max()!
        let weights = scores.map { Foundation.exp($0 - maximum) }
        let sum = weights.reduce(0, +)
        var out = [Double](repeating: 0, count: headSize)
        for p in 0..<length {
            for d in 0..<headSize {
                out[d] += weights[p] / sum * Double(cache.values[(p * cache.kvHeadCount + kvHead) * headSize + d])
            }
        }
        return out
    }

    /// Output [tokenCount, groupSize, headSize] computed in tiles of the given token counts (summing to
    /// tokenCount); tiles listed in `splitTiles` go through lk_attention_span for every span, in `spanOrder`, and
    /// lk_attention_merge.
    func run(tiles: [Int], splitTiles: Set<Int> = [], reverseSpans: Bool = false) -> [Float] {
        let lengths = (0..<tokenCount).map { Int32(start + $0 + 1) }
        var out = [Float](repeating: .nan, count: tokenCount * groupSize * headSize)
        var first = 0
        for (index, count) in tiles.enumerated() {
            let rowCount = count * groupSize
            var scratch = [Float](repeating: .nan, count: Int(lk_attention_scratch_floats(Int64(rowCount),
                                                                                       Int64(cache.blockSize), Int64(headSize))))
            queries.withUnsafeBufferPointer { q in
                out.withUnsafeMutableBufferPointer { o in
                    lengths.withUnsafeBufferPointer { l in
                        var rows = lk_attention_rows(
                            queries: q.baseAddress! + first * groupSize * headSize, queryTokenStride: Int64(groupSize * headSize),
                            out: o.baseAddress! + first * groupSize * headSize, outTokenStride: Int64(groupSize * headSize),
                            lengths: l.baseAddress! + first, tokenCount: Int64(count), groupSize: Int64(groupSize), scale: scale)
                        cache.withHead(kvHead) { head in
                            if !splitTiles.contains(index) {
                                lk_attention(&rows, &head, &scratch)
                                return
                            }
                            let spans = Int(lk_attention_span_count(Int64(l[first + count - 1]), Int64(cache.blockSize)))
                            var partials = [Float](repeating: .nan, count: spans * rowCount * headSize)
                            var maxima = [Float](repeating: .nan, count: spans * rowCount)
                            var sums = maxima
                            let order = reverseSpans ? Array((0..<spans).reversed()) : Array(0..<spans)
                            for s in order {
                                partials.withUnsafeMutableBufferPointer { p in
                                    maxima.withUnsafeMutableBufferPointer { m in
                                        sums.withUnsafeMutableBufferPointer { sum in
                                            lk_attention_span(&rows, &head, Int64(s), p.baseAddress! + s * rowCount * headSize,
                                                              m.baseAddress! + s * rowCount, sum.baseAddress! + s * rowCount,
                                                              &scratch)
                                        }
                                    }
                                }
                            }
                            lk_attention_merge(&rows, &head, Int64(spans), partials, maxima, sums)
                        }
                    }
                }
            }
            first += count
        }
        return out
    }
}

private func makeCase(start: Int, tokenCount: Int, groupSize: Int, headSize: Int, blockSize: Int, dtype: lk_dtype,
                      seed: UInt64) -> AttentionCase {
    var random = TestRandom(seed: seed)
    let cache = TestCache(length: start + tokenCount, blockSize: blockSize, headSize: headSize, kvHeadCount: 2,
                          dtype: dtype, random: &random)
    let queries = (0..<(tokenCount * groupSize * headSize)).map { _ in random.unit() * 2 }
    return AttentionCase(cache: cache, kvHead: 1, groupSize: groupSize, start: start, tokenCount: tokenCount,
                         queries: queries)
}

private func bitsEqual(_ a: [Float], _ b: [Float]) -> Bool {
    a.count == b.count && zip(a, b).allSatisfy { $0.bitPattern == $1.bitPattern }
}

extension KernelTests {
    @Suite("Paged attention kernel", .serialized)
    struct AttentionKernelTests {
        @Test("matches a double-precision softmax attention: partial and many blocks, several spans, group sizes, head dims, f32 and bf16 KV, every ISA",
              arguments: [16, 20, 32, 40, 64, 128])
        func matchesReference(headSize: Int) {
            defer { lk_force_isa(lk_detect_isa()) }
            // (first position, tokens, block size): one position; a partial block; several blocks; several spans
            // (a span is 16 blocks); a chunk whose tokens straddle spans.
            let shapes: [(Int, Int, Int)] = [(0, 1, 16), (0, 5, 16), (9, 3, 16), (40, 2, 16), (300, 1, 16), (60, 9, 4),
                                             (250, 12, 16)]
            for dtype in [LK_DTYPE_F32, LK_DTYPE_BF16] {
                for groupSize in [1, 2, 4, 8] {
                    for (index, shape) in shapes.enumerated() {
                        if headSize == 128 && shape.0 > 100 && groupSize > 2 { continue }  // keep the suite quick
                        let test = makeCase(start: shape.0, tokenCount: shape.1, groupSize: groupSize, headSize: headSize,
                                            blockSize: shape.2, dtype: dtype, seed: UInt64(17 + index))
                        var expected: [Double] = []
                        for i in 0..<test.tokenCount {
                            for h in 0..<groupSize { expected += test.reference(token: i, head: h) }
                        }
                        for isa in availableInstructionSets {
                            lk_force_isa(isa)
                            let out = test.run(tiles: [test.tokenCount])
                            var worst = 0.0
                            for (value, exact) in zip(out, expected) { worst = max(worst, abs(Double(value) - exact)) }
                            #expect(worst <= 3e-5, "isa \(isa.rawValue) dtype \(dtype.rawValue) group \(groupSize) shape \(shape): \(worst)")
                        }
                    }
                }
            }
        }

        @Test("a row's bits do not depend on its tile, on span splitting or the order spans run in, on every ISA",
              arguments: [(1, 64), (2, 32), (4, 128), (8, 64), (4, 40)])
        func tileAndSpanInvariance(groupSize: Int, headSize: Int) {
            defer { lk_force_isa(lk_detect_isa()) }
            for dtype in [LK_DTYPE_F32, LK_DTYPE_BF16] {
                for blockSize in [4, 16] {
                    // A chunk of 23 tokens after 140 cached positions: with 4-position blocks the rows cover 3 spans.
                    let test = makeCase(start: 140, tokenCount: 23, groupSize: groupSize, headSize: headSize,
                                        blockSize: blockSize, dtype: dtype, seed: 5)
                    for isa in availableInstructionSets {
                        lk_force_isa(isa)
                        let whole = test.run(tiles: [23])
                        let context = "isa \(isa.rawValue) dtype \(dtype.rawValue) block \(blockSize)"
                        #expect(whole.allSatisfy { $0.isFinite }, "\(context)")
                        #expect(bitsEqual(whole, test.run(tiles: Array(repeating: 1, count: 23))), "alone: \(context)")
                        #expect(bitsEqual(whole, test.run(tiles: [5, 1, 16, 1])), "mixed tiles: \(context)")
                        #expect(bitsEqual(whole, test.run(tiles: Array(repeating: 1, count: 23), splitTiles: Set(0..<23))),
                                "span split: \(context)")
                        #expect(bitsEqual(whole, test.run(tiles: [3, 4, 16], splitTiles: [0, 1], reverseSpans: true)),
                                "span split, spans in reverse: \(context)")
                    }
                }
            }
        }

        @Test("span count and scratch size")
        func spanArithmetic() {
            #expect(lk_attention_span_count(1, 16) == 1)
            #expect(lk_attention_span_count(256, 16) == 1)
            #expect(lk_attention_span_count(257, 16) == 2)
            #expect(lk_attention_span_count(4096, 16) == 16)
            #expect(Int(LK_ATTENTION_SPAN_BLOCKS) == 16)
            #expect(lk_attention_scratch_floats(8, 16, 128) == 4 * 8 + 8 * 128 + 2 * 16 * 128 + 16)
        }
    }
}
