/// Element type of a stored weight.
public enum WeightDType: Int, Sendable, CustomStringConvertible {
    case f32 = 0
    case bf16 = 1
    case f16 = 2
    case fp8E4M3 = 3
    /// ggml's Q8_0: blocks of 32 along a row, each an f16 scale d and 32 int8 q (34 bytes); w = d * q.
    case q8_0 = 4

    /// Elements per block: a row is a whole number of blocks.
    public var blockElements: Int { self == .q8_0 ? 32 : 1 }

    /// Whether weights of this type are stored as quantized blocks (and multiply int8 activations by default).
    public var isQuantized: Bool { self == .q8_0 }

    /// Bytes of a row of `columnCount` elements (a multiple of blockElements).
    public func rowByteCount(columns columnCount: Int) -> Int {
        switch self {
        case .f32: columnCount * 4
        case .bf16, .f16: columnCount * 2
        case .fp8E4M3: columnCount
        case .q8_0: columnCount / 32 * 34
        }
    }

    /// The safetensors spelling.
    public var description: String {
        switch self {
        case .f32: "F32"
        case .bf16: "BF16"
        case .f16: "F16"
        case .fp8E4M3: "F8_E4M3"
        case .q8_0: "Q8_0"
        }
    }
}

/// What a linear multiplies a weight matrix with.
/// - f32: the activations as they are (f32); products of the stored weights, exact to f32 accumulation (Q8_0
///   weights dequantized exactly: the bits of the same linear over the dequantized f32 matrix).
/// - bf16: the activations rounded to bf16 (nearest even) first, as PyTorch and llama.cpp do with bf16 checkpoints;
///   products still summed in f32. Over bf16 weights on a CPU with AVX512-BF16 this runs as VDPBF16PS dot products
///   at twice the arithmetic rate; elsewhere as the f32 kernel on the rounded values (same results up to summation
///   order).
/// - int8: Q8_0 weights only: the activations quantized per block of 32 to int8 with an f32 scale (as llama.cpp's
///   q8_0 x q8_0 dot product does), each block's integer dot product exact, the scales applied in f32.
public enum ComputeDType: String, Sendable, CaseIterable, CustomStringConvertible {
    case f32
    case bf16
    case int8

    /// What a matrix stored as `dtype` computes with when the model runs in this mode: int8 applies to quantized
    /// matrices only; the unquantized ones of a quantized checkpoint (llama.cpp keeps some in F16 or F32) take what
    /// `auto` picks for their type.
    public func forMatrix(_ dtype: WeightDType) -> ComputeDType {
        guard self == .int8, !dtype.isQuantized else { return self }
        return ComputeSetting.auto.resolved(weightDType: dtype)
    }

    public var description: String { rawValue }
}

/// What a model is asked to compute with (`--compute-dtype`): a ComputeDType, or `auto`, the fastest mode that stays
/// as close to the reference as PyTorch's own bf16 run: bf16 over bf16 weights on a CPU that multiplies bf16 in
/// hardware (AVX512-BF16 dot products, AMX tiles), f32 otherwise (f32, f16 or FP8 weights; CPUs without bf16
/// arithmetic, where rounding the activations would cost accuracy and buy nothing); int8 over Q8_0 weights (what
/// llama.cpp runs them with: half the bytes of bf16 read per token, integer dot products).
public enum ComputeSetting: String, Sendable, CaseIterable, CustomStringConvertible {
    case auto
    case f32
    case bf16
    case int8

    public init(_ dtype: ComputeDType) {
        switch dtype {
        case .f32: self = .f32
        case .bf16: self = .bf16
        case .int8: self = .int8
        }
    }

    /// The compute dtype for a checkpoint whose matrices are mostly `weightDType` (`int8` asked of a checkpoint
    /// without quantized matrices is `auto`'s choice: there is nothing to multiply in int8).
    public func resolved(weightDType: WeightDType) -> ComputeDType {
        switch self {
        case .f32: .f32
        case .bf16: .bf16
        case .int8: weightDType.isQuantized ? .int8 : Self.auto.resolved(weightDType: weightDType)
        case .auto:
            weightDType.isQuantized ? .int8 : weightDType == .bf16 && Kernels.bf16DotProducts(for: .bf16) ? .bf16 : .f32
        }
    }

    public var description: String { rawValue }
}

/// Block scales of an FP8 E4M3 matrix: w[o, i] = fp8[o, i] * scaleInv[o / blockRows, i / blockColumns].
public struct FP8BlockScales: @unchecked Sendable {
    /// [ceil(rowCount / blockRows), ceil(columnCount / blockColumns)] f32, row-major (memory-mapped).
    public let scaleInv: UnsafePointer<Float>
    public let blockRows: Int
    public let blockColumns: Int

    public init(scaleInv: UnsafePointer<Float>, blockRows: Int, blockColumns: Int) {
        self.scaleInv = scaleInv
        self.blockRows = blockRows
        self.blockColumns = blockColumns
    }
}

/// A row-major [rowCount, columnCount] weight read in place (torch Linear layout `[out, in]`). It does not own its
/// memory: the checkpoint's `MappedFile` must outlive it.
public struct WeightMatrix: @unchecked Sendable {
    public let base: UnsafeRawPointer
    public let dtype: WeightDType
    public let rowCount: Int
    public let columnCount: Int
    public let fp8Scales: FP8BlockScales?
    /// What linears multiply this matrix with (a property of the matrix, never of a call, so batch invariance
    /// holds whatever the mode).
    public let compute: ComputeDType

    public init(base: UnsafeRawPointer, dtype: WeightDType, rowCount: Int, columnCount: Int,
                fp8Scales: FP8BlockScales? = nil, compute: ComputeDType = .f32) {
        precondition(dtype != .fp8E4M3 || fp8Scales != nil, "FP8 weights need block scales")
        precondition(columnCount % dtype.blockElements == 0, "rows of quantized weights are whole blocks")
        precondition(compute != .int8 || dtype.isQuantized, "int8 compute multiplies quantized weights only")
        self.base = base
        self.dtype = dtype
        self.rowCount = rowCount
        self.columnCount = columnCount
        self.fp8Scales = fp8Scales
        self.compute = compute
    }

    /// Bytes the matrix occupies (what a full pass over it reads).
    public var byteCount: Int { rowCount * rowByteCount }

    /// Bytes of one row.
    public var rowByteCount: Int { dtype.rowByteCount(columns: columnCount) }
}
