// kernel-bench: lk_linear speed on Ling-mini-2.0 shapes, per ISA and dtype, against this machine's limits.
// Usage: kernel-bench [--threads N] [--tokens N] [--isa all|avx512|avx2|portable]
//                     [--dtype all|bf16|f32|f16|fp8|q8_0] [--compute f32|bf16|int8|all] [--amx on|off|both] [--quick] [--shapes NAME,NAME...]
// --compute bf16 rounds the activations to bf16 (timed, as the engine stages them once per linear) and, over bf16
// weights on a CPU with AVX512-BF16, multiplies with VDPBF16PS, or on AMX tiles where the CPU has them (--amx off
// forbids the tiles, both runs each way). --compute int8 (Q8_0 weights only) quantizes the activations per block of 32
// (timed, as lk_q8_stage runs once per linear) and multiplies with integer dot products (AVX512-VNNI where present).
import CKernels
import Glibc
import Tensors

struct Options {
    var threadCount = 2
    var prefillTokens = 512
    var isas: [lk_isa] = [LK_ISA_AVX512, LK_ISA_AVX2, LK_ISA_PORTABLE]
    var dtypes: [lk_dtype] = [LK_DTYPE_BF16, LK_DTYPE_F32]
    var computes: [lk_compute] = [LK_COMPUTE_F32]
    var amxSettings: [Int32] = [1]  // lk_amx_enable values tried for bf16 compute
    var quick = false
    var shapeNames: Set<String>? = nil  // nil: every shape
}

func parseOptions() -> Options? {
    var options = Options()
    var arguments = CommandLine.arguments.dropFirst()
    while let argument = arguments.popFirst() {
        switch argument {
        case "--threads": options.threadCount = arguments.popFirst().flatMap { Int($0) } ?? 0
        case "--tokens": options.prefillTokens = arguments.popFirst().flatMap { Int($0) } ?? 0
        case "--quick": options.quick = true
        case "--shapes":
            guard let list = arguments.popFirst() else { return nil }
            options.shapeNames = Set(list.split(separator: ",").map(String.init))
        case "--isa":
            switch arguments.popFirst() {
            case "all": options.isas = [LK_ISA_AVX512, LK_ISA_AVX2, LK_ISA_PORTABLE]
            case "avx512": options.isas = [LK_ISA_AVX512]
            case "avx2": options.isas = [LK_ISA_AVX2]
            case "portable": options.isas = [LK_ISA_PORTABLE]
            default: return nil
            }
        case "--compute":
            switch arguments.popFirst() {
            case "all": options.computes = [LK_COMPUTE_F32, LK_COMPUTE_BF16, LK_COMPUTE_INT8]
            case "f32": options.computes = [LK_COMPUTE_F32]
            case "bf16": options.computes = [LK_COMPUTE_BF16]
            case "int8": options.computes = [LK_COMPUTE_INT8]
            default: return nil
            }
        case "--amx":
            switch arguments.popFirst() {
            case "on": options.amxSettings = [1]
            case "off": options.amxSettings = [0]
            case "both": options.amxSettings = [1, 0]
            default: return nil
            }
        case "--dtype":
            switch arguments.popFirst() {
            case "all": options.dtypes = [LK_DTYPE_BF16, LK_DTYPE_F32, LK_DTYPE_F16, LK_DTYPE_FP8_E4M3, LK_DTYPE_Q8_0]
            case "bf16": options.dtypes = [LK_DTYPE_BF16]
            case "f32": options.dtypes = [LK_DTYPE_F32]
            case "f16": options.dtypes = [LK_DTYPE_F16]
            case "fp8": options.dtypes = [LK_DTYPE_FP8_E4M3]
            case "q8_0": options.dtypes = [LK_DTYPE_Q8_0]
            default: return nil
            }
        default: return nil
        }
    }
    return options.threadCount >= 1 && options.prefillTokens >= 1 ? options : nil
}

func seconds() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) * 1e-9
}

func dtypeName(_ dtype: lk_dtype) -> String {
    switch dtype {
    case LK_DTYPE_F32: "f32"
    case LK_DTYPE_BF16: "bf16"
    case LK_DTYPE_F16: "f16"
    case LK_DTYPE_Q8_0: "q8_0"
    default: "fp8"
    }
}

/// Bytes of an [outSize, inSize] matrix of `dtype`.
func matrixBytes(_ dtype: lk_dtype, outSize: Int, inSize: Int) -> Int {
    outSize * Int(lk_dtype_row_bytes(dtype, Int64(inSize)))
}

