/// Row quantizers for the ggml block formats a `ling-serve quantize` file holds, written from the block layouts in
/// ggml-common.h and following the reference (no importance matrix) algorithms of ggml-quants.c
/// (`quantize_row_*_ref`): same scale searches, same rounding, so the output is close to what `llama-quantize`
/// writes from the same f32 values (bit-identical output is not a goal).
///
/// Layouts, per block (little-endian, f16 = IEEE half):
/// ```
/// Q8_0  32 values,  34 bytes: f16 d | i8 q[32]                       x = d * q
/// Q5_0  32 values,  22 bytes: f16 d | u32 qh | u8 qs[16]             x = d * (q - 16), q = 4 low bits | 5th bit
/// Q5_1  32 values,  24 bytes: f16 d | f16 m | u32 qh | u8 qs[16]     x = d * q + m
/// Q4_K 256 values, 144 bytes: f16 d | f16 dmin | u8 scales[12] | u8 qs[128]
/// Q5_K 256 values, 176 bytes: f16 d | f16 dmin | u8 scales[12] | u8 qh[32] | u8 qs[128]
///                             8 sub-blocks of 32: x = d * sc[j] * q - dmin * m[j], 6-bit sc/m packed in scales[12]
/// Q6_K 256 values, 210 bytes: u8 ql[128] | u8 qh[64] | i8 scales[16] | f16 d
///                             16 sub-blocks of 16: x = d * scales[j] * (q - 32), q = 4 low bits | 2 high bits
/// ```
/// In Q5_0/Q5_1 byte j of qs holds value j (low nibble) and value j + 16 (high nibble); in Q4_K/Q5_K each 64-value
/// group stores its first 32 values in the low nibbles of 32 bytes and the next 32 in the high nibbles.
public enum GGMLQuantizer {
    /// The types `quantize` writes (the F32 / F16 / BF16 copies included).
    public static func canWrite(_ type: GGUFTensorType) -> Bool {
        switch type {
        case .f32, .f16, .bf16, .q8_0, .q5_0, .q5_1, .q4K, .q5K, .q6K: true
        default: false
        }
    }

    /// Bytes one row of `count` values takes in `type` (any type with known blocks); nil when `count` is not a
    /// multiple of the block.
    public static func rowByteCount(_ type: GGUFTensorType, count: Int) -> Int? {
        guard let block = type.block, count >= 0, count % block.elements == 0 else { return nil }
        return count / block.elements * block.bytes
    }

