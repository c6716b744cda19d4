import Tensors

/// Paged K/V storage for every attention layer of a model (decoder layers and the MTP layer share one pool of
/// blocks, so one block table per sequence addresses all of them).
///
/// Layout (f32, or bf16 to halve memory), keys and values in separate arrays, head-major inside a block so that the `blockSize` keys of one
/// KV head are one contiguous [blockSize, headSize] matrix (the attention kernel reads a block once per query tile):
///
///     keys[layer][block][kvHead][offsetInBlock][headSize]
///
/// Position p of a sequence lives in block blockTable[p / blockSize] at offset p % blockSize. Which blocks belong to
/// which sequence is decided elsewhere (the block allocator); this type only stores rows.
/// Not thread-safe: the engine thread owns it; workers of one forward pass write disjoint rows.
public final class KVStorage: @unchecked Sendable {
    /// Element type of the stored rows.
    public enum Precision: Sendable, CustomStringConvertible {
        /// Exact: decoding with the cache gives the same bits as recomputing the sequence.
        case f32
        /// Half the memory; rows are rounded to bf16 (nearest even) when written.
        case bf16

        public var byteSize: Int { self == .f32 ? 4 : 2 }
        public var weightDType: WeightDType { self == .f32 ? .f32 : .bf16 }
        public var description: String { self == .f32 ? "f32" : "bf16" }
    }

    public let layerCount: Int
    public let blockCount: Int
    public let blockSize: Int
    public let kvHeadCount: Int
    public let headSize: Int
    public let precision: Precision
    /// Elements per position of one layer: kvHeadCount * headSize.
    public let slotSize: Int
    private let keys: UnsafeMutableRawPointer    // [layerCount, blockCount, kvHeadCount, blockSize, headSize]
    private let values: UnsafeMutableRawPointer  // [layerCount, blockCount, kvHeadCount, blockSize, headSize]
    private let elementCount: Int

    public init(layerCount: Int, blockCount: Int, blockSize: Int = 16, kvHeadCount: Int, headSize: Int,
                precision: Precision = .f32) throws(KVCacheError) {
        guard layerCount > 0, blockCount > 0, blockSize > 0, kvHeadCount > 0, headSize > 0 else {
            throw KVCacheError("KVStorage: layerCount, blockCount, blockSize, kvHeadCount and headSize must be > 0 "
                + "(got \(layerCount), \(blockCount), \(blockSize), \(kvHeadCount), \(headSize))")
        }
        var total = 1
        for factor in [layerCount, blockCount, blockSize, kvHeadCount, headSize] {
            let (product, overflow) = total.multipliedReportingOverflow(by: factor)
            guard !overflow, product < Int.max / 8 else {
                throw KVCacheError("KVStorage: \(blockCount) blocks do not fit in memory")
            }
            total = product
        }
        self.layerCount = layerCount
        self.blockCount = blockCount
        self.blockSize = blockSize
        self.kvHeadCount = kvHeadCount
        self.headSize = headSize
        self.precision = precision
        slotSize = kvHeadCount * headSize
        elementCount = total
        // Anonymous zero pages on 2 MiB pages: long-context attention walks megabytes of rows per step, and the
        // pages are committed as blocks are first written, not all at start.
        let arrayBytes = total * precision.byteSize
        guard let keys = MemoryPages.allocateZeroed(byteCount: arrayBytes) else {
            throw KVCacheError("KVStorage: could not map \(arrayBytes) bytes for the keys")
        }
        guard let values = MemoryPages.allocateZeroed(byteCount: arrayBytes) else {
            MemoryPages.release(keys, byteCount: arrayBytes)
            throw KVCacheError("KVStorage: could not map \(arrayBytes) bytes for the values")
        }
        self.keys = keys
        self.values = values
    }

    deinit {
        MemoryPages.release(keys, byteCount: elementCount * precision.byteSize)
        MemoryPages.release(values, byteCount: elementCount * precision.byteSize)
    }

    /// Positions the storage can hold per layer.
    public var slotCount: Int { blockCount * blockSize }

    /// Bytes held by keys and values together.
    public var byteCount: Int { 2 * elementCount * precision.byteSize }

    /// Bytes one block takes in a storage of this shape (keys and values of every layer): what a memory budget is
    /// divided by. With `blockSize` 1, the bytes per cached token.
    public static func bytesPerBlock(
        layerCount: Int, blockSize: Int, kvHeadCount: Int, headSize: Int, precision: Precision
    ) -> Int {
        2 * layerCount * blockSize * kvHeadCount * headSize * precision.byteSize
    }

    /// Elements per block of one layer: kvHeadCount * blockSize * headSize.
    public var blockStride: Int { slotSize * blockSize }

    @inline(__always)
    private func elementOffset(layer: Int, block: Int, kvHead: Int) -> Int {
        (layer * blockCount + block) * blockStride + kvHead * blockSize * headSize
    }

    /// Keys of `kvHead` in `block` of `layer`: [blockSize, headSize] elements of `precision`.
    @inline(__always)
    public func keys(layer: Int, block: Int, kvHead: Int) -> UnsafeMutableRawPointer {
        keys + elementOffset(layer: layer, block: block, kvHead: kvHead) * precision.byteSize
    }

    /// Values of `kvHead` in `block` of `layer`: [blockSize, headSize] elements of `precision`.
    @inline(__always)
    public func values(layer: Int, block: Int, kvHead: Int) -> UnsafeMutableRawPointer {
        values + elementOffset(layer: layer, block: block, kvHead: kvHead) * precision.byteSize
    }

    /// Stores one position's key and value rows of one KV head (each [headSize] f32), rounding when bf16.
    @inline(__always)
    public func write(layer: Int, block: Int, offset: Int, kvHead: Int, key: UnsafePointer<Float>, value: UnsafePointer<Float>) {
        let element = elementOffset(layer: layer, block: block, kvHead: kvHead) + offset * headSize
        switch precision {
        case .f32:
            (keys + element * 4).assumingMemoryBound(to: Float.self).update(from: key, count: headSize)
            (values + element * 4).assumingMemoryBound(to: Float.self).update(from: value, count: headSize)
        case .bf16:
            Kernels.f32ToBF16((keys + element * 2).assumingMemoryBound(to: UInt16.self), key, count: headSize)
            Kernels.f32ToBF16((values + element * 2).assumingMemoryBound(to: UInt16.self), value, count: headSize)
        }
    }

    /// Copies the rows of `sourceBlock` into `destinationBlock` in every layer (copy-on-write of a shared prefix).
    public func copyBlock(from sourceBlock: Int, to destinationBlock: Int) {
        precondition(sourceBlock >= 0 && sourceBlock < blockCount && destinationBlock >= 0 && destinationBlock < blockCount)
        let bytes = blockStride * precision.byteSize
        for layer in 0..<layerCount {
            let from = elementOffset(layer: layer, block: sourceBlock, kvHead: 0) * precision.byteSize
            let to = elementOffset(layer: layer, block: destinationBlock, kvHead: 0) * precision.byteSize
            (keys + to).copyMemory(from: keys + from, byteCount: bytes)
            (values + to).copyMemory(from: values + from, byteCount: bytes)
        }
    }
}
