internal import CKernels

/// One layer's K/V of one KV head of a sequence in a paged cache: block `b` of the sequence is the
/// [blockSize, headSize] matrix at `keys` (and `values`) + blockTable[b] * blockStride elements.
public struct KVHeadView {
    public var keys: UnsafeRawPointer
    public var values: UnsafeRawPointer
    public var blockTable: UnsafePointer<Int32>
    public var blockStride: Int
    public var blockSize: Int
    public var headSize: Int
    public var dtype: WeightDType   // .f32 or .bf16

    public init(keys: UnsafeRawPointer, values: UnsafeRawPointer, blockTable: UnsafePointer<Int32>, blockStride: Int,
                blockSize: Int, headSize: Int, dtype: WeightDType) {
        self.keys = keys
        self.values = values
        self.blockTable = blockTable
        self.blockStride = blockStride
        self.blockSize = blockSize
        self.headSize = headSize
        self.dtype = dtype
    }

    var c: lk_kv_head {
        lk_kv_head(keys: keys, values: values, blockTable: blockTable, blockStride: Int64(blockStride),
                   blockSize: Int64(blockSize), headSize: Int64(headSize), dtype: lk_dtype(rawValue: UInt32(dtype.rawValue)))
    }
}

/// A tile of query rows of one sequence against one KV head: `tokenCount` tokens times the `groupSize` query heads
/// sharing it. Row (i, h) reads queries + i * queryTokenStride + h * headSize, writes out + i * outTokenStride +
/// h * headSize, and sees positions 0..<lengths[i].
public struct AttentionTile {
    public var queries: UnsafePointer<Float>
    public var queryTokenStride: Int
    public var out: UnsafeMutablePointer<Float>
    public var outTokenStride: Int
    public var lengths: UnsafePointer<Int32>   // [tokenCount]
    public var tokenCount: Int
    public var groupSize: Int
    public var scale: Float

    public init(queries: UnsafePointer<Float>, queryTokenStride: Int, out: UnsafeMutablePointer<Float>, outTokenStride: Int,
                lengths: UnsafePointer<Int32>, tokenCount: Int, groupSize: Int, scale: Float) {
        self.queries = queries
        self.queryTokenStride = queryTokenStride
        self.out = out
        self.outTokenStride = outTokenStride
        self.lengths = lengths
        self.tokenCount = tokenCount
        self.groupSize = groupSize
        self.scale = scale
    }

    public var rowCount: Int { tokenCount * groupSize }

    var c: lk_attention_rows {
        lk_attention_rows(queries: queries, queryTokenStride: Int64(queryTokenStride), out: out,
                          outTokenStride: Int64(outTokenStride), lengths: lengths, tokenCount: Int64(tokenCount),
                          groupSize: Int64(groupSize), scale: scale)
    }
}

/// Flash-attention over the paged cache (lk_attention): online softmax over KV blocks, each block read once for the
/// whole tile, spans of `spanBlocks` blocks merged in order. A row's bits depend only on its own query, its length
/// and the cache (see lingkernels.h), never on the tile, the span split or the thread count.
public enum PagedAttention {
    /// Blocks per span: the fixed unit a long context is split into for decode parallelism.
    public static var spanBlocks: Int { Int(LK_ATTENTION_SPAN_BLOCKS) }

    public static func scratchCount(rowCount: Int, blockSize: Int, headSize: Int) -> Int {
        Int(lk_attention_scratch_floats(Int64(rowCount), Int64(blockSize), Int64(headSize)))
    }

    public static func spanCount(length: Int, blockSize: Int) -> Int {
        Int(lk_attention_span_count(Int64(length), Int64(blockSize)))
    }

    /// Every span of the tile, merged and normalised into tile.out. scratch: scratchCount(rowCount:...) floats.
    public static func attend(_ tile: AttentionTile, _ kv: KVHeadView, scratch: UnsafeMutablePointer<Float>) {
        var rows = tile.c
        var head = kv.c
        lk_attention(&rows, &head, scratch)
    }

    /// Span `span` of the tile, unnormalised: partial [rowCount, headSize], spanMax and spanSum [rowCount].
    public static func attendSpan(_ tile: AttentionTile, _ kv: KVHeadView, span: Int, partial: UnsafeMutablePointer<Float>,
                                  spanMax: UnsafeMutablePointer<Float>, spanSum: UnsafeMutablePointer<Float>,
                                  scratch: UnsafeMutablePointer<Float>) {
        var rows = tile.c
        var head = kv.c
        lk_attention_span(&rows, &head, Int64(span), partial, spanMax, spanSum, scratch)
    }

    /// Merges spans 0..<spanCount written by attendSpan (partials [spanCount, rowCount, headSize], maxima and sums
    /// [spanCount, rowCount]) into tile.out: the bits `attend` gives.
    public static func merge(_ tile: AttentionTile, _ kv: KVHeadView, spanCount: Int, partials: UnsafePointer<Float>,
                             spanMax: UnsafePointer<Float>, spanSum: UnsafePointer<Float>) {
        var rows = tile.c
        var head = kv.c
        lk_attention_merge(&rows, &head, Int64(spanCount), partials, spanMax, spanSum)
    }
}
