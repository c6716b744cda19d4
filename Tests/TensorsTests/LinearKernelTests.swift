import CKernels
import Foundation
import Testing

/// lk_linear on every ISA this CPU has, every dtype, sizes with vector tails. Serialized: lk_force_isa is global.
extension KernelTests {
    @Suite("Linear kernels", .serialized)
    struct LinearKernelTests {
        // (150, 1100) spans several GEMM panels, so the next-panel prefetch runs; short rows (under 4 KiB) take the
        // software-prefetched GEMV and single-tile walks.
        // (200, 3072) spans several AMX panels with a row tail, (19, 2048) is one AMX tile with a row tail.
        static let shapes: [(outSize: Int, inSize: Int)] = [(37, 45), (70, 300), (19, 2048), (5, 7), (33, 129), (150, 1100),
                                                            (200, 3072)]

        /// lk_amx_enable settings to run a compute mode with: bf16 compute both on AMX tiles (where the CPU has them)
        /// and on the dot-product kernel.
        static func amxSettings(_ compute: lk_compute) -> [Int32] { compute == LK_COMPUTE_BF16 ? [1, 0] : [1] }

        /// f32: the activations as given; bf16: rounded to bf16 first (the reference rounds them independently).
        static let computes = [LK_COMPUTE_F32, LK_COMPUTE_BF16]

        @Test("Every ISA matches a double-precision reference for every dtype and compute mode",
              arguments: allDtypes, computes)
        func matchesReference(dtype: lk_dtype, compute: lk_compute) {
            defer { lk_force_isa(lk_detect_isa()); lk_amx_enable(1) }
            var random = TestRandom(seed: 11 + UInt64(dtype.rawValue))
            for (outSize, inSize) in Self.shapes {
                let matrix = TestMatrix(dtype: dtype, outSize: outSize, inSize: inSize, random: &random)
                let tokenCount = 9
                let x = (0..<(tokenCount * inSize)).map { _ in random.unit() }  // [tokenCount, inSize]
                for isa in availableInstructionSets {
                  for amx in Self.amxSettings(compute) {
                    lk_force_isa(isa)
                    lk_amx_enable(amx)
                    var y = [Float](repeating: .nan, count: tokenCount * outSize)  // [tokenCount, outSize]
                    matrix.linear(&y, x, tokenCount: tokenCount, rowBegin: 0, rowEnd: outSize, compute: compute)
                    for t in 0..<tokenCount {
                        for o in 0..<outSize {
                            var exact = 0.0
                            var magnitude = 0.0
                            for i in 0..<inSize {
                                let xi = compute == LK_COMPUTE_BF16 ? roundedToBF16(x[t * inSize + i]) : x[t * inSize + i]
                                let product = Double(xi) * Double(matrix.values[o * inSize + i])
                                exact += product
                                magnitude += abs(product)
                            }
                            let error = abs(Double(y[t * outSize + o]) - exact)
                            #expect(error <= 1e-5 * magnitude + 1e-30,
                                    "isa \(isa.rawValue) amx \(amx) dtype \(dtype.rawValue) compute \(compute.rawValue) [\(outSize)x\(inSize)] t=\(t) o=\(o)")
                        }
                    }
                  }
                }
            }
        }

        @Test("Outputs are bit-identical whatever the token count and the row range", arguments: allDtypes, computes)
        func batchInvariance(dtype: lk_dtype, compute: lk_compute) {
            defer { lk_force_isa(lk_detect_isa()); lk_amx_enable(1) }
            var random = TestRandom(seed: 23 + UInt64(dtype.rawValue))
            for (outSize, inSize) in Self.shapes {
                let matrix = TestMatrix(dtype: dtype, outSize: outSize, inSize: inSize, random: &random)
                let tokenCount = 64
                let x = (0..<(tokenCount * inSize)).map { _ in random.unit() }  // [tokenCount, inSize]
                for isa in availableInstructionSets {
                  for amx in Self.amxSettings(compute) {
                    lk_force_isa(isa)
                    lk_amx_enable(amx)
                    var whole = [Float](repeating: .nan, count: tokenCount * outSize)  // [tokenCount, outSize]
                    matrix.linear(&whole, x, tokenCount: tokenCount, rowBegin: 0, rowEnd: outSize, compute: compute)
                    for groupSize in [1, 3, 7, 17] {
                        let pieces = matrix.linearInPieces(x, tokenCount: tokenCount, groupSize: groupSize, compute: compute)
                        let same = zip(whole, pieces).allSatisfy { $0.bitPattern == $1.bitPattern }
                        #expect(same, "isa \(isa.rawValue) amx \(amx) dtype \(dtype.rawValue) compute \(compute.rawValue) [\(outSize)x\(inSize)] group \(groupSize)")
                    }
                  }
                }
            }
        }

