#if canImport(Glibc)
import Glibc
#endif
import Tensors

/// Turns one row of logits into a token, in the order the API contract fixes:
/// logit bias and bans -> repetition, presence and frequency penalties -> temperature -> top-k -> top-p -> min-p ->
/// draw. Greedy (temperature 0) applies bias and penalties, then takes the argmax (ties to the lowest id).
///
/// A sampler owns vocabulary-sized scratch, allocated once; one sampler serves any number of sequences in turn
/// (the engine thread owns it). The result depends only on the logits, the parameters, the history and the random
/// source, never on other sequences in the batch.
public struct Sampler {
    public let vocabularySize: Int
    /// Candidate ids, sorted by descending probability once the cut is known. // [vocabularySize]
    private var candidateIds: [Int32]
    /// Working logits then probabilities of `candidateIds`. // [vocabularySize]
    private var candidateValues: [Float]

    public init(vocabularySize: Int) {
        precondition(vocabularySize > 0)
        self.vocabularySize = vocabularySize
        candidateIds = [Int32](repeating: 0, count: vocabularySize)
        candidateValues = [Float](repeating: 0, count: vocabularySize)
    }

    /// Applies bias and penalties in place on `logits` (the part shared by greedy and random sampling).
    public static func applyBiasAndPenalties(
        _ logits: UnsafeMutableBufferPointer<Float>, parameters: SamplingParameters, history: TokenHistory?,
        bannedIds: [Int] = []
    ) {
        for (id, bias) in parameters.logitBias where id >= 0 && id < logits.count {
            logits[id] += bias
        }
        for id in bannedIds where id >= 0 && id < logits.count {
            logits[id] = -.infinity
        }
        guard parameters.usesPenalties, let history else { return }
        let repetition = parameters.repetitionPenalty
        if repetition != 1 {
            history.forEachSeenId { id in
                guard id >= 0 && id < logits.count else { return }
                let value = logits[id]
                logits[id] = value > 0 ? value / repetition : value * repetition
            }
        }
        if parameters.presencePenalty != 0 || parameters.frequencyPenalty != 0 {
            for (id, count) in history.generatedCounts where id >= 0 && id < logits.count {
                logits[id] -= parameters.presencePenalty + parameters.frequencyPenalty * Float(count)
            }
        }
    }

    /// Index of the largest value; ties go to the lowest index; NaN never wins.
    public static func argmax(_ values: UnsafeBufferPointer<Float>) -> Int {
        var best = 0
        var bestValue = -Float.infinity
        for index in values.indices where values[index] > bestValue {
            best = index
            bestValue = values[index]
        }
        return best
    }

    /// Picks the next token. `logits` is modified (bias, penalties).
    public mutating func sample(
        logits: UnsafeMutableBufferPointer<Float>, parameters: SamplingParameters, history: TokenHistory?,
        random: inout RandomSource, bannedIds: [Int] = []
    ) -> Int {
        precondition(logits.count == vocabularySize, "logits row has \(logits.count) entries, vocabulary \(vocabularySize)")
        Self.applyBiasAndPenalties(logits, parameters: parameters, history: history, bannedIds: bannedIds)
        if parameters.isGreedy {
            return Self.argmax(UnsafeBufferPointer(logits))
        }
        let count = prepareDistribution(logits: UnsafeBufferPointer(logits), parameters: parameters)
        return draw(count: count, random: &random)
    }

    /// The distribution random sampling draws from, written densely into `probabilities` (zeros outside the kept
    /// set). Speculative decoding compares the target's and the draft's distributions with it. `logits` must
    /// already carry bias and penalties. For greedy parameters it is one-hot on the argmax.
    public mutating func distribution(
        logits: UnsafeBufferPointer<Float>, parameters: SamplingParameters,
        into probabilities: UnsafeMutableBufferPointer<Float>
    ) {
        precondition(probabilities.count == vocabularySize && logits.count == vocabularySize)
        for index in probabilities.indices { probabilities[index] = 0 }
        if parameters.isGreedy {
            probabilities[Self.argmax(logits)] = 1
            return
        }
        let count = prepareDistribution(logits: logits, parameters: parameters)
        for k in 0..<count { probabilities[Int(candidateIds[k])] = candidateValues[k] }
    }

    /// Draws from a dense probability vector (need not be normalised) with one uniform number: the inverse CDF in
    /// id order. Used for the residual distribution of speculative rejection sampling.
    public static func draw(from weights: UnsafeBufferPointer<Float>, random: inout RandomSource) -> Int {
        var total: Float = 0
        for w in weights where w > 0 { total += w }
        guard total > 0 else { return argmax(weights) }
        let target = random.nextUnitFloat() * total
        var cumulative: Float = 0
        var last = 0
        for index in weights.indices where weights[index] > 0 {
            cumulative += weights[index]
            last = index
            if target < cumulative { return index }
        }
        return last
    }

    // MARK: - Internals

