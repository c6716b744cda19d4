/// The allocator of KV-cache blocks, with the prefix cache folded in (as vLLM's v1 `BlockPool`).
///
/// Every block is in exactly one of three states:
/// * in use: refCount > 0 (shared by several sequences when a cached prefix is reused);
/// * free and cached: refCount == 0 with a prefix hash: reusable by a later prompt with the same prefix until the
///   block is evicted;
/// * free and empty: refCount == 0, no hash.
/// Free blocks sit in one LRU queue: blocks freed earlier are evicted first; `allocate` takes from the front and
/// drops the hash of a cached block it reuses. Allocation that cannot be satisfied returns nil: running out of
/// blocks is a scheduling decision, not an error.
///
/// Not thread-safe: the engine thread owns it.
public struct BlockPool: Sendable {
    public let blockCount: Int
    public let blockSize: Int

    private var refCounts: [Int32]  // [blockCount]
    private var blockHashes: [BlockHash?]  // [blockCount]
    /// Intrusive doubly linked LRU list of free blocks; -1 ends it.
    private var previous: [Int32]  // [blockCount]
    private var next: [Int32]  // [blockCount]
    private var inFreeList: [Bool]  // [blockCount]
    private var freeHead: Int32 = -1
    private var freeTail: Int32 = -1
    public private(set) var freeBlockCount: Int = 0
    /// Prefix cache: hash of a full block (chained over its prefix) -> block holding those tokens' K/V.
    private var cachedBlocks: [BlockHash: Int32] = [:]

    /// Counters for /metrics (tokens, as vLLM counts them).
    public private(set) var prefixQueryTokenCount: Int = 0
    public private(set) var prefixHitTokenCount: Int = 0

    /// `blockCount` blocks of `blockSize` tokens each. Block ids run 0..<blockCount.
    public init(blockCount: Int, blockSize: Int) {
        precondition(blockCount > 0 && blockSize > 0)
        self.blockCount = blockCount
        self.blockSize = blockSize
        refCounts = [Int32](repeating: 0, count: blockCount)
        blockHashes = [BlockHash?](repeating: nil, count: blockCount)
        previous = [Int32](repeating: -1, count: blockCount)
        next = [Int32](repeating: -1, count: blockCount)
        inFreeList = [Bool](repeating: false, count: blockCount)
        for block in 0..<blockCount { appendFree(Int32(block)) }
    }

    /// Blocks in use by at least one sequence.
    public var usedBlockCount: Int { blockCount - freeBlockCount }

    /// Fraction of blocks in use, 0...1 (`kv_cache_usage_perc`).
    public var usage: Double { Double(usedBlockCount) / Double(blockCount) }

    public func refCount(of block: Int) -> Int { Int(refCounts[block]) }

    public func hash(of block: Int) -> BlockHash? { blockHashes[block] }

    /// Number of blocks that hold a cached prefix (in use or free).
    public var cachedBlockCount: Int { cachedBlocks.count }

    /// Takes `count` blocks off the free queue (least recently freed first), or nil without side effects when
    /// fewer than `count` are free.
    public mutating func allocate(_ count: Int) -> [Int]? {
        guard count <= freeBlockCount else { return nil }
        var blocks: [Int] = []
        blocks.reserveCapacity(count)
        for _ in 0..<count {
            let block = freeHead
            removeFree(block)
            if let hash = blockHashes[Int(block)] {  // evict the cached prefix it held
                if cachedBlocks[hash] == block { cachedBlocks[hash] = nil }
                blockHashes[Int(block)] = nil
            }
            refCounts[Int(block)] = 1
            blocks.append(Int(block))
        }
        return blocks
    }

    /// Drops one reference to each block. Blocks reaching zero go to the back of the free queue; their cached
    /// prefix stays valid until they are allocated again. Pass the blocks of a sequence in reverse order so that
    /// its tail is evicted before its head (heads are shared more often).
    public mutating func free(_ blocks: some Sequence<Int>) {
        for block in blocks {
            precondition(refCounts[block] > 0, "block \(block) freed more often than allocated")
            refCounts[block] -= 1
            if refCounts[block] == 0 { appendFree(Int32(block)) }
        }
    }

    /// Records that `block` now holds the full block of tokens identified by `hash`. If another block already holds
    /// the same prefix the first one stays the canonical copy.
    public mutating func cacheFullBlock(_ block: Int, hash: BlockHash) {
        guard blockHashes[block] == nil else { return }
        if cachedBlocks[hash] == nil {
            cachedBlocks[hash] = Int32(block)
            blockHashes[block] = hash
        }
    }

    /// The longest run of cached blocks matching `hashes` from the start, each taken (refCount + 1, out of the free
    /// queue if it was there).
    public mutating func takeCachedPrefix(_ hashes: [BlockHash]) -> [Int] {
        var blocks: [Int] = []
        for hash in hashes {
            guard let block = cachedBlocks[hash] else { break }
            if refCounts[Int(block)] == 0 { removeFree(block) }
            refCounts[Int(block)] += 1
            blocks.append(Int(block))
        }
        return blocks
    }

    /// Counts one prefix-cache lookup for the metrics: tokens looked up and tokens found.
    public mutating func recordPrefixQuery(queryTokenCount: Int, hitTokenCount: Int) {
        prefixQueryTokenCount += queryTokenCount
        prefixHitTokenCount += hitTokenCount
    }

    /// How many leading blocks of `hashes` are cached, without taking them.
    public func cachedPrefixLength(_ hashes: [BlockHash]) -> Int {
        var length = 0
        for hash in hashes {
            guard cachedBlocks[hash] != nil else { break }
            length += 1
        }
        return length
    }

    /// Forgets every cached prefix (e.g. after the weights change). Blocks in use are unaffected.
    public mutating func resetPrefixCache() {
        cachedBlocks.removeAll(keepingCapacity: true)
        for block in 0..<blockCount { blockHashes[block] = nil }
    }

    // MARK: - Free list

    private mutating func appendFree(_ block: Int32) {
        previous[Int(block)] = freeTail
        next[Int(block)] = -1
        if freeTail >= 0 { next[Int(freeTail)] = block } else { freeHead = block }
        freeTail = block
        inFreeList[Int(block)] = true
        freeBlockCount += 1
    }

    private mutating func removeFree(_ block: Int32) {
        precondition(inFreeList[Int(block)])
        let before = previous[Int(block)]
        let after = next[Int(block)]
        if before >= 0 { next[Int(before)] = after } else { freeHead = after }
        if after >= 0 { previous[Int(after)] = before } else { freeTail = before }
        inFreeList[Int(block)] = false
        freeBlockCount -= 1
    }
}