/// Best time of `repeats` calls of lk_linear_parallel.
func timeLinear(pool: OpaquePointer?, outSize: Int, inSize: Int, tokenCount: Int, dtype: lk_dtype,
                compute: lk_compute, repeats: Int) -> Double {
    let weightBytes = matrixBytes(dtype, outSize: outSize, inSize: inSize)
    // Decode reads weights from DRAM (a model is far larger than L3), so GEMV cycles through copies that together
    // exceed the caches. Prefill reuses each weight across tokens, so one copy is representative there.
    let copyCount = tokenCount == 1 ? max(1, (256 << 20) / weightBytes) : 1
    let weights = UnsafeMutableRawPointer.allocate(byteCount: weightBytes * copyCount, alignment: 64)
    defer { weights.deallocate() }
    // Small, finite values in every dtype (0x3c3c is about 0.0115 in bf16 and 1.06 in f16, 0x3c is 0.75 in fp8; a Q8_0
    // block of d = 1.06 and q = 60).
    memset(weights, 0x3c, weightBytes * copyCount)
    let x = UnsafeMutablePointer<Float>.allocate(capacity: tokenCount * inSize)  // [tokenCount, inSize]
    defer { x.deallocate() }
    for index in 0..<(tokenCount * inSize) { x[index] = Float(index % 7) * 0.1 - 0.3 }
    let y = UnsafeMutablePointer<Float>.allocate(capacity: tokenCount * outSize)  // [tokenCount, outSize]
    defer { y.deallocate() }
    let stageStride = compute == LK_COMPUTE_BF16 ? Int(lk_bf16_stage_stride(dtype, Int64(inSize)))
        : compute == LK_COMPUTE_INT8 ? Int(lk_q8_stage_stride(Int64(inSize))) : inSize
    let staged = UnsafeMutablePointer<Float>.allocate(capacity: tokenCount * stageStride)  // [tokenCount, stageStride]
    defer { staged.deallocate() }
    let scaleCount = (outSize + 127) / 128 * ((inSize + 127) / 128)
    var scaleInv = [Float](repeating: 1, count: scaleCount)
    return scaleInv.withUnsafeMutableBufferPointer { scaleBuffer in
        var scales = lk_fp8_scales(scaleInv: scaleBuffer.baseAddress, blockRows: 128, blockCols: 128)
        var best = Double.infinity
        for run in 0..<max(repeats, copyCount) {
            let copy = weights + (run % copyCount) * weightBytes  // [outSize, inSize]
            let start = seconds()
            if compute != LK_COMPUTE_F32 {
                if compute == LK_COMPUTE_INT8 {
                    lk_q8_stage(staged, x, Int64(inSize), Int64(tokenCount), Int64(inSize))
                } else {
                    lk_bf16_stage(staged, x, Int64(inSize), Int64(tokenCount), Int64(inSize), dtype)
                }
                lk_linear_parallel(pool, y, Int64(outSize), staged, Int64(stageStride), copy, dtype, &scales,
                                   Int64(tokenCount), Int64(inSize), Int64(outSize), compute)
            } else {
                lk_linear_parallel(pool, y, Int64(outSize), x, Int64(inSize), copy, dtype, &scales, Int64(tokenCount),
                                   Int64(inSize), Int64(outSize), compute)
            }
            best = min(best, seconds() - start)
        }
        return best
    }
}

extension String {
    /// Left-aligned in `width` columns.
    func padded(_ width: Int) -> String { count >= width ? self + " " : self + String(repeating: " ", count: width - count) }
}

/// Mean time of an empty lk_pool_run. Nonisolated on purpose: a closure formed in main-actor code would check its
/// isolation when a worker thread runs it, and trap.
nonisolated func poolRoundTripSeconds(_ pool: OpaquePointer?) -> Double {
    let rounds = 20000
    let start = seconds()
    for _ in 0..<rounds { lk_pool_run(pool, { _, _, _ in }, nil) }
    return (seconds() - start) / Double(rounds)
}

func format(_ value: Double, _ digits: Int = 1) -> String {
    var scaled = value
    for _ in 0..<digits { scaled *= 10 }
    let rounded = (scaled).rounded()
    var text = String(Int(rounded))
    if digits > 0 {
        while text.count <= digits { text = "0" + text }
        text.insert(".", at: text.index(text.endIndex, offsetBy: -digits))
    }
    return text
}

