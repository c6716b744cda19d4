#if canImport(Glibc)
import Glibc
#endif
import Tensors

/// Turns one row of logits into a token, in the order the API contract fixes:
/// logit bias and bans -> repetition, presence and frequency penalties -> temperature -> top-k -> top-p -> min-p ->
/// draw. Greedy (temperature 0) applies bias and penalties, then takes the argmax (ties to the lowest id).
///
/// Random sampling never sorts the vocabulary. The weights e^(logit / T - max) are computed once (SIMD); the kept
/// set is then a threshold on them, found by a radix selection over the weights' float bits (a histogram of the
/// top 12 bits, then of the next 12 and the last 8 within the one bin where the count or mass limit falls, then
/// the ties at the exact boundary value, lowest ids first): the same set a full descending sort would keep, in a
/// few passes over the row. Only a small top-k set (at most `listedLimit` tokens) is listed and sorted; it usually
/// comes from a threshold estimated on a strided sample and one SIMD gather instead (the same set). Draws walk
/// the kept set in id order through per-chunk kept sums.
///
/// A sampler owns vocabulary-sized scratch, allocated once; one sampler serves any number of sequences in turn
/// (the engine thread owns it). The result depends only on the logits, the parameters, the history and the random
/// source, never on other sequences in the batch, and is the same on every instruction set.
public struct Sampler {
    public let vocabularySize: Int
    /// Top-k sets up to this size are listed and sorted (then cut by top-p and min-p like a sorted list); larger
    /// cuts stay thresholds.
    static let listedLimit = 4096
    /// e^(logit / T - max) per token, 0 for banned ones: the unnormalised distribution. // [vocabularySize]
    private var weights: [Float]
    /// Listed kept tokens (sorted by descending weight, ties by lower id), or the members of the histogram bin
    /// being refined (ascending id). // [vocabularySize]
    private var candidateIds: [Int32]
    /// Weights of `candidateIds`. // [vocabularySize]
    private var candidateValues: [Float]
    /// Kept weight per `Kernels.samplingChunk` tokens. // [ceil(vocabularySize / 64)]
    private var chunkSums: [Float]
    /// Radix-selection histograms (the level-0 pass keeps interleaved copies). // [Kernels.weightHistogramScratch]
    private var binCounts: [UInt32]
    private var binMass: [Double]

    /// The tokens a draw may pick.
    private enum KeptSet {
        /// candidateIds/candidateValues[0..<count], normalised, in descending order.
        case listed(count: Int)
        /// Token i is kept when weights[i] > tau, or weights[i] == tau and i <= tieLast; `mass` is their total
        /// (the sum of `chunkSums`).
        case threshold(tau: Float, tieLast: Int, mass: Double)
    }

    public init(vocabularySize: Int) {
        precondition(vocabularySize > 0)
        self.vocabularySize = vocabularySize
        weights = [Float](repeating: 0, count: vocabularySize)
        candidateIds = [Int32](repeating: 0, count: vocabularySize)
        candidateValues = [Float](repeating: 0, count: vocabularySize)
        chunkSums = [Float](repeating: 0, count: (vocabularySize + Kernels.samplingChunk - 1) / Kernels.samplingChunk)
        binCounts = [UInt32](repeating: 0, count: Kernels.weightHistogramScratch)
        binMass = [Double](repeating: 0, count: Kernels.weightHistogramScratch)
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
        guard let base = values.baseAddress, values.count > 0 else { return 0 }
        return Kernels.argmax(base, count: values.count)
    }

    /// Picks the next token. `logits` is modified (bias, penalties).
    public mutating func sample(
        logits: UnsafeMutableBufferPointer<Float>, parameters: SamplingParameters, history: TokenHistory?,
        random: inout RandomSource, bannedIds: [Int] = []
    ) -> Int {
        precondition(logits.count == vocabularySize, "logits row has \(logits.count) entries, vocabulary \(vocabularySize)")
        Self.applyBiasAndPenalties(logits, parameters: parameters, history: history, bannedIds: bannedIds)
        guard !parameters.isGreedy, let kept = keptSet(logits: UnsafeBufferPointer(logits), parameters: parameters) else {
            return Self.argmax(UnsafeBufferPointer(logits))
        }
        return draw(kept, random: &random)
    }

