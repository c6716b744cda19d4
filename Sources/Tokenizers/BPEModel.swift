/// The BPE `model` of tokenizer.json, working on ids.
///
/// A piece's bytes become initial symbols (one per byte for byte-level vocabularies, one per character otherwise,
/// with `<0xXX>` byte fallback or the unknown token for characters outside the vocabulary). Then the adjacent pair
/// with the lowest merge rank is merged, leftmost first on ties, until no pair merges: the order of
/// `tokenizers`' `Word::merge_all` (a heap ordered by rank then position).
struct BPEModel: Sendable {
    /// `[256]`: byte -> id of its one-character token in a byte-level vocabulary, or -1.
    let byteIds: [Int32]
    /// `[256]`: byte -> id of `<0xXX>` when `byte_fallback` is on, or -1.
    let fallbackIds: [Int32]
    /// Model-space bytes -> id (raw bytes for byte-level vocabularies, UTF-8 of the token otherwise).
    let idsByBytes: [[UInt8]: UInt32]
    let merges: PairRankTable
    let isByteLevel: Bool
    let ignoreMerges: Bool
    let unknownId: UInt32?
    let fuseUnknown: Bool

    /// Appends the ids of one pre-tokenized piece to `output`. `scratch` is reused between calls.
    @inline(__always)
    func encodeWord(_ word: UnsafeBufferPointer<UInt8>, into output: inout [UInt32], scratch: inout BPEScratch) {
        let count = word.count
        if count == 0 { return }
        if isByteLevel && count == 1 {
            let id = byteIds[Int(word[0])]
            if id >= 0 {
                output.append(UInt32(id))
            } else if let unknownId {
                output.append(unknownId)
            }
            return
        }
        if ignoreMerges, let id = idsByBytes[Array(word)] {
            output.append(id)
            return
        }
        scratch.symbols.removeAll(keepingCapacity: true)
        if isByteLevel {
            var lastWasUnknown = false
            for byte in word {
                let id = byteIds[Int(byte)]
                if id >= 0 {
                    scratch.symbols.append(UInt32(id))
                    lastWasUnknown = false
                } else if let unknownId {
                    if !(fuseUnknown && lastWasUnknown) { scratch.symbols.append(unknownId) }
                    lastWasUnknown = true
                }
            }
        } else {
            appendCharacterSymbols(word, &scratch.symbols)
        }
        mergeAll(&scratch)
        output.append(contentsOf: scratch.symbols)
    }

    private func appendCharacterSymbols(_ word: UnsafeBufferPointer<UInt8>, _ symbols: inout [UInt32]) {
        var position = 0
        var lastWasUnknown = false
        while position < word.count {
            let (_, length) = decodeScalar(word, position)
            let character = Array(word[position..<(position + length)])
            position += length
            if let id = idsByBytes[character] {
                symbols.append(id)
                lastWasUnknown = false
                continue
            }
            if !fallbackIds.isEmpty && character.allSatisfy({ fallbackIds[Int($0)] >= 0 }) {
                for byte in character { symbols.append(UInt32(fallbackIds[Int(byte)])) }
                lastWasUnknown = false
                continue
            }
            if let unknownId {
                if !(fuseUnknown && lastWasUnknown) { symbols.append(unknownId) }
                lastWasUnknown = true
            }
        }
    }

    /// Merges `scratch.symbols` in place. `ranks[k]` caches the merge of `(symbols[k], symbols[k + 1])`.
    @inline(__always)
    private func mergeAll(_ scratch: inout BPEScratch) {
        var count = scratch.symbols.count
        guard count > 1 else { return }
        if scratch.ranks.count < count { scratch.ranks = [UInt64](repeating: .max, count: count * 2) }
        scratch.symbols.withUnsafeMutableBufferPointer { symbols in
            scratch.ranks.withUnsafeMutableBufferPointer { ranks in
                for k in 0..<(count - 1) { ranks[k] = merges.lookup(symbols[k], symbols[k + 1]) }
                while count > 1 {
                    // Lowest rank wins; the strict `<` keeps the leftmost among equal ranks. rank << 32 | id
                    // orders by rank first, and equal ranks share one merged id.
                    var best = UInt64.max
                    var bestIndex = -1
                    for k in 0..<(count - 1) where ranks[k] < best {
                        best = ranks[k]
                        bestIndex = k
                    }
                    if bestIndex < 0 { break }
                    symbols[bestIndex] = UInt32(truncatingIfNeeded: best)
                    // Remove symbol bestIndex + 1 and the rank of the pair that started there.
                    var k = bestIndex + 1
                    while k < count - 1 {
                        symbols[k] = symbols[k + 1]
                        ranks[k] = ranks[k + 1]
                        k += 1
                    }
                    count -= 1
                    if bestIndex + 1 < count {
                        ranks[bestIndex] = merges.lookup(symbols[bestIndex], symbols[bestIndex + 1])
                    } else {
                        ranks[bestIndex] = .max
                    }
                    if bestIndex > 0 {
                        ranks[bestIndex - 1] = merges.lookup(symbols[bestIndex - 1], symbols[bestIndex])
                    }
                }
            }
        }
        scratch.symbols.removeLast(scratch.symbols.count - count)
    }
}

/// Reusable buffers for one encode call (never shared between threads).
struct BPEScratch {
    var symbols: [UInt32] = []
    var ranks: [UInt64] = []
    init() {
        symbols.reserveCapacity(64)
        ranks = [UInt64](repeating: .max, count: 64)
    }
}