guard let options = parseOptions() else {
    print("usage: kernel-bench [--threads N] [--tokens N] [--isa all|avx512|avx2|portable] "
        + "[--dtype all|bf16|f32|f16|fp8|q8_0] [--compute f32|bf16|int8|all] [--amx on|off|both] [--quick] [--shapes qkv,lm_head,...]")
    exit(2)
}

let shapes: [(name: String, outSize: Int, inSize: Int)] = [
    ("qkv", 3072, 2048), ("attn_out", 2048, 2048), ("dense_gate_up", 5120, 2048), ("dense_down", 2048, 5120),
    ("router", 256, 2048), ("expert_gate_up", 512, 2048), ("expert_down", 2048, 512), ("lm_head", 157184, 2048),
]

let bandwidth = MachineLimits.memoryReadBandwidth(threadCount: options.threadCount)
let sgemm = MachineLimits.sgemmFlops(threadCount: options.threadCount)
let coreType = getenv("OPENBLAS_CORETYPE").map { String(cString: $0) } ?? "(unset)"
print("machine: detected ISA \(String(cString: lk_isa_name(lk_detect_isa()))), threads \(options.threadCount)")
print("memory read bandwidth: \(format(bandwidth / 1e9)) GB/s")
print("OpenBLAS sgemm 2048^3: \(format(sgemm / 1e9)) GFLOP/s (OPENBLAS_CORETYPE=\(coreType))")

let pool = lk_pool_create(Int32(options.threadCount), 0)
defer { lk_pool_destroy(pool) }

print("lk_pool_run round trip: \(format(poolRoundTripSeconds(pool) * 1e9, 0)) ns")

for isa in options.isas where isa.rawValue <= lk_detect_isa().rawValue {
    lk_force_isa(isa)
    let isaName = String(cString: lk_isa_name(isa))
    for dtype in options.dtypes {
      for compute in options.computes where (compute == LK_COMPUTE_INT8) == (dtype == LK_DTYPE_Q8_0) || compute == LK_COMPUTE_F32 {
       for amx in compute == LK_COMPUTE_BF16 ? options.amxSettings : [1] {
        lk_amx_enable(amx)
        let mode = compute == LK_COMPUTE_F32 ? "" : compute == LK_COMPUTE_INT8 ? " x int8"
            : lk_bf16_amx_available(dtype, 2048) != 0 ? " x bf16 (amx)"
            : lk_bf16_dot_available(dtype) != 0 ? " x bf16 (vdpbf16ps)" : " x bf16"
        print("\n[\(isaName) \(dtypeName(dtype))\(mode)]  shape            GEMV GB/s  of-bw   GEMM(\(options.prefillTokens)) GFLOP/s  of-sgemm")
        for shape in shapes {
            if options.quick && shape.name == "lm_head" { continue }
            if let names = options.shapeNames, !names.contains(shape.name) { continue }
            let bytes = Double(matrixBytes(dtype, outSize: shape.outSize, inSize: shape.inSize))
            let gemv = timeLinear(pool: pool, outSize: shape.outSize, inSize: shape.inSize, tokenCount: 1,
                                  dtype: dtype, compute: compute, repeats: shape.name == "lm_head" ? 3 : 20)
            var line = "  \(shape.name.padded(16)) [\(shape.outSize)x\(shape.inSize)]"
            line = line.padded(44)
            line += "\(format(bytes / gemv / 1e9))".padded(10)
            line += "\(format(bytes / gemv / bandwidth * 100, 0))%".padded(8)
            if (shape.name != "lm_head" || options.prefillTokens <= 64) && !(isa == LK_ISA_PORTABLE && options.prefillTokens > 64) {
                let tokens = shape.name.hasPrefix("expert") || shape.name == "router" ? min(64, options.prefillTokens)
                    : options.prefillTokens
                let gemm = timeLinear(pool: pool, outSize: shape.outSize, inSize: shape.inSize, tokenCount: tokens,
                                      dtype: dtype, compute: compute, repeats: 3)
                let flops = 2 * Double(shape.outSize * shape.inSize * tokens) / gemm
                line += "\(format(flops / 1e9)) (\(tokens) tok)".padded(22)
                line += "\(format(flops / sgemm * 100, 0))%"
            }
            print(line)
        }
       }
      }
    }
}
lk_amx_enable(1)
lk_force_isa(lk_detect_isa())
