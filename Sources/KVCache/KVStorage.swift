import Tensors

/// Paged K/V storage for every attention layer of a model (decoder layers and the MTP layer share one pool of
/// blocks, so one block table per sequence addresses all of them).
///
/// Layout (f32), keys and values in separate arrays, head-major inside a block so that the `blockSize` keys of one
/// KV head are one contiguous [blockSize, headSize] matrix (attention scores are then one small GEMM per block):
///
///     keys[layer][block][kvHead][offsetInBlock][headSize]
///
/// Position p of a sequence lives in block blockTable[p / blockSize] at offset p % blockSize. Which blocks belong to
/// which sequence is decided elsewhere (the block allocator); this type only stores rows.
/// Not thread-safe: the engine thread owns it; workers of one forward pass write disjoint rows.
public final class KVStorage: @unchecked Sendable {
    public let layerCount: Int
    public let blockCount: Int
    public let blockSize: Int
    public let kvHeadCount: Int
    public let headSize: Int
    /// Floats per position of one layer: kvHeadCount * headSize.
    public let slotSize: Int
    private let keys: FloatBuffer    // [layerCount, blockCount, kvHeadCount, blockSize, headSize]
    private let values: FloatBuffer  // [layerCount, blockCount, kvHeadCount, blockSize, headSize]

    public init(layerCount: Int, blockCount: Int, blockSize: Int = 16, kvHeadCount: Int, headSize: Int) throws(KVCacheError) {
        guard layerCount > 0, blockCount > 0, blockSize > 0, kvHeadCount > 0, headSize > 0 else {
            throw KVCacheError("KVStorage: layerCount, blockCount, blockSize, kvHeadCount and headSize must be > 0 "
                + "(got \(layerCount), \(blockCount), \(blockSize), \(kvHeadCount), \(headSize))")
        }
        let (total, overflow) = layerCount.multipliedReportingOverflow(by: blockCount * blockSize * kvHeadCount * headSize)
        guard !overflow, total < Int.max / 8 else { throw KVCacheError("KVStorage: \(blockCount) blocks do not fit in memory") }
        self.layerCount = layerCount
        self.blockCount = blockCount
        self.blockSize = blockSize
        self.kvHeadCount = kvHeadCount
        self.headSize = headSize
        slotSize = kvHeadCount * headSize
        keys = FloatBuffer(count: total)
        values = FloatBuffer(count: total)
    }

    /// Positions the storage can hold per layer.
    public var slotCount: Int { blockCount * blockSize }

    /// Bytes held by keys and values together.
    public var byteCount: Int { 2 * keys.count * 4 }

    /// Floats per block of one layer: kvHeadCount * blockSize * headSize.
    public var blockStride: Int { slotSize * blockSize }

    /// Keys of `kvHead` in `block` of `layer`: [blockSize, headSize].
    @inline(__always)
    public func keys(layer: Int, block: Int, kvHead: Int) -> UnsafeMutablePointer<Float> {
        keys.pointer + (layer * blockCount + block) * blockStride + kvHead * blockSize * headSize
    }

    /// Values of `kvHead` in `block` of `layer`: [blockSize, headSize].
    @inline(__always)
    public func values(layer: Int, block: Int, kvHead: Int) -> UnsafeMutablePointer<Float> {
        values.pointer + (layer * blockCount + block) * blockStride + kvHead * blockSize * headSize
    }

    /// Copies the rows of `sourceBlock` into `destinationBlock` in every layer (copy-on-write of a shared prefix).
    public func copyBlock(from sourceBlock: Int, to destinationBlock: Int) {
        precondition(sourceBlock >= 0 && sourceBlock < blockCount && destinationBlock >= 0 && destinationBlock < blockCount)
        for layer in 0..<layerCount {
            let from = (layer * blockCount + sourceBlock) * blockStride
            let to = (layer * blockCount + destinationBlock) * blockStride
            (keys.pointer + to).update(from: keys.pointer + from, count: blockStride)
            (values.pointer + to).update(from: values.pointer + from, count: blockStride)
        }
    }
}
