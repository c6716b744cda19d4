#if canImport(Glibc)
import Glibc
#endif
import Tensors

/// One token with its natural-log probability.
public struct TokenLogProbability: Sendable, Equatable {
    public var tokenId: Int
    public var logProbability: Float

    public init(tokenId: Int, logProbability: Float) {
        self.tokenId = tokenId
        self.logProbability = logProbability
    }
}

/// OpenAI `logprobs`: log-softmax of the model's raw logits (before bias, penalties, temperature and truncation).
public enum LogProbabilities {
    /// The chosen token's log probability and the `topCount` most likely tokens (descending, ties by lower id).
    public static func compute(
        logits: UnsafeBufferPointer<Float>, chosen: Int, topCount: Int
    ) -> (chosen: TokenLogProbability, top: [TokenLogProbability]) {
        guard let base = logits.baseAddress, logits.count > 0 else {
            return (TokenLogProbability(tokenId: chosen, logProbability: -.infinity), [])
        }
        let maxValue = Kernels.maximum(base, count: logits.count)
        // Sum of e^(v - max) through a stack chunk (the SIMD exp and the fixed-order sum), chunk totals in order.
        let chunk = 2048
        let total = withUnsafeTemporaryAllocation(of: Float.self, capacity: chunk) { scratch -> Float in
            var total: Float = 0
            var begin = 0
            while begin < logits.count {
                let length = min(chunk, logits.count - begin)
                scratch.baseAddress!.update(from: base + begin, count: length)
                Kernels.expShifted(scratch.baseAddress!, count: length, shift: maxValue)
                total += Kernels.sum(scratch.baseAddress!, count: length)
                begin += length
            }
            return total
        }
        let logTotal = maxValue + logf(total)
        let chosenEntry = TokenLogProbability(tokenId: chosen, logProbability: logits[chosen] - logTotal)
        guard topCount > 0 else { return (chosenEntry, []) }
        // Insertion into a short sorted list: topCount <= 20.
        var top: [TokenLogProbability] = []
        top.reserveCapacity(topCount + 1)
        // Once the list is full, a block whose largest logit does not beat its last entry is skipped whole (its
        // every element would be): one SIMD max per block instead of a compare per token.
        let block = 256
        var blockBegin = 0
        while blockBegin < logits.count {
            let blockEnd = min(blockBegin + block, logits.count)
            if top.count == topCount, let last = top.last,
                Kernels.maximum(base + blockBegin, count: blockEnd - blockBegin) <= last.logProbability
            {
                blockBegin = blockEnd
                continue
            }
            for id in blockBegin..<blockEnd {
                let value = logits[id]
                if top.count == topCount, let last = top.last, value <= last.logProbability { continue }
                var position = top.count
                while position > 0 && top[position - 1].logProbability < value { position -= 1 }
                top.insert(TokenLogProbability(tokenId: id, logProbability: value), at: position)
                if top.count > topCount { top.removeLast() }
            }
            blockBegin = blockEnd
        }
        for index in top.indices { top[index].logProbability -= logTotal }
        return (chosenEntry, top)
    }
}