    /// Fills candidateIds/candidateValues with the kept tokens and their normalised probabilities. When a cut was
    /// applied they are sorted by descending probability (ties by lower id); otherwise they are in id order.
    /// Returns how many were kept (>= 1). Matches the Hugging Face processors: top-k first, then top-p on the
    /// top-k distribution, then min-p relative to the most likely token.
    private mutating func prepareDistribution(logits: UnsafeBufferPointer<Float>, parameters: SamplingParameters) -> Int {
        let inverseTemperature = 1 / parameters.temperature
        // The full-vocabulary passes run on raw buffers: scaled logits of the tokens not banned, their maximum,
        // then the unnormalised probabilities e^(v - max) in place (their order equals the logits' order).
        var count = candidateIds.withUnsafeMutableBufferPointer { ids in
            candidateValues.withUnsafeMutableBufferPointer { values -> Int in
                var count = 0
                var maxValue = -Float.infinity
                for id in 0..<vocabularySize {
                    let value = logits[id]
                    if value == -.infinity || value.isNaN { continue }  // banned
                    let scaled = value * inverseTemperature
                    ids[count] = Int32(id)
                    values[count] = scaled
                    if scaled > maxValue { maxValue = scaled }
                    count += 1
                }
                if count > 0, let base = values.baseAddress { Kernels.expShifted(base, count: count, shift: maxValue) }
                return count
            }
        }
        if count == 0 {  // everything banned: fall back to the raw argmax rather than fail
            candidateIds[0] = Int32(Self.argmax(logits))
            candidateValues[0] = 1
            return 1
        }
        var sortedCount = 0
        if parameters.topK > 0 && parameters.topK < count {
            partialSort(count: count, limit: parameters.topK)
            count = parameters.topK
            sortedCount = count
        }
        let total = Self.sum(candidateValues, count: count)
        if parameters.topP < 1 {
            let targetMass = parameters.topP * total
            // Sort only as long a prefix as the mass needs: a few hundred tokens in the usual case.
            var limit = Swift.min(count, 1024)
            while sortedCount < count {
                partialSort(count: count, limit: limit)
                sortedCount = limit
                var prefixMass: Float = 0
                for k in 0..<limit { prefixMass += candidateValues[k] }
                if prefixMass >= targetMass || limit == count { break }
                limit = Swift.min(count, limit * 8)
            }
            var cumulative: Float = 0
            var cut = sortedCount
            for k in 0..<sortedCount {
                cumulative += candidateValues[k]
                if cumulative >= targetMass {
                    cut = k + 1
                    break
                }
            }
            count = cut
        }
        if parameters.minP > 0 {
            var maxProbability: Float = 0
            for k in 0..<count where candidateValues[k] > maxProbability { maxProbability = candidateValues[k] }
            let threshold = parameters.minP * maxProbability
            var kept = 0
            for k in 0..<count where candidateValues[k] >= threshold {  // stable compaction
                candidateIds[kept] = candidateIds[k]
                candidateValues[kept] = candidateValues[k]
                kept += 1
            }
            count = kept
        }
        let kept = Self.sum(candidateValues, count: count)
        candidateValues.withUnsafeMutableBufferPointer { values in
            for k in 0..<count { values[k] /= kept }
        }
        return count
    }

    /// values[0] + values[1] + ... in that order.
    private static func sum(_ values: [Float], count: Int) -> Float {
        values.withUnsafeBufferPointer { buffer in
            var total: Float = 0
            for k in 0..<count { total += buffer[k] }
            return total
        }
    }

    /// Brings the `limit` best of the first `count` candidates to the front, sorted descending (ties: lower id
    /// first), by heap selection and heap sort: no allocation, O(count log limit).
    private mutating func partialSort(count: Int, limit: Int) {
        guard limit > 0 else { return }
        // A min-heap under `better`: the root is the worst of the selected.
        func better(_ a: Int, _ b: Int) -> Bool {
            let va = candidateValues[a], vb = candidateValues[b]
            return va > vb || (va == vb && candidateIds[a] < candidateIds[b])
        }
        func exchange(_ a: Int, _ b: Int) {
            candidateIds.swapAt(a, b)
            candidateValues.swapAt(a, b)
        }
        func siftDown(_ start: Int, _ size: Int) {
            var parent = start
            while true {
                let left = 2 * parent + 1
                if left >= size { return }
                var worst = left
                if left + 1 < size && better(left, left + 1) { worst = left + 1 }
                guard better(parent, worst) else { return }
                exchange(parent, worst)
                parent = worst
            }
        }
        for start in stride(from: limit / 2 - 1, through: 0, by: -1) { siftDown(start, limit) }
        if limit < count {
            for k in limit..<count where better(k, 0) {
                exchange(k, 0)
                siftDown(0, limit)
            }
        }
        // Heap sort: repeatedly move the worst to the back, leaving the prefix in descending order.
        var end = limit - 1
        while end > 0 {
            exchange(0, end)
            siftDown(0, end)
            end -= 1
        }
    }

    private mutating func draw(count: Int, random: inout RandomSource) -> Int {
        let target = random.nextUnitFloat()
        return candidateValues.withUnsafeBufferPointer { values in
            var cumulative: Float = 0
            for k in 0..<count {
                cumulative += values[k]
                if target < cumulative { return Int(candidateIds[k]) }
            }
            return Int(candidateIds[count - 1])
        }
    }
}
