import Tensors

/// Paged K/V storage for every attention layer of a model (decoder layers and the MTP layer share one pool of
/// blocks, so one block table per sequence addresses all of them).
///
/// Layout (f32), per layer, keys and values in separate arrays:
///
///     keys[layer][slot][kvHeadCount * headSize]      slot = block * blockSize + offsetInBlock
///
/// The slot of position p of a sequence is `blockTable[p / blockSize] * blockSize + p % blockSize`. Which blocks
/// belong to which sequence is decided elsewhere (the block allocator); this type only stores rows.
/// Not thread-safe: the engine thread owns it; workers of one forward pass write disjoint slots.
public final class KVStorage: @unchecked Sendable {
    public let layerCount: Int
    public let blockCount: Int
    public let blockSize: Int
    public let kvHeadCount: Int
    public let headSize: Int
    /// Floats per slot of one layer: kvHeadCount * headSize.
    public let slotSize: Int
    private let keys: FloatBuffer    // [layerCount, blockCount * blockSize, slotSize]
    private let values: FloatBuffer  // [layerCount, blockCount * blockSize, slotSize]

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

    /// Total slots per layer.
    public var slotCount: Int { blockCount * blockSize }

    /// Bytes held by keys and values together.
    public var byteCount: Int { 2 * keys.count * 4 }

    /// Slot of `position` for a sequence with `blockTable`.
    @inline(__always)
    public func slot(position: Int, blockTable: UnsafeBufferPointer<Int32>) -> Int {
        Int(blockTable[position / blockSize]) * blockSize + position % blockSize
    }

    /// Key row of `slot` in `layer`: [kvHeadCount, headSize].
    @inline(__always)
    public func keys(layer: Int, slot: Int) -> UnsafeMutablePointer<Float> {
        keys.pointer + (layer * slotCount + slot) * slotSize
    }

    /// Value row of `slot` in `layer`: [kvHeadCount, headSize].
    @inline(__always)
    public func values(layer: Int, slot: Int) -> UnsafeMutablePointer<Float> {
        values.pointer + (layer * slotCount + slot) * slotSize
    }

    /// Copies the rows of `sourceBlock` into `destinationBlock` in every layer (copy-on-write of a shared prefix).
    public func copyBlock(from sourceBlock: Int, to destinationBlock: Int) {
        precondition(sourceBlock >= 0 && sourceBlock < blockCount && destinationBlock >= 0 && destinationBlock < blockCount)
        for layer in 0..<layerCount {
            let from = (layer * slotCount + sourceBlock * blockSize) * slotSize
            let to = (layer * slotCount + destinationBlock * blockSize) * slotSize
            (keys.pointer + to).update(from: keys.pointer + from, count: blockSize * slotSize)
            (values.pointer + to).update(from: values.pointer + from, count: blockSize * slotSize)
        }
    }
}
