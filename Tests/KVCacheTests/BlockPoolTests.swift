import Testing

@testable import KVCache

@Suite struct BlockPoolTests {
    @Test func allocateAndFreeInLRUOrder() {
        var pool = BlockPool(blockCount: 4, blockSize: 16)
        let a = pool.allocate(3)
        #expect(a == [0, 1, 2])
        #expect(pool.allocate(2) == nil, "only one block is free")
        #expect(pool.freeBlockCount == 1)
        pool.free([2, 1, 0].reversed())  // frees 0, 1, 2 in that order
        #expect(pool.freeBlockCount == 4)
        #expect(pool.allocate(4) == [3, 0, 1, 2], "least recently freed first")
    }

    @Test func cachedPrefixSurvivesUntilEviction() {
        var pool = BlockPool(blockCount: 3, blockSize: 2)
        let hashes = BlockHash.chain([1, 2, 3, 4], blockSize: 2)
        #expect(hashes.count == 2)
        guard let blocks = pool.allocate(2) else { Issue.record("allocation failed"); return }
        pool.cacheFullBlock(blocks[0], hash: hashes[0])
        pool.cacheFullBlock(blocks[1], hash: hashes[1])
        pool.free(blocks.reversed())
        #expect(pool.cachedPrefixLength(hashes) == 2)
        let taken = pool.takeCachedPrefix(hashes)
        #expect(taken == blocks)
        #expect(pool.refCount(of: blocks[0]) == 1)
        pool.free(taken.reversed())
        // Allocating every block evicts the cached ones.
        _ = pool.allocate(3)
        #expect(pool.cachedPrefixLength(hashes) == 0)
    }

    @Test func sharedBlocksCountReferences() {
        var pool = BlockPool(blockCount: 2, blockSize: 2)
        let hash = BlockHash(parent: nil, tokens: [5, 6])
        guard let block = pool.allocate(1)?.first else { Issue.record("allocation failed"); return }
        pool.cacheFullBlock(block, hash: hash)
        let again = pool.takeCachedPrefix([hash])
        #expect(again == [block])
        #expect(pool.refCount(of: block) == 2)
        pool.free([block])
        #expect(pool.freeBlockCount == 1)
        pool.free([block])
        #expect(pool.freeBlockCount == 2)
    }

    @Test func hashesChainOverTheWholePrefix() {
        let a = BlockHash.chain([1, 2, 3, 4, 5, 6], blockSize: 2)
        let b = BlockHash.chain([9, 9, 3, 4, 5, 6], blockSize: 2)
        #expect(a.count == 3)
        #expect(a[1] != b[1], "same block tokens after a different prefix must differ")
        #expect(BlockHash.chain([1, 2, 3], blockSize: 2).count == 1, "partial blocks are not hashed")
        #expect(BlockHash(parent: nil, tokens: [1, 2]) == a[0])
        #expect(BlockHash(parent: nil, tokens: [1, 2], extra: 1) != a[0])
    }
}
