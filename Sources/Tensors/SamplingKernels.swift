internal import CKernels

/// The sampler's vocabulary-wide passes (`lingkernels_sampling.h`): the same bits on every instruction set.
extension Kernels {
    /// Elements per chunk of `keptChunkSums`.
    public static let samplingChunk = Int(LK_SAMPLING_CHUNK)
    /// Bins of `weightHistogram`: the top 12 bits of a non-negative float.
    public static let weightHistogramBins = 2048
    /// Entries of scratch the level-0 histogram needs: interleaved copies of its bins, padded apart.
    public static let weightHistogramScratch = Int(LK_HISTOGRAM_COPIES) * Int(LK_HISTOGRAM_STRIDE)
    /// Bit shift that gives a weight's `weightHistogram` bin.
    public static let weightHistogramShift: UInt32 = 20

    /// out[i] = logits[i] * scale with NaN as -inf; returns the largest out[i] (-inf when none is finite).
    public static func scaleAndMax(_ out: UnsafeMutablePointer<Float>, _ logits: UnsafePointer<Float>, count: Int,
                                   scale: Float) -> Float {
        lk_scale_max_f32(out, logits, Int64(count), scale)
    }

    /// The largest value, NaN ignored (-inf when there is none).
    public static func maximum(_ x: UnsafePointer<Float>, count: Int) -> Float {
        lk_max_f32(x, Int64(count))
    }

    /// Index of the largest value, the lowest among ties; NaN never wins; 0 when nothing is above -inf.
    public static func argmax(_ x: UnsafePointer<Float>, count: Int) -> Int {
        Int(lk_argmax_f32(x, Int64(count)))
    }

    /// The sum in a fixed 16-lane order (the same bits on every ISA).
    public static func sum(_ x: UnsafePointer<Float>, count: Int) -> Float {
        lk_sum_f32(x, Int64(count))
    }

    /// Per 64-element chunk, the sum of the kept weights: w[i] > tau, or w[i] == tau and i <= tieLast.
    /// sums: [ceil(count / 64)].
    public static func keptChunkSums(_ sums: UnsafeMutablePointer<Float>, _ w: UnsafePointer<Float>, count: Int,
                                     tau: Float, tieLast: Int) {
        lk_kept_chunk_sums_f32(sums, w, Int64(count), tau, Int64(tieLast))
    }

    /// Count and mass of the positive weights per top-12-bit bin, in counts/mass[0..<weightHistogramBins].
    /// counts, mass: scratch of [weightHistogramScratch].
    public static func weightHistogram(counts: UnsafeMutablePointer<UInt32>, mass: UnsafeMutablePointer<Double>,
                                       _ w: UnsafePointer<Float>, count: Int) {
        lk_weight_histogram_f32(counts, mass, w, Int64(count))
    }

    /// One refinement of a radix selection over ids[0..<count] by the `width` bits at `shift` (see
    /// lk_refine_selection_f32): the chosen bin and its member count (ids compacted to them), `remaining` reduced to
    /// what is left inside it; nil without members. counts, mass: scratch of [2^width].
    public static func refineSelection(_ ids: UnsafeMutablePointer<Int32>, count: Int, _ w: UnsafePointer<Float>,
                                       shift: UInt32, width: UInt32, byMass: Bool, remaining: inout Double,
                                       counts: UnsafeMutablePointer<UInt32>, mass: UnsafeMutablePointer<Double>)
        -> (bin: Int, memberCount: Int)?
    {
        let packed = lk_refine_selection_f32(ids, Int64(count), w, shift, width, byMass ? 1 : 0, &remaining, counts, mass)
        guard packed >= 0 else { return nil }
        return (Int(packed & 0xffff), Int(packed >> 16))
    }

    /// Indices (ascending) of the positive weights in histogram bin `bin`; returns how many were written.
    public static func gatherBin(_ ids: UnsafeMutablePointer<Int32>, capacity: Int, _ w: UnsafePointer<Float>, count: Int,
                                 bin: UInt32) -> Int {
        Int(lk_gather_bin_f32(ids, Int64(capacity), w, Int64(count), bin))
    }

    /// Indices and weights (ascending index) of the kept set, as `keptChunkSums` defines it; returns how many.
    public static func gatherKept(_ ids: UnsafeMutablePointer<Int32>, _ values: UnsafeMutablePointer<Float>, capacity: Int,
                                  _ w: UnsafePointer<Float>, count: Int, tau: Float, tieLast: Int) -> Int {
        Int(lk_gather_kept_f32(ids, values, Int64(capacity), w, Int64(count), tau, Int64(tieLast)))
    }
}
