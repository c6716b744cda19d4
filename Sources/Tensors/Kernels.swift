internal import CKernels

/// Swift entry points to the C kernels (`lingkernels.h`). Pointers are the caller's; shapes are in elements.
public enum Kernels {
    /// y[t, o] = sum_i x[t, i] * w[o, i] for o in rows; x: [tokenCount, w.columnCount] stride xStride,
    /// y: [tokenCount, *] stride yStride. Bit-identical for any tokenCount and row range (batch invariant).
    /// A bf16- or int8-compute matrix (`w.compute`) needs `stage`, where x is rounded to bf16 or quantized first.
    @inline(__always)
    public static func linear(_ y: UnsafeMutablePointer<Float>, yStride: Int, _ x: UnsafePointer<Float>, xStride: Int,
                              _ w: WeightMatrix, tokenCount: Int, rows: Range<Int>, stage: ScratchArray<Float>? = nil) {
        guard tokenCount > 0 else { return }
        let (input, inputStride) = stageActivations(x, xStride: xStride, w, tokenCount: tokenCount, stage: stage)
        withScales(w) { scales in
            lk_linear(y, Int64(yStride), input, Int64(inputStride), w.base, lk_dtype(rawValue: UInt32(w.dtype.rawValue)),
                      scales, Int64(tokenCount), Int64(w.columnCount), Int64(rows.lowerBound), Int64(rows.upperBound),
                      w.kernelCompute)
        }
    }

    /// The activations a linear over `w` reads: x itself for f32 compute; for bf16 compute, x rounded to bf16 in
    /// `stage` (laid out for the kernel the CPU will run); for int8 compute, x quantized per block of 32; and that
    /// layout's row stride.
    @inline(__always)
    static func stageActivations(_ x: UnsafePointer<Float>, xStride: Int, _ w: WeightMatrix, tokenCount: Int,
                                 stage: ScratchArray<Float>?) -> (UnsafePointer<Float>, Int) {
        guard w.compute != .f32 else { return (x, xStride) }
        guard let stage else { preconditionFailure("a bf16- or int8-compute linear needs a staging buffer") }
        if w.compute == .int8 {
            let stride = Int(lk_q8_stage_stride(Int64(w.columnCount)))
            stage.reserve(tokenCount * stride)
            lk_q8_stage(stage.pointer, x, Int64(xStride), Int64(tokenCount), Int64(w.columnCount))
            return (UnsafePointer(stage.pointer), stride)
        }
        let dtype = lk_dtype(rawValue: UInt32(w.dtype.rawValue))
        let stride = Int(lk_bf16_stage_stride(dtype, Int64(w.columnCount)))
        stage.reserve(tokenCount * stride)
        lk_bf16_stage(stage.pointer, x, Int64(xStride), Int64(tokenCount), Int64(w.columnCount), dtype)
        return (UnsafePointer(stage.pointer), stride)
    }

    /// Whether bf16-compute linears over `dtype` weights run as AVX512-BF16 dot products on this CPU (with the active
    /// ISA); otherwise as the f32 kernel on the rounded activations.
    public static func bf16DotProducts(for dtype: WeightDType) -> Bool {
        lk_bf16_dot_available(lk_dtype(rawValue: UInt32(dtype.rawValue))) != 0
    }

    /// Whether bf16-compute linears over `dtype` weights with rows of `inSize` run on AMX tiles on this CPU.
    public static func bf16Tiles(for dtype: WeightDType, inSize: Int) -> Bool {
        lk_bf16_amx_available(lk_dtype(rawValue: UInt32(dtype.rawValue)), Int64(inSize)) != 0
    }

    /// Row `row` of `w` converted to f32: dst[w.columnCount].
    public static func rowToF32(_ dst: UnsafeMutablePointer<Float>, _ w: WeightMatrix, row: Int) {
        if w.dtype == .fp8E4M3, let s = w.fp8Scales {
            var scales = lk_fp8_scales(scaleInv: s.scaleInv, blockRows: Int64(s.blockRows), blockCols: Int64(s.blockColumns))
            lk_fp8_row_to_f32(dst, w.base.assumingMemoryBound(to: UInt8.self), &scales, Int64(w.columnCount), Int64(row))
        } else {
            lk_to_f32(dst, w.base, lk_dtype(rawValue: UInt32(w.dtype.rawValue)), Int64(row * w.columnCount),
                      Int64(w.columnCount))
        }
    }

    /// Converts `count` elements of `dtype` at `src` to f32.
    public static func toF32(_ dst: UnsafeMutablePointer<Float>, _ src: UnsafeRawPointer, dtype: WeightDType, count: Int) {
        precondition(dtype != .fp8E4M3, "FP8 needs block scales")
        precondition(count % dtype.blockElements == 0, "quantized weights convert whole blocks")
        lk_to_f32(dst, src, lk_dtype(rawValue: UInt32(dtype.rawValue)), 0, Int64(count))
    }

    /// Dot product with a reduction order fixed by n.
    @inline(__always)
    public static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int) -> Float {
        lk_dot_f32(a, b, Int64(count))
    }

    /// y[i] += a * x[i]
    @inline(__always)
    public static func axpy(_ y: UnsafeMutablePointer<Float>, _ a: Float, _ x: UnsafePointer<Float>, count: Int) {
        lk_axpy_f32(y, a, x, Int64(count))
    }

    /// v[i] = e^(v[i] - shift), the same bits on every instruction set (see lk_exp_shifted_f32).
    public static func expShifted(_ v: UnsafeMutablePointer<Float>, count: Int, shift: Float) {
        lk_exp_shifted_f32(v, Int64(count), shift)
    }

    public static func f32ToBF16(_ dst: UnsafeMutablePointer<UInt16>, _ src: UnsafePointer<Float>, count: Int) {
        lk_f32_to_bf16(dst, src, Int64(count))
    }

    public static func bf16ToF32(_ dst: UnsafeMutablePointer<Float>, _ src: UnsafePointer<UInt16>, count: Int) {
        lk_bf16_to_f32(dst, src, Int64(count))
    }

    @inline(__always)
    static func withScales<R>(_ w: WeightMatrix, _ body: (UnsafePointer<lk_fp8_scales>?) -> R) -> R {
        guard let s = w.fp8Scales, w.dtype == .fp8E4M3 else { return body(nil) }
        var scales = lk_fp8_scales(scaleInv: s.scaleInv, blockRows: Int64(s.blockRows), blockCols: Int64(s.blockColumns))
        return withUnsafePointer(to: &scales) { body($0) }
    }
}

extension WeightMatrix {
    /// The C kernels' spelling of `compute`.
    var kernelCompute: lk_compute {
        switch compute {
        case .f32: LK_COMPUTE_F32
        case .bf16: LK_COMPUTE_BF16
        case .int8: LK_COMPUTE_INT8
        }
    }
}
