import Foundation
import KVCache
import Models
import Testing

/// Attention over several spans of the paged cache (a span is 16 blocks): a token's logits have the same bits
/// whether it is computed in a whole prompt, in prompt chunks, decoded alone, or batched with another sequence,
/// for any thread count (which changes how the work, spans included, is split).
@Suite("Long-context attention invariance")
struct LongContextAttentionTests {
    @Test("logits of the last positions of a 600-token context: whole, chunked, decoded, batched, 1-3 threads",
          arguments: ReferenceFixture.names)
    func invariance(name: String) throws {
        let fixture = try ReferenceFixture.load(name)
        let length = 600, tail = 6
        var state: UInt64 = 0x2545_F491_4F6C_DD1D
        func nextToken(_ vocab: Int) -> Int {
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            return Int(state % UInt64(vocab))
        }
        var reference: [Float] = []
        var ids: [Int] = []
        for threads in [1, 2, 3] {
            let model = try LingModel(directory: fixture.directory, threadCount: threads)
            if reference.isEmpty {
                let vocab = min(model.config.vocabSize, 1000)
                ids = (0..<length).map { _ in nextToken(vocab) }
                let whole = try Session(model: model, capacity: 640).run(ids, all: true)
                reference = Array(whole.logits.suffix(tail * whole.vocabSize))
                #expect(reference.allSatisfy { $0.isFinite })
            }
            // Chunks of uneven sizes, then the last rows in one chunk.
            let chunked = try Session(model: model, capacity: 640)
            var start = 0
            for size in [1, 255, 130, 208] {
                _ = try chunked.run(Array(ids[start..<(start + size)]), start: start)
                start += size
            }
            let last = try chunked.run(Array(ids[start...]), start: start, all: true)
            #expect(bitsEqual(Array(last.logits), reference), "\(name) threads \(threads): chunked")
            // Decoded one at a time after the prefix.
            let decoded = try Session(model: model, capacity: 640)
            _ = try decoded.run(Array(ids[0..<(length - tail)]))
            var rows: [Float] = []
            for p in (length - tail)..<length { rows += try decoded.run([ids[p]], start: p).logits }
            #expect(bitsEqual(rows, reference), "\(name) threads \(threads): decoded")
            // Batched: each decode step beside a second sequence's 40-token prompt chunk in one forward pass.
            let blockSize = 16, blocks = 40
            let kv = try model.makeKVStorage(blockCount: 2 * blocks, blockSize: blockSize)
            let tableA = (0..<blocks).map { Int32($0) }, tableB = (0..<blocks).map { Int32(blocks + $0) }
            _ = try model.forward(.single(tokens: ids[0..<(length - tail)].map { Int32($0) }, startPosition: 0,
                                          blockTable: tableA), kv: kv)
            var batched: [Float] = []
            for (step, p) in ((length - tail)..<length).enumerated() {
                let other = (0..<40).map { Int32(ids[(step * 40 + $0) % length]) }
                let batch = ForwardBatch(
                    tokenIds: [Int32(ids[p])] + other,
                    positions: [Int32(p)] + (0..<40).map { Int32(step * 40 + $0) },
                    sequenceIndices: [0] + [Int32](repeating: 1, count: 40),
                    sequences: [SequenceSlots(blockTable: tableA, contextLength: p + 1),
                                SequenceSlots(blockTable: tableB, contextLength: step * 40 + 40)],
                    logitRows: [0])
                batched += try model.forward(batch, kv: kv).logits
            }
            #expect(bitsEqual(batched, reference), "\(name) threads \(threads): batched")
        }
    }

    private func bitsEqual(_ a: [Float], _ b: [Float]) -> Bool {
        a.count == b.count && zip(a, b).allSatisfy { $0.bitPattern == $1.bitPattern }
    }
}
