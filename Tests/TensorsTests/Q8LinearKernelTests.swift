import CKernels
import Foundation
import Testing

/// Q8_0 weights: the exact (f32-compute) path and the int8 path (activations quantized per block of 32), on every
/// ISA this CPU has. Serialized: lk_force_isa is global.
extension KernelTests {
    @Suite("Q8_0 linear kernels", .serialized)
    struct Q8LinearKernelTests {
        // Rows of 1, 3 (odd: the last pair is half empty), 5, 34 and 64 blocks; (150, 1088) spans several panels.
        static let shapes: [(outSize: Int, inSize: Int)] = [(37, 32), (70, 96), (33, 160), (150, 1088), (19, 2048), (5, 64)]

        /// One token's activations quantized as the contract says, written independently of the C code: per block
        /// d = max|x| / 127 and q = round-half-even(x * 127 / max|x|).
        static func quantized(_ x: ArraySlice<Float>) -> (q: [Int32], d: [Float]) {
            var q: [Int32] = []
            var d: [Float] = []
            let values = Array(x)
            for start in stride(from: 0, to: values.count, by: 32) {
                let block = values[start..<(start + 32)]
                let amax = block.reduce(Float(0)) { abs($1) > $0 ? abs($1) : $0 }
                let scale = amax / 127
                let inverse: Float = amax > 0 ? 127 / amax : 0
                d.append(scale)
                for v in block {
                    q.append(Int32(min(max(v * inverse, -127), 127).rounded(.toNearestOrEven)))
                }
            }
            return (q, d)
        }

        /// The weights' int8 values and f16 scales, read back from the stored blocks.
        static func blocks(_ matrix: TestMatrix) -> (q: [Int32], d: [Float]) {
            var q: [Int32] = []
            var d: [Float] = []
            for block in 0..<(matrix.outSize * matrix.inSize / 32) {
                let base = block * 34
                d.append(Float(Float16(bitPattern: UInt16(matrix.bytes[base]) | UInt16(matrix.bytes[base + 1]) << 8)))
                for k in 0..<32 { q.append(Int32(Int8(bitPattern: matrix.bytes[base + 2 + k]))) }
            }
            return (q, d)
        }