    /// The distribution random sampling draws from, written densely into `probabilities` (zeros outside the kept
    /// set). Speculative decoding compares the target's and the draft's distributions with it. `logits` must
    /// already carry bias and penalties. For greedy parameters it is one-hot on the argmax.
    public mutating func distribution(
        logits: UnsafeBufferPointer<Float>, parameters: SamplingParameters,
        into probabilities: UnsafeMutableBufferPointer<Float>
    ) {
        precondition(probabilities.count == vocabularySize && logits.count == vocabularySize)
        probabilities.update(repeating: 0)
        guard !parameters.isGreedy, let kept = keptSet(logits: logits, parameters: parameters) else {
            probabilities[Self.argmax(logits)] = 1
            return
        }
        switch kept {
        case .listed(let count):
            for k in 0..<count { probabilities[Int(candidateIds[k])] = candidateValues[k] }
        case .threshold(let tau, let tieLast, let mass):
            let inverse = Float(1 / mass)
            weights.withUnsafeBufferPointer { w in
                for i in 0..<vocabularySize where w[i] > tau || (w[i] == tau && i <= tieLast) {
                    probabilities[i] = w[i] * inverse
                }
            }
        }
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

    /// Computes `weights` and the kept set under temperature, top-k, top-p and min-p (the Hugging Face processors'
    /// order: top-k first, then top-p on the top-k distribution, then min-p relative to the most likely token).
    /// `logits` must carry bias and penalties. Nil when nothing can be drawn (everything banned, or a temperature
    /// so small that the scaled logits overflow): the caller takes the argmax then.
    private mutating func keptSet(logits: UnsafeBufferPointer<Float>, parameters: SamplingParameters) -> KeptSet? {
        let inverseTemperature = 1 / parameters.temperature
        guard inverseTemperature.isFinite, let logitBase = logits.baseAddress else { return nil }
        let count = vocabularySize
        // Weights e^(v - max): banned tokens (-inf, NaN) become 0 and the most likely token exactly 1.
        let maxScaled = weights.withUnsafeMutableBufferPointer { w -> Float in
            let maxScaled = Kernels.scaleAndMax(w.baseAddress!, logitBase, count: count, scale: inverseTemperature)
            if maxScaled > -.infinity && maxScaled < .infinity {
                Kernels.expShifted(w.baseAddress!, count: count, shift: maxScaled)
            }
            return maxScaled
        }
        guard maxScaled > -.infinity && maxScaled < .infinity else { return nil }

        var tau: Float = 0   // keep every token with a positive weight
        var tieLast = -1
        var histogram = false
        if parameters.topK > 0 && parameters.topK <= Self.listedLimit,
            let listedCount = listTopKFromSample(k: parameters.topK)
        {
            return cutListed(count: listedCount, parameters: parameters)
        }
        if parameters.topK > 0 {
            fillHistogram()
            histogram = true
            let positiveCount = binCounts[0..<Kernels.weightHistogramBins].reduce(0) { $0 + Int($1) }
            if parameters.topK < positiveCount {
                (tau, tieLast) = selectThreshold(limit: Double(parameters.topK), byMass: false)
                if parameters.topK <= Self.listedLimit || parameters.topP < 1 || parameters.minP > 0 {
                    return listedSet(tau: tau, tieLast: tieLast, parameters: parameters)
                }
            }
        }
        if parameters.topP < 1 {
            if !histogram { fillHistogram() }
            var total = 0.0
            for bin in 0..<Kernels.weightHistogramBins { total += binMass[bin] }
            (tau, tieLast) = selectThreshold(limit: Double(parameters.topP) * total, byMass: true)
        }
        if parameters.minP > 0 {
            // Relative to the most likely token, whose weight is 1: keep weights >= minP.
            let threshold = parameters.minP
            if threshold > tau {
                tau = threshold.nextDown
                tieLast = -1
            }
        }
        let mass = chunkSums.withUnsafeMutableBufferPointer { sums -> Double in
            weights.withUnsafeBufferPointer { w in
                Kernels.keptChunkSums(sums.baseAddress!, w.baseAddress!, count: count, tau: tau, tieLast: tieLast)
            }
            var total = 0.0
            for sum in sums { total += Double(sum) }
            return total
        }
        guard mass > 0 else { return nil }
        return .threshold(tau: tau, tieLast: tieLast, mass: mass)
    }

    private mutating func fillHistogram() {
        binCounts.withUnsafeMutableBufferPointer { counts in
            binMass.withUnsafeMutableBufferPointer { mass in
                weights.withUnsafeBufferPointer { w in
                    Kernels.weightHistogram(counts: counts.baseAddress!, mass: mass.baseAddress!, w.baseAddress!,
                                            count: vocabularySize)
                }
            }
        }
    }

    /// The threshold (tau, tieLast) that keeps the best tokens, in descending weight with ties by lower id, up to
    /// the first prefix whose count (or mass) reaches `limit`. Expects `fillHistogram()`. Refines the histogram
    /// bin where the limit falls through the next 12 bits, the last 8 bits, then the ties at the exact value.
    private mutating func selectThreshold(limit: Double, byMass: Bool) -> (tau: Float, tieLast: Int) {
        let count = vocabularySize
        // Level 0: the top 12 bits, from the C histogram over the whole row.
        var remaining = limit
        var topBin = -1
        for bin in stride(from: Kernels.weightHistogramBins - 1, through: 0, by: -1) where binCounts[bin] > 0 {
            let measure = byMass ? binMass[bin] : Double(binCounts[bin])
            topBin = bin
            if measure >= remaining { break }
            remaining -= measure
        }
        guard topBin >= 0 else { return (0, -1) }
        var memberCount = candidateIds.withUnsafeMutableBufferPointer { ids in
            weights.withUnsafeBufferPointer { w in
                Kernels.gatherBin(ids.baseAddress!, capacity: count, w.baseAddress!, count: count, bin: UInt32(topBin))
            }
        }
        // Levels 1 and 2 over the members (ascending id): bits 8..<20, then 0..<8.
        var prefix = UInt32(topBin) << 20
        for level in 1...2 {
            let (shift, width): (UInt32, UInt32) = level == 1 ? (8, 12) : (0, 8)
            let result = candidateIds.withUnsafeMutableBufferPointer { ids in
                weights.withUnsafeBufferPointer { w in
                    binCounts.withUnsafeMutableBufferPointer { counts in
                        binMass.withUnsafeMutableBufferPointer { mass in
                            Kernels.refineSelection(ids.baseAddress!, count: memberCount, w.baseAddress!, shift: shift,
                                                    width: width, byMass: byMass, remaining: &remaining,
                                                    counts: counts.baseAddress!, mass: mass.baseAddress!)
                        }
                    }
                }
            }
            guard let (bin, members) = result else { break }
            prefix |= UInt32(bin) << shift
            memberCount = members
        }
        // The members now all weigh exactly tau: take ties, lowest ids first, until the limit is reached.
        let tau = Float(bitPattern: prefix)
        var taken = 0.0
        var tieLast = Int(candidateIds[max(memberCount - 1, 0)])
        for k in 0..<memberCount {
            taken += byMass ? Double(tau) : 1
            if taken >= remaining {
                tieLast = Int(candidateIds[k])
                break
            }
        }
        return (tau, tieLast)
    }

    /// Lists the top-k set (tau, tieLast), sorts it, then cuts it by top-p and min-p and normalises it, as the
    /// processors do on a sorted list.
    private mutating func listedSet(tau: Float, tieLast: Int, parameters: SamplingParameters) -> KeptSet {
        let count = candidateIds.withUnsafeMutableBufferPointer { ids in
            candidateValues.withUnsafeMutableBufferPointer { values in
                weights.withUnsafeBufferPointer { w in
                    Kernels.gatherKept(ids.baseAddress!, values.baseAddress!, capacity: vocabularySize, w.baseAddress!,
                                       count: vocabularySize, tau: tau, tieLast: tieLast)
                }
            }
        }
        partialSort(count: count, limit: count)
        return cutListed(count: count, parameters: parameters)
    }

    /// Stride of the sample `listTopKFromSample` estimates its threshold from (one weight per 256 bytes).
    static let topKSampleStride = 64

    /// The top-k set without the histogram: a threshold from a strided sample of the weights that very likely has
    /// more than k weights at or above it, then one SIMD pass gathering those, then a partial sort of them. Every
    /// top-k member weighs at least the k-th largest weight, which is >= the threshold whenever more than k weights
    /// reach it, so the k best gathered (descending, ties by lower id) are exactly the set the radix selection
    /// keeps, in the order `listedSet` sorts it; more than k (not just k) also means more positive weights than k,
    /// the case where the histogram path lists its set too. Returns the listed count (k), or nil when the sample
    /// missed (too few gathered, too many to sort cheaply, or no positive sample): then the histogram path runs.
    private mutating func listTopKFromSample(k: Int) -> Int? {
        let stride = Self.topKSampleStride
        let sampleCount = (vocabularySize + stride - 1) / stride
        // Rank in the sample: twice the expected count of top-k members in it, plus a margin for small k.
        let rank = 2 * ((k + stride - 1) / stride) + 4
        guard rank <= sampleCount else { return nil }
        weights.withUnsafeBufferPointer { w in
            for j in 0..<sampleCount {
                candidateValues[j] = w[j * stride]
                candidateIds[j] = Int32(j * stride)
            }
        }
        partialSort(count: sampleCount, limit: rank)
        let threshold = candidateValues[rank - 1]
        guard threshold > 0 else { return nil }
        let capacity = min(vocabularySize, 16 * Self.listedLimit)
        let gathered = candidateIds.withUnsafeMutableBufferPointer { ids in
            candidateValues.withUnsafeMutableBufferPointer { values in
                weights.withUnsafeBufferPointer { w in
                    // Kept: w > threshold.nextDown, i.e. w >= threshold.
                    Kernels.gatherKept(ids.baseAddress!, values.baseAddress!, capacity: capacity, w.baseAddress!,
                                       count: vocabularySize, tau: threshold.nextDown, tieLast: -1)
                }
            }
        }
        guard gathered > k && gathered < capacity else { return nil }
        partialSort(count: gathered, limit: k)
        return k
    }

    /// Cuts a listed set (candidates[0..<count], sorted descending) by top-p and min-p as the processors do on a
    /// sorted list, and normalises it.
    private mutating func cutListed(count: Int, parameters: SamplingParameters) -> KeptSet {
        var count = count
        if parameters.topP < 1 {
            let targetMass = parameters.topP * Self.sum(candidateValues, count: count)
            var cumulative: Float = 0
            for k in 0..<count {
                cumulative += candidateValues[k]
                if cumulative >= targetMass {
                    count = k + 1
                    break
                }
            }
        }
        if parameters.minP > 0 {
            // Sorted: the first value is the largest, the kept ones are a prefix.
            let threshold = parameters.minP * candidateValues[0]
            var kept = 1
            while kept < count && candidateValues[kept] >= threshold { kept += 1 }
            count = kept
        }
        let mass = Self.sum(candidateValues, count: count)
        candidateValues.withUnsafeMutableBufferPointer { values in
            for k in 0..<count { values[k] /= mass }
        }
        return .listed(count: count)
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

    /// One draw from the kept set with one uniform number. Listed sets are walked in their (descending) order,
    /// thresholds in id order: first to the chunk whose kept sum crosses the target, then within it.
    private mutating func draw(_ kept: KeptSet, random: inout RandomSource) -> Int {
        let unit = random.nextUnitFloat()
        switch kept {
        case .listed(let count):
            return candidateValues.withUnsafeBufferPointer { values in
                var cumulative: Float = 0
                for k in 0..<count {
                    cumulative += values[k]
                    if unit < cumulative { return Int(candidateIds[k]) }
                }
                return Int(candidateIds[count - 1])
            }
        case .threshold(let tau, let tieLast, let mass):
            let target = Double(unit) * mass
            let chunk = Kernels.samplingChunk
            return weights.withUnsafeBufferPointer { w in
                chunkSums.withUnsafeBufferPointer { sums in
                    func isKept(_ i: Int) -> Bool { w[i] > tau || (w[i] == tau && i <= tieLast) }
                    var cumulative = 0.0
                    for c in sums.indices where sums[c] > 0 {
                        let next = cumulative + Double(sums[c])
                        if next > target {
                            var inner = cumulative
                            var last = c * chunk
                            for i in (c * chunk)..<min((c + 1) * chunk, vocabularySize) where isKept(i) {
                                inner += Double(w[i])
                                last = i
                                if target < inner { return i }
                            }
                            return last  // rounding: the target sits just past this chunk's last kept token
                        }
                        cumulative = next
                    }
                    // Rounding left the target at or past the total: the last kept token.
                    for i in stride(from: vocabularySize - 1, through: 0, by: -1) where isKept(i) { return i }
                    return 0
                }
            }
        }
    }
}
