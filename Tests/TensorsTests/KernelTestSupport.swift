import CKernels
import Testing

/// Deterministic xorshift generator for test data.
struct TestRandom {
    var state: UInt64

    init(seed: UInt64) { state = seed &* 0x9E37_79B9_7F4A_7C15 | 1 }

    mutating func next() -> UInt64 {
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        return state
    }

    /// Uniform in [-1, 1).
    mutating func unit() -> Float { Float(next() >> 40) / Float(1 << 23) - 1 }
}

/// A weight matrix stored in one dtype, with its exact f32 values for the reference computation.
struct TestMatrix {
    let dtype: lk_dtype
    let outSize: Int
    let inSize: Int
    var bytes: [UInt8]
    var scaleInv: [Float]  // FP8 only: [ceil(outSize / blockSize), ceil(inSize / blockSize)]
    let blockSize: Int
    var values: [Float]  // [outSize, inSize] exact f32 value of each stored weight (scale applied)

    init(dtype: lk_dtype, outSize: Int, inSize: Int, blockSize: Int = 32, random: inout TestRandom) {
        self.dtype = dtype
        self.outSize = outSize
        self.inSize = inSize
        self.blockSize = blockSize
        let count = outSize * inSize
        values = [Float](repeating: 0, count: count)
        let scaleCols = (inSize + blockSize - 1) / blockSize
        scaleInv = (0..<((outSize + blockSize - 1) / blockSize * scaleCols)).map { _ in 0.25 + abs(random.unit()) }
        switch dtype {
        case LK_DTYPE_F32:
            var floats = (0..<count).map { _ in random.unit() }
            values = floats
            bytes = floats.withUnsafeMutableBytes { Array($0) }
        case LK_DTYPE_BF16:
            var halves = (0..<count).map { _ in UInt16(truncatingIfNeeded: random.unit().bitPattern >> 16) }
            values = halves.map { Float(bitPattern: UInt32($0) << 16) }
            bytes = halves.withUnsafeMutableBytes { Array($0) }
        case LK_DTYPE_F16:
            var halves = (0..<count).map { _ in Float16(random.unit() * 4).bitPattern }
            values = halves.map { Float(Float16(bitPattern: $0)) }
            bytes = halves.withUnsafeMutableBytes { Array($0) }
        case LK_DTYPE_Q8_0:  // blocks of 32: f16 d, 32 int8 in [-127, 127] (what ggml's quantizer writes)
            precondition(inSize % 32 == 0, "Q8_0 rows are whole blocks")
            bytes = []
            bytes.reserveCapacity(count / 32 * 34)
            for block in 0..<(count / 32) {
                let d = Float16(0.001 + abs(random.unit()) * 0.02)
                withUnsafeBytes(of: d.bitPattern.littleEndian) { bytes.append(contentsOf: $0) }
                for k in 0..<32 {
                    let q = Int8(truncatingIfNeeded: Int(random.next() % 255) - 127)
                    bytes.append(UInt8(bitPattern: q))
                    values[block * 32 + k] = Float(d) * Float(q)
                }
            }
        default:
            bytes = (0..<count).map { _ in
                var v = UInt8(truncatingIfNeeded: random.next() >> 33)
                if v & 0x7f == 0x7f { v &= 0xfe }  // no NaN in weights
                return v
            }
            for o in 0..<outSize {
                for i in 0..<inSize {
                    let scale = scaleInv[(o / blockSize) * scaleCols + i / blockSize]
                    values[o * inSize + i] = fp8E4M3Reference(bytes[o * inSize + i]) * scale
                }
            }
        }
    }