    /// Encodes `source` (one row, or several rows laid end to end) into `destination`, which must be exactly
    /// `rowByteCount(type, source.count)` bytes. Any float, NaN and infinities included, gives some output and never
    /// traps (the rounding helpers clamp before converting).
    public static func quantize(_ type: GGUFTensorType, _ source: UnsafeBufferPointer<Float>,
                                into destination: UnsafeMutableRawBufferPointer) {
        precondition(canWrite(type), "GGMLQuantizer cannot write \(type)")
        precondition(rowByteCount(type, count: source.count) == destination.count, "destination size mismatch")
        guard let x = source.baseAddress, let y = destination.baseAddress else { return }
        let n = source.count
        switch type {
        case .f32:
            for i in 0..<n { y.storeBytes(of: x[i].bitPattern.littleEndian, toByteOffset: 4 * i, as: UInt32.self) }
        case .f16:
            for i in 0..<n { y.storeBytes(of: halfBits(x[i]).littleEndian, toByteOffset: 2 * i, as: UInt16.self) }
        case .bf16:
            for i in 0..<n { y.storeBytes(of: bf16Bits(x[i]).littleEndian, toByteOffset: 2 * i, as: UInt16.self) }
        case .q8_0:
            for b in 0..<(n / 32) { q8_0(x + 32 * b, y + 34 * b) }
        case .q5_0:
            for b in 0..<(n / 32) { q5_0(x + 32 * b, y + 22 * b) }
        case .q5_1:
            for b in 0..<(n / 32) { q5_1(x + 32 * b, y + 24 * b) }
        case .q4K, .q5K, .q6K:
            // One scratch per call, not per block: levels [256] + candidate levels [32] as bytes, weights [32],
            // sub-block scales and mins [16 + 16] as floats.
            withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 288 + 12) { bytes in
                withUnsafeTemporaryAllocation(of: Float.self, capacity: 64) { floats in
                    guard let b = bytes.baseAddress, let f = floats.baseAddress else { return }
                    let scratch = Scratch(levels: b, candidate: b + 256, packed: b + 288, weights: f, scales: f + 32,
                                          mins: f + 48)
                    for block in 0..<(n / 256) {
                        switch type {
                        case .q4K: kQuant(x + 256 * block, y + 144 * block, bits: 4, scratch)
                        case .q5K: kQuant(x + 256 * block, y + 176 * block, bits: 5, scratch)
                        default: q6K(x + 256 * block, y + 210 * block, scratch)
                        }
                    }
                }
            }
        default:
            break
        }
    }

    /// Per-call working memory of the super-block quantizers.
    struct Scratch {
        let levels: UnsafeMutablePointer<UInt8>     // [256]
        let candidate: UnsafeMutablePointer<UInt8>  // [32]
        let packed: UnsafeMutablePointer<UInt8>     // [12]
        let weights: UnsafeMutablePointer<Float>    // [32]
        let scales: UnsafeMutablePointer<Float>     // [16]
        let mins: UnsafeMutablePointer<Float>       // [16]
    }

    // MARK: - scalar helpers

    /// IEEE half, round to nearest even (what F16C's `_cvtss_sh` and ggml's software path give).
    @inline(__always) static func halfBits(_ v: Float) -> UInt16 { Float16(v).bitPattern }

    /// bf16 by round to nearest even; NaN stays a (quiet) NaN, as ggml's `ggml_compute_fp32_to_bf16` does.
    @inline(__always) static func bf16Bits(_ v: Float) -> UInt16 {
        let bits = v.bitPattern
        if v.isNaN { return UInt16(truncatingIfNeeded: (bits >> 16) | 64) }
        return UInt16(truncatingIfNeeded: (bits &+ 0x7FFF &+ ((bits >> 16) & 1)) >> 16)
    }

    /// Round half to even through the 1.5 * 2^23 trick (ggml's `nearest_int`): exact for |v| < 2^22, and for any
    /// other input (NaN, huge) some integer without trapping; callers clamp the result.
    @inline(__always) static func nearestInt(_ v: Float) -> Int32 {
        let shifted = v + 12_582_912
        return Int32(bitPattern: shifted.bitPattern & 0x007F_FFFF) - 0x0040_0000
    }

    /// C's float -> int conversion (truncation toward zero) for values known to be small; non-finite values give 0.
    @inline(__always) static func truncated(_ v: Float) -> Int32 {
        guard v.isFinite else { return 0 }
        return Int32(max(-1_000_000, min(1_000_000, v)))
    }

    @inline(__always) static func storeHalf(_ v: Float, _ y: UnsafeMutableRawPointer, _ offset: Int) {
        y.storeBytes(of: halfBits(v).littleEndian, toByteOffset: offset, as: UInt16.self)
    }

    @inline(__always) static func halfValue(_ v: Float) -> Float { Float(Float16(v)) }

    // MARK: - 32-value blocks

    /// d = absmax / 127, q = round(x / d) (half away from zero, as `roundf`).
    static func q8_0(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer) {
        var amax: Float = 0
        for j in 0..<32 { amax = max(amax, abs(x[j])) }
        let d = amax / 127
        let id: Float = d != 0 ? 1 / d : 0
        storeHalf(d, y, 0)
        for j in 0..<32 {
            let q = truncated((x[j] * id).rounded(.toNearestOrAwayFromZero))
            y.storeBytes(of: Int8(max(-128, min(127, q))), toByteOffset: 2 + j, as: Int8.self)
        }
    }

    /// The value of largest magnitude maps to -16: d = max / -16, q = trunc(x / d + 16.5) capped at 31.
    static func q5_0(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer) {
        var amax: Float = 0
        var maxValue: Float = 0
        for j in 0..<32 where amax < abs(x[j]) {
            amax = abs(x[j])
            maxValue = x[j]
        }
        let d = maxValue / -16
        let id: Float = d != 0 ? 1 / d : 0
        storeHalf(d, y, 0)
        var qh: UInt32 = 0
        for j in 0..<16 {
            let q0 = UInt32(max(0, min(31, truncated(x[j] * id + 16.5))))
            let q1 = UInt32(max(0, min(31, truncated(x[j + 16] * id + 16.5))))
            y.storeBytes(of: UInt8(q0 & 0xF) | UInt8(q1 & 0xF) << 4, toByteOffset: 6 + j, as: UInt8.self)
            qh |= (q0 >> 4) << j
            qh |= (q1 >> 4) << (j + 16)
        }
        y.storeBytes(of: qh.littleEndian, toByteOffset: 2, as: UInt32.self)
    }

    /// min..max over 31 steps: d = (max - min) / 31, m = min, q = trunc((x - min) / d + 0.5).
    static func q5_1(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer) {
        var lo = Float.greatestFiniteMagnitude
        var hi = -Float.greatestFiniteMagnitude
        for j in 0..<32 {
            if x[j] < lo { lo = x[j] }
            if x[j] > hi { hi = x[j] }
        }
        let d = (hi - lo) / 31
        let id: Float = d != 0 ? 1 / d : 0
        storeHalf(d, y, 0)
        storeHalf(lo, y, 2)
        var qh: UInt32 = 0
        for j in 0..<16 {
            let q0 = UInt32(max(0, min(31, truncated((x[j] - lo) * id + 0.5))))
            let q1 = UInt32(max(0, min(31, truncated((x[j + 16] - lo) * id + 0.5))))
            y.storeBytes(of: UInt8(q0 & 0xF) | UInt8(q1 & 0xF) << 4, toByteOffset: 8 + j, as: UInt8.self)
            qh |= ((q0 >> 4) & 1) << j
            qh |= ((q1 >> 4) & 1) << (j + 16)
        }
        y.storeBytes(of: qh.littleEndian, toByteOffset: 4, as: UInt32.self)
    }

    // MARK: - Q4_K / Q5_K

    /// Q4_K (bits 4, levels 0...15) or Q5_K (bits 5, levels 0...31) of one 256-value super-block: each 32-value
    /// sub-block gets an affine fit x ~ scale * q - min by a weighted search over candidate scales
    /// (`fitAffine`, weights |x| + rms), then the 8 scales and 8 mins are themselves quantized to 6 bits against
    /// the super-block's d and dmin, and the values are re-quantized with the rounded scales.
    static func kQuant(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, bits: Int, _ scratch: Scratch) {
        let levels: Int32 = bits == 4 ? 15 : 31
        let L = scratch.levels, scales = scratch.scales, mins = scratch.mins, weights = scratch.weights
        var maxScale: Float = 0
        var maxMin: Float = 0
        for j in 0..<8 {
            let xs = x + 32 * j
            var sumX2: Float = 0
            for l in 0..<32 { sumX2 += xs[l] * xs[l] }
            let average = (sumX2 / 32).squareRoot()
            for l in 0..<32 { weights[l] = average + abs(xs[l]) }
            let fit = fitAffine(xs, weights: weights, levels: levels, into: L + 32 * j, candidate: scratch.candidate,
                                rmin: bits == 4 ? -1 : -0.5, rdelta: 0.1, steps: bits == 4 ? 20 : 15)
            scales[j] = fit.scale
            mins[j] = fit.min
            if fit.scale > maxScale { maxScale = fit.scale }
            if fit.min > maxMin { maxMin = fit.min }
        }
        let inverseScale: Float = maxScale > 0 ? 63 / maxScale : 0
        let inverseMin: Float = maxMin > 0 ? 63 / maxMin : 0
        let packed = scratch.packed
        for i in 0..<12 { packed[i] = 0 }
        for j in 0..<8 {
            let ls = UInt8(truncatingIfNeeded: min(63, max(0, nearestInt(inverseScale * scales[j]))))
            let lm = UInt8(truncatingIfNeeded: min(63, max(0, nearestInt(inverseMin * mins[j]))))
            if j < 4 {
                packed[j] = ls
                packed[j + 4] = lm
            } else {
                packed[j + 4] = (ls & 0xF) | ((lm & 0xF) << 4)
                packed[j - 4] |= (ls >> 4) << 6
                packed[j] |= (lm >> 4) << 6
            }
        }
        storeHalf(maxScale / 63, y, 0)
        storeHalf(maxMin / 63, y, 2)
        for i in 0..<12 { y.storeBytes(of: packed[i], toByteOffset: 4 + i, as: UInt8.self) }
        let d = halfValue(maxScale / 63)
        let dmin = halfValue(maxMin / 63)
        for j in 0..<8 {
            let (sc, m) = scaleMin(j, UnsafeBufferPointer(start: packed, count: 12))
            let dj = d * Float(sc)
            if dj == 0 { continue }
            let mj = dmin * Float(m)
            for i in 0..<32 {
                L[32 * j + i] = UInt8(truncatingIfNeeded: max(0, min(levels, nearestInt((x[32 * j + i] + mj) / dj))))
            }
        }
        if bits == 4 {
            for group in 0..<4 {
                for l in 0..<32 {
                    let byte = L[64 * group + l] | (L[64 * group + 32 + l] << 4)
                    y.storeBytes(of: byte, toByteOffset: 16 + 32 * group + l, as: UInt8.self)
                }
            }
        } else {
            let qh = scratch.candidate  // free again: the fits are done
            for l in 0..<32 { qh[l] = 0 }
            for group in 0..<4 {
                let m1 = UInt8(1) << (2 * group), m2 = UInt8(2) << (2 * group)
                for l in 0..<32 {
                    var l1 = L[64 * group + l], l2 = L[64 * group + 32 + l]
                    if l1 > 15 { l1 -= 16; qh[l] |= m1 }
                    if l2 > 15 { l2 -= 16; qh[l] |= m2 }
                    y.storeBytes(of: l1 | (l2 << 4), toByteOffset: 48 + 32 * group + l, as: UInt8.self)
                }
            }
            for l in 0..<32 { y.storeBytes(of: qh[l], toByteOffset: 16 + l, as: UInt8.self) }
        }
    }

    /// The 6-bit scale and min of sub-block j from the 12 packed bytes (ggml's `get_scale_min_k4`): sub-blocks 0-3
    /// keep theirs in the low 6 bits of bytes j and j + 4; 4-7 split theirs between a nibble of byte j + 4 and the
    /// top 2 bits of bytes j - 4 and j.
    @inline(__always) static func scaleMin(_ j: Int, _ q: some RandomAccessCollection<UInt8>) -> (UInt8, UInt8) {
        func at(_ i: Int) -> UInt8 { q[q.index(q.startIndex, offsetBy: i)] }
        if j < 4 { return (at(j) & 63, at(j + 4) & 63) }
        return ((at(j + 4) & 0xF) | ((at(j - 4) >> 6) << 4), (at(j + 4) >> 4) | ((at(j) >> 6) << 4))
    }

    /// Weighted affine fit of n = 32 values to integer levels 0...levels: x ~ scale * L - min with min >= 0
    /// (`make_qkx2_quants`). Starts from the min/max grid, then tries `steps + 1` stretched grids
    /// (levels + rmin + rdelta * k over the range), solving weighted least squares for scale and offset on each and
    /// keeping the one with the smallest weighted squared error.
    static func fitAffine(_ x: UnsafePointer<Float>, weights: UnsafePointer<Float>, levels: Int32,
                          into L: UnsafeMutablePointer<UInt8>, candidate: UnsafeMutablePointer<UInt8>,
                          rmin: Float, rdelta: Float, steps: Int) -> (scale: Float, min: Float) {
        let n = 32
        var lo = x[0], hi = x[0]
        var sumW = weights[0]
        var sumX = sumW * x[0]
        for i in 1..<n {
            if x[i] < lo { lo = x[i] }
            if x[i] > hi { hi = x[i] }
            sumW += weights[i]
            sumX += weights[i] * x[i]
        }
        if lo > 0 { lo = 0 }
        if hi == lo {
            for i in 0..<n { L[i] = 0 }
            return (0, -lo)
        }
        var iscale = Float(levels) / (hi - lo)
        var scale = 1 / iscale
        var bestError: Float = 0
        for i in 0..<n {
            let l = max(0, min(levels, nearestInt(iscale * (x[i] - lo))))
            L[i] = UInt8(truncatingIfNeeded: l)
            let diff = scale * Float(l) + lo - x[i]
            bestError += weights[i] * (diff * diff)
        }
        // NOTE: as in ggml, an accepted fit moves `lo`, and later candidate grids start from the new offset.
        for step in 0...steps {
            iscale = (rmin + rdelta * Float(step) + Float(levels)) / (hi - lo)
            var sumL: Float = 0, sumL2: Float = 0, sumXL: Float = 0
            for i in 0..<n {
                let l = max(0, min(levels, nearestInt(iscale * (x[i] - lo))))
                candidate[i] = UInt8(truncatingIfNeeded: l)
                let w = weights[i]
                sumL += w * Float(l)
                sumL2 += w * Float(l) * Float(l)
                sumXL += w * Float(l) * x[i]
            }
            let D = sumW * sumL2 - sumL * sumL
            guard D > 0 else { continue }
            var thisScale = (sumW * sumXL - sumX * sumL) / D
            var thisMin = (sumL2 * sumX - sumL * sumXL) / D
            if thisMin > 0 {
                thisMin = 0
                thisScale = sumXL / sumL2
            }
            var error: Float = 0
            for i in 0..<n {
                let diff = thisScale * Float(candidate[i]) + thisMin - x[i]
                error += weights[i] * (diff * diff)
            }
            if error < bestError {
                for i in 0..<n { L[i] = candidate[i] }
                bestError = error
                scale = thisScale
                lo = thisMin
            }
        }
        return (scale, -lo)
    }

    // MARK: - Q6_K

    /// 16 sub-blocks of 16 values, each fitted symmetrically to levels -32...31 (`fitSymmetric`), their scales
    /// quantized to int8 against d = max scale / -128, then the values re-quantized with the rounded scales.
    static func q6K(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, _ scratch: Scratch) {
        // levels holds the biased level (0...63) of each value: first the fit's, then the re-quantized one.
        let q = scratch.levels, scales = scratch.scales
        var maxScale: Float = 0
        var maxAbsScale: Float = 0
        for ib in 0..<16 {
            let scale = fitSymmetric(x + 16 * ib, levels: 32, into: q + 16 * ib)
            scales[ib] = scale
            if abs(scale) > maxAbsScale {
                maxAbsScale = abs(scale)
                maxScale = scale
            }
        }
        if maxAbsScale < 1e-15 {
            for i in 0..<210 { y.storeBytes(of: UInt8(0), toByteOffset: i, as: UInt8.self) }
            return
        }
        let iscale = -128 / maxScale
        storeHalf(1 / iscale, y, 208)
        let d = halfValue(1 / iscale)
        for j in 0..<16 {
            let sc = Int8(truncatingIfNeeded: max(-128, min(127, nearestInt(iscale * scales[j]))))
            y.storeBytes(of: sc, toByteOffset: 192 + j, as: Int8.self)
            let dj = d * Float(sc)
            if dj == 0 { continue }  // keeps the fit's levels, as ggml does
            for i in 0..<16 {
                let l = max(-32, min(31, nearestInt(x[16 * j + i] / dj)))
                q[16 * j + i] = UInt8(truncatingIfNeeded: l + 32)
            }
        }
        for half in 0..<2 {
            let base = 128 * half
            for l in 0..<32 {
                let q1 = q[base + l], q2 = q[base + l + 32], q3 = q[base + l + 64], q4 = q[base + l + 96]
                y.storeBytes(of: (q1 & 0xF) | ((q3 & 0xF) << 4), toByteOffset: 64 * half + l, as: UInt8.self)
                y.storeBytes(of: (q2 & 0xF) | ((q4 & 0xF) << 4), toByteOffset: 64 * half + l + 32, as: UInt8.self)
                let high = (q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6)
                y.storeBytes(of: high, toByteOffset: 128 + 32 * half + l, as: UInt8.self)
            }
        }
    }

    /// Symmetric fit of 16 values to levels -levels...levels-1, weighted by x^2 (`make_qx_quants`, rmse_type 1):
    /// the grid through the value of largest magnitude, then 18 slightly stretched or shrunk grids, keeping the one
    /// whose least-squares scale explains the most weighted energy. Stores L + levels; returns the scale.
    static func fitSymmetric(_ x: UnsafePointer<Float>, levels: Int32, into L: UnsafeMutablePointer<UInt8>) -> Float {
        let n = 16
        var amax: Float = 0
        var maxValue: Float = 0
        for i in 0..<n where abs(x[i]) > amax {
            amax = abs(x[i])
            maxValue = x[i]
        }
        if amax < 1e-15 {
            for i in 0..<n { L[i] = 0 }
            return 0
        }
        var iscale = -Float(levels) / maxValue
        var sumLX: Float = 0, sumL2: Float = 0
        for i in 0..<n {
            let l = max(-levels, min(levels - 1, nearestInt(iscale * x[i])))
            L[i] = UInt8(truncatingIfNeeded: l + levels)
            let w = x[i] * x[i]
            sumLX += w * x[i] * Float(l)
            sumL2 += w * Float(l) * Float(l)
        }
        var scale: Float = sumL2 != 0 ? sumLX / sumL2 : 0
        var best = scale * sumLX
        for stretch in -9...9 where stretch != 0 {
            iscale = -(Float(levels) + 0.1 * Float(stretch)) / maxValue
            sumLX = 0
            sumL2 = 0
            for i in 0..<n {
                let l = max(-levels, min(levels - 1, nearestInt(iscale * x[i])))
                let w = x[i] * x[i]
                sumLX += w * x[i] * Float(l)
                sumL2 += w * Float(l) * Float(l)
            }
            if sumL2 > 0 && sumLX * sumLX > best * sumL2 {
                for i in 0..<n {
                    L[i] = UInt8(truncatingIfNeeded: max(-levels, min(levels - 1, nearestInt(iscale * x[i]))) + levels)
                }
                scale = sumLX / sumL2
                best = scale * sumLX
            }
        }
        return scale
    }
}