        @Test("bf16 compute over bf16 weights uses the dot-product kernel exactly when the CPU has AVX512-BF16")
        func bf16DotWhereAvailable() throws {
            defer { lk_force_isa(lk_detect_isa()) }
            let flags = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
            let hasBF16 = flags.split(separator: "\n").first { $0.hasPrefix("flags") }?
                .split(separator: " ").contains("avx512_bf16") ?? false
            #expect((lk_bf16_dot_available(LK_DTYPE_BF16) != 0) == (hasBF16 && lk_detect_isa() == LK_ISA_AVX512))
            #expect(lk_bf16_dot_available(LK_DTYPE_F32) == 0)
            lk_force_isa(LK_ISA_AVX2)
            #expect(lk_bf16_dot_available(LK_DTYPE_BF16) == 0)
            #expect(lk_bf16_stage_stride(LK_DTYPE_BF16, 45) == 45)
        }

        @Test("bf16 compute over bf16 weights runs on AMX tiles exactly when the CPU has AMX-BF16 and rows of 32k inputs")
        func bf16AMXWhereAvailable() throws {
            defer { lk_force_isa(lk_detect_isa()); lk_amx_enable(1) }
            let flags = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
            let cpuFlags = Set(flags.split(separator: "\n").first { $0.hasPrefix("flags") }?.split(separator: " ") ?? [])
            let hasAMX = ["amx_tile", "amx_bf16", "avx512_bf16"].allSatisfy { cpuFlags.contains(Substring($0)) }
                && lk_detect_isa() == LK_ISA_AVX512
            // The kernel can refuse the tile state (an old kernel, a seccomp policy): then the dot path runs.
            if !hasAMX { #expect(lk_bf16_amx_available(LK_DTYPE_BF16, 2048) == 0) }
            if lk_bf16_amx_available(LK_DTYPE_BF16, 2048) != 0 { #expect(hasAMX) }
            #expect(lk_bf16_amx_available(LK_DTYPE_BF16, 2032) == 0)  // 63.5 chunks of 32 inputs
            #expect(lk_bf16_amx_available(LK_DTYPE_F32, 2048) == 0)
            lk_amx_enable(0)
            #expect(lk_bf16_amx_available(LK_DTYPE_BF16, 2048) == 0)
            lk_amx_enable(1)
            lk_force_isa(LK_ISA_AVX2)
            #expect(lk_bf16_amx_available(LK_DTYPE_BF16, 2048) == 0)
        }

        @Test("FP8 with a block width the SIMD walk cannot use falls back and stays correct")
        func fp8OddBlocks() {
            var random = TestRandom(seed: 5)
            let matrix = TestMatrix(dtype: LK_DTYPE_FP8_E4M3, outSize: 20, inSize: 50, blockSize: 12, random: &random)
            let x = (0..<(3 * 50)).map { _ in random.unit() }
            var y = [Float](repeating: .nan, count: 3 * 20)
            matrix.linear(&y, x, tokenCount: 3, rowBegin: 0, rowEnd: 20)
            for t in 0..<3 {
                for o in 0..<20 {
                    var exact = 0.0
                    var magnitude = 0.0
                    for i in 0..<50 {
                        let product = Double(x[t * 50 + i]) * Double(matrix.values[o * 50 + i])
                        exact += product
                        magnitude += abs(product)
                    }
                    #expect(abs(Double(y[t * 20 + o]) - exact) <= 1e-5 * magnitude)
                }
            }
        }

        @Test("lk_linear_parallel gives the same bits as lk_linear")
        func parallelMatchesSerial() {
            var random = TestRandom(seed: 77)
            let matrix = TestMatrix(dtype: LK_DTYPE_BF16, outSize: 203, inSize: 96, random: &random)
            let x = (0..<(5 * 96)).map { _ in random.unit() }
            var serial = [Float](repeating: .nan, count: 5 * 203)
            matrix.linear(&serial, x, tokenCount: 5, rowBegin: 0, rowEnd: 203)
            let pool = lk_pool_create(2, 0)
            defer { lk_pool_destroy(pool) }
            var parallel = [Float](repeating: .nan, count: 5 * 203)
            matrix.bytes.withUnsafeBytes { w in
                lk_linear_parallel(pool, &parallel, 203, x, 96, w.baseAddress, LK_DTYPE_BF16, nil, 5, 96, 203,
                                   LK_COMPUTE_F32)
            }
            #expect(zip(serial, parallel).allSatisfy { $0.bitPattern == $1.bitPattern })
        }
    }
}

/// x rounded to the nearest bf16 (ties to even), written independently of the C code (test data has no NaN).
func roundedToBF16(_ x: Float) -> Float {
    let bits = x.bitPattern
    return Float(bitPattern: ((bits &+ 0x7fff &+ ((bits >> 16) & 1)) >> 16) << 16)
}