    /// Runs lk_linear over x [tokenCount, inSize] for rows [rowBegin, rowEnd) into y [tokenCount, outSize]; for
    /// LK_COMPUTE_BF16 and LK_COMPUTE_INT8, x is staged first (lk_bf16_stage, lk_q8_stage) as the engine does.
    func linear(_ y: inout [Float], _ x: [Float], tokenCount: Int, rowBegin: Int, rowEnd: Int,
                compute: lk_compute = LK_COMPUTE_F32) {
        var input = x
        var inputStride = inSize
        if compute == LK_COMPUTE_BF16 {
            inputStride = Int(lk_bf16_stage_stride(dtype, Int64(inSize)))
            input = [Float](repeating: .nan, count: max(tokenCount * inputStride, 1))
            lk_bf16_stage(&input, x, Int64(inSize), Int64(tokenCount), Int64(inSize), dtype)
        } else if compute == LK_COMPUTE_INT8 {
            inputStride = Int(lk_q8_stage_stride(Int64(inSize)))
            input = [Float](repeating: .nan, count: max(tokenCount * inputStride, 1))
            lk_q8_stage(&input, x, Int64(inSize), Int64(tokenCount), Int64(inSize))
        }
        var scales = lk_fp8_scales(scaleInv: nil, blockRows: Int64(blockSize), blockCols: Int64(blockSize))
        scaleInv.withUnsafeBufferPointer { scaleBuffer in
            scales.scaleInv = scaleBuffer.baseAddress
            bytes.withUnsafeBytes { w in
                y.withUnsafeMutableBufferPointer { yBuffer in
                    input.withUnsafeBufferPointer { xBuffer in
                        lk_linear(yBuffer.baseAddress, Int64(outSize), xBuffer.baseAddress, Int64(inputStride),
                                  w.baseAddress, dtype, &scales, Int64(tokenCount), Int64(inSize), Int64(rowBegin),
                                  Int64(rowEnd), compute)
                    }
                }
            }
        }
    }
}

extension TestMatrix {
    /// y for x [tokenCount, inSize] computed groupSize tokens at a time, each group's rows in two calls split at a
    /// row that moves from group to group: what batch invariance says equals one call over everything.
    func linearInPieces(_ x: [Float], tokenCount: Int, groupSize: Int, compute: lk_compute) -> [Float] {
        var pieces = [Float](repeating: .nan, count: tokenCount * outSize)  // [tokenCount, outSize]
        var t = 0
        while t < tokenCount {
            let count = min(groupSize, tokenCount - t)
            let cut = (t * 5 + 3) % (outSize + 1)
            let xGroup = Array(x[(t * inSize)..<((t + count) * inSize)])
            var yGroup = [Float](repeating: .nan, count: count * outSize)
            linear(&yGroup, xGroup, tokenCount: count, rowBegin: 0, rowEnd: cut, compute: compute)
            linear(&yGroup, xGroup, tokenCount: count, rowBegin: cut, rowEnd: outSize, compute: compute)
            pieces.replaceSubrange((t * outSize)..<((t + count) * outSize), with: yGroup)
            t += count
        }
        return pieces
    }
}

/// torch.float8_e4m3fn decoding, written independently of the C code.
func fp8E4M3Reference(_ v: UInt8) -> Float {
    let negative = v & 0x80 != 0
    let exponent = Int((v >> 3) & 0xf)
    let mantissa = Float(v & 0x7)
    if v & 0x7f == 0x7f { return .nan }
    let magnitude = exponent == 0
        ? mantissa / 8 * Float(sign: .plus, exponent: -6, significand: 1)
        : (1 + mantissa / 8) * Float(sign: .plus, exponent: exponent - 7, significand: 1)
    return negative ? -magnitude : magnitude
}

let allDtypes: [lk_dtype] = [LK_DTYPE_F32, LK_DTYPE_BF16, LK_DTYPE_F16, LK_DTYPE_FP8_E4M3]

/// Instruction sets this CPU can run, portable first.
var availableInstructionSets: [lk_isa] {
    [LK_ISA_PORTABLE, LK_ISA_AVX2, LK_ISA_AVX512].filter { $0.rawValue <= lk_detect_isa().rawValue }
}

/// Every suite that calls lk_force_isa (a process-wide setting) nests here, so they never run concurrently.
@Suite(.serialized) enum KernelTests {}