        @Test("int8 compute equals the exact sum of d_w * d_x * (integer block dot) to f32 accumulation, on every ISA")
        func int8MatchesQuantizedReference() {
            defer { lk_force_isa(lk_detect_isa()) }
            var random = TestRandom(seed: 41)
            for (outSize, inSize) in Self.shapes {
                let matrix = TestMatrix(dtype: LK_DTYPE_Q8_0, outSize: outSize, inSize: inSize, random: &random)
                let weights = Self.blocks(matrix)
                let tokenCount = 9
                let x = (0..<(tokenCount * inSize)).map { _ in random.unit() * 3 }  // [tokenCount, inSize]
                let blockCount = inSize / 32
                for isa in availableInstructionSets {
                    lk_force_isa(isa)
                    var y = [Float](repeating: .nan, count: tokenCount * outSize)  // [tokenCount, outSize]
                    matrix.linear(&y, x, tokenCount: tokenCount, rowBegin: 0, rowEnd: outSize, compute: LK_COMPUTE_INT8)
                    for t in 0..<tokenCount {
                        let token = Self.quantized(x[(t * inSize)..<((t + 1) * inSize)])
                        for o in 0..<outSize {
                            var exact = 0.0
                            var magnitude = 0.0
                            var unquantized = 0.0
                            for b in 0..<blockCount {
                                // The kernels scale each lane's sum of four products: the rounding scales with those.
                                let scale = Double(weights.d[o * blockCount + b] * token.d[b])
                                for lane in 0..<8 {
                                    var sum: Int32 = 0
                                    for k in (4 * lane)..<(4 * lane + 4) {
                                        sum += weights.q[(o * blockCount + b) * 32 + k] * token.q[b * 32 + k]
                                    }
                                    exact += Double(sum) * scale
                                    magnitude += abs(Double(sum) * scale)
                                }
                            }
                            // Quantizing moves each activation by at most half a step, d_x / 2.
                            var quantizationBound = 0.0
                            for i in 0..<inSize {
                                let w = Double(matrix.values[o * inSize + i])
                                unquantized += Double(x[t * inSize + i]) * w
                                quantizationBound += abs(w) * Double(token.d[i / 32]) / 2
                            }
                            let got = Double(y[t * outSize + o])
                            #expect(abs(got - exact) <= 4e-6 * magnitude + 1e-30,
                                    "isa \(isa.rawValue) [\(outSize)x\(inSize)] t=\(t) o=\(o): \(got) vs \(exact)")
                            #expect(abs(got - unquantized) <= quantizationBound * 1.001 + 1e-6,
                                    "isa \(isa.rawValue) [\(outSize)x\(inSize)]")
                        }
                    }
                }
            }
        }

        @Test("the AVX2 int8 kernel gives the portable kernel's bits")
        func avx2MatchesPortable() {
            defer { lk_force_isa(lk_detect_isa()) }
            guard lk_detect_isa().rawValue >= LK_ISA_AVX2.rawValue else { return }
            var random = TestRandom(seed: 43)
            for (outSize, inSize) in Self.shapes {
                let matrix = TestMatrix(dtype: LK_DTYPE_Q8_0, outSize: outSize, inSize: inSize, random: &random)
                let tokenCount = 7
                let x = (0..<(tokenCount * inSize)).map { _ in random.unit() }
                var outputs: [[Float]] = []
                for isa in [LK_ISA_PORTABLE, LK_ISA_AVX2] {
                    lk_force_isa(isa)
                    var y = [Float](repeating: .nan, count: tokenCount * outSize)
                    matrix.linear(&y, x, tokenCount: tokenCount, rowBegin: 0, rowEnd: outSize, compute: LK_COMPUTE_INT8)
                    outputs.append(y)
                }
                #expect(zip(outputs[0], outputs[1]).allSatisfy { $0.bitPattern == $1.bitPattern }, "[\(outSize)x\(inSize)]")
            }
        }

        @Test("staging gives the same bits on every ISA: zeros, NaN, infinities, tiny and huge values")
        func stagingIsISAIndependent() {
            defer { lk_force_isa(lk_detect_isa()) }
            var random = TestRandom(seed: 47)
            let inSize = 160
            let tokenCount = 6
            var x = (0..<(tokenCount * inSize)).map { _ in random.unit() }
            for i in 0..<32 { x[i] = 0 }                       // an all-zero block
            x[40] = .nan                                       // NaN in a block
            x[70] = .infinity; x[75] = -.infinity             // infinities
            for i in 96..<128 { x[i] = random.unit() * 1e-30 } // tiny (subnormal-range products)
            x[200] = 3e38                                      // huge
            x[300] = -0.0
            let stride = Int(lk_q8_stage_stride(Int64(inSize)))
            #expect(stride == 3 * 48)
            var staged: [[UInt32]] = []
            for isa in availableInstructionSets {
                lk_force_isa(isa)
                var out = [Float](repeating: .nan, count: tokenCount * stride)
                lk_q8_stage(&out, x, Int64(inSize), Int64(tokenCount), Int64(inSize))
                staged.append(out.map(\.bitPattern))
            }
            for other in staged.dropFirst() { #expect(other == staged[0]) }
            // Token 1 (no special values) against the Swift reference.
            let reference = Self.quantized(x[inSize..<(2 * inSize)])
            staged[0].withUnsafeBytes { raw in
                let row = raw.baseAddress! + stride * 4
                for b in 0..<5 {
                    let pair = row + (b / 2) * 192
                    for k in 0..<32 {
                        #expect(Int32(pair.load(fromByteOffset: (b % 2) * 32 + k, as: Int8.self)) == reference.q[b * 32 + k])
                    }
                    #expect(pair.load(fromByteOffset: 64 + (b % 2) * 32, as: Float.self) == reference.d[b])
                    let groupSum = (0..<4).reduce(Int32(0)) { $0 + reference.q[b * 32 + $1] }
                    #expect(pair.load(fromByteOffset: 128 + (b % 2) * 32, as: Int32.self) == -128 * groupSum)
                }
                // The half-empty last pair is zero.
                let last = row + 2 * 192
                #expect((0..<32).allSatisfy { last.load(fromByteOffset: 32 + $0, as: UInt8.self) == 0 })
            }
        }

        @Test("outputs are bit-identical whatever the token count and the row range, int8 and f32 compute",
              arguments: [LK_COMPUTE_INT8, LK_COMPUTE_F32])
        func batchInvariance(compute: lk_compute) {
            defer { lk_force_isa(lk_detect_isa()) }
            var random = TestRandom(seed: 53)
            for (outSize, inSize) in Self.shapes {
                let matrix = TestMatrix(dtype: LK_DTYPE_Q8_0, outSize: outSize, inSize: inSize, random: &random)
                let tokenCount = 40
                let x = (0..<(tokenCount * inSize)).map { _ in random.unit() }
                for isa in availableInstructionSets {
                    lk_force_isa(isa)
                    var whole = [Float](repeating: .nan, count: tokenCount * outSize)
                    matrix.linear(&whole, x, tokenCount: tokenCount, rowBegin: 0, rowEnd: outSize, compute: compute)
                    for groupSize in [1, 2, 5, 9] {
                        let pieces = matrix.linearInPieces(x, tokenCount: tokenCount, groupSize: groupSize, compute: compute)
                        #expect(zip(whole, pieces).allSatisfy { $0.bitPattern == $1.bitPattern },
                                "isa \(isa.rawValue) compute \(compute.rawValue) [\(outSize)x\(inSize)] group \(groupSize)")
                    }
                }
            }
        }

        @Test("f32 compute over Q8_0 gives the bits of f32 compute over the dequantized f32 matrix, on every ISA")
        func exactModeIsDequantizedF32() {
            defer { lk_force_isa(lk_detect_isa()) }
            var random = TestRandom(seed: 59)
            for (outSize, inSize) in Self.shapes {
                let matrix = TestMatrix(dtype: LK_DTYPE_Q8_0, outSize: outSize, inSize: inSize, random: &random)
                var dequantized = [Float](repeating: .nan, count: outSize * inSize)
                matrix.bytes.withUnsafeBytes { w in
                    lk_to_f32(&dequantized, w.baseAddress, LK_DTYPE_Q8_0, 0, Int64(outSize * inSize))
                }
                #expect(dequantized == matrix.values)
                // A row from its middle (the embedding lookup's call).
                var row = [Float](repeating: .nan, count: inSize)
                matrix.bytes.withUnsafeBytes { w in
                    lk_to_f32(&row, w.baseAddress, LK_DTYPE_Q8_0, Int64((outSize / 2) * inSize), Int64(inSize))
                }
                #expect(row == Array(matrix.values[((outSize / 2) * inSize)..<((outSize / 2 + 1) * inSize)]))
                let tokenCount = 11
                let x = (0..<(tokenCount * inSize)).map { _ in random.unit() }
                for isa in availableInstructionSets {
                    lk_force_isa(isa)
                    var fromQ8 = [Float](repeating: .nan, count: tokenCount * outSize)
                    matrix.linear(&fromQ8, x, tokenCount: tokenCount, rowBegin: 0, rowEnd: outSize)
                    var fromF32 = [Float](repeating: .nan, count: tokenCount * outSize)
                    dequantized.withUnsafeBytes { w in
                        fromF32.withUnsafeMutableBufferPointer { y in
                            lk_linear(y.baseAddress, Int64(outSize), x, Int64(inSize), w.baseAddress, LK_DTYPE_F32, nil,
                                      Int64(tokenCount), Int64(inSize), 0, Int64(outSize), LK_COMPUTE_F32)
                        }
                    }
                    #expect(zip(fromQ8, fromF32).allSatisfy { $0.bitPattern == $1.bitPattern },
                            "isa \(isa.rawValue) [\(outSize)x\(inSize)]")
                }
            }
        }

        @Test("lk_linear_parallel over Q8_0 with int8 compute gives the bits of lk_linear")
        func parallelMatchesSerial() {
            var random = TestRandom(seed: 61)
            let matrix = TestMatrix(dtype: LK_DTYPE_Q8_0, outSize: 203, inSize: 96, random: &random)
            let x = (0..<(5 * 96)).map { _ in random.unit() }
            var serial = [Float](repeating: .nan, count: 5 * 203)
            matrix.linear(&serial, x, tokenCount: 5, rowBegin: 0, rowEnd: 203, compute: LK_COMPUTE_INT8)
            let stride = Int(lk_q8_stage_stride(96))
            var staged = [Float](repeating: .nan, count: 5 * stride)
            lk_q8_stage(&staged, x, 96, 5, 96)
            let pool = lk_pool_create(2, 0)
            defer { lk_pool_destroy(pool) }
            var parallel = [Float](repeating: .nan, count: 5 * 203)
            matrix.bytes.withUnsafeBytes { w in
                lk_linear_parallel(pool, &parallel, 203, staged, Int64(stride), w.baseAddress, LK_DTYPE_Q8_0, nil, 5, 96,
                                   203, LK_COMPUTE_INT8)
            }
            #expect(zip(serial, parallel).allSatisfy { $0.bitPattern == $1.bitPattern })
            #expect(lk_dtype_row_bytes(LK_DTYPE_Q8_0, 96) == 102)
            #expect(lk_dtype_block_elements(LK_DTYPE_Q8_0) == 32)
        }
    }
}
