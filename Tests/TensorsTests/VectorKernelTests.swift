import CKernels
import Foundation
import Testing

extension KernelTests {
    @Suite("Vector kernels and conversions", .serialized)
    struct VectorKernelTests {
        @Test("dot and axpy agree with references on every ISA")
        func dotAndAxpy() {
            defer { lk_force_isa(lk_detect_isa()) }
            var random = TestRandom(seed: 3)
            for n in [0, 1, 7, 8, 31, 64, 128, 133, 1000] {
                let a = (0..<n).map { _ in random.unit() }
                let b = (0..<n).map { _ in random.unit() }
                var exact = 0.0
                var magnitude = 0.0
                for i in 0..<n {
                    exact += Double(a[i]) * Double(b[i])
                    magnitude += abs(Double(a[i]) * Double(b[i]))
                }
                for isa in availableInstructionSets {
                    lk_force_isa(isa)
                    let dot = lk_dot_f32(a, b, Int64(n))
                    #expect(abs(Double(dot) - exact) <= 1e-6 * magnitude + 1e-30, "isa \(isa.rawValue) n \(n)")
                    #expect(dot.bitPattern == lk_dot_f32(a, b, Int64(n)).bitPattern)
                    var y = b
                    lk_axpy_f32(&y, 0.75, a, Int64(n))
                    let expected = (0..<n).map { b[$0].addingProduct(0.75, a[$0]) }  // fused, like fmaf
                    #expect(zip(y, expected).allSatisfy { $0.bitPattern == $1.bitPattern }, "axpy isa \(isa.rawValue) n \(n)")
                }
            }
        }

        @Test("exp of shifted values: the same bits on every ISA, within 2 ulp of exp, 0 under e^-87, NaN kept")
        func expShifted() {
            defer { lk_force_isa(lk_detect_isa()) }
            var random = TestRandom(seed: 9)
            // Every vector width's body and tail; the special values sit at several lane positions.
            var values = (0..<1003).map { _ in (random.unit() + 1) * 60 - 100 }  // shift 5: exponents in [-105, 15]
            values[3] = 5  // e^0
            values[17] = .nan
            values[40] = -.infinity
            values[41] = 5 - 87  // the smallest kept
            values[42] = 5 - 87.0001
            values[100] = 500  // clamped at e^88
            var results: [[Float]] = []
            for isa in availableInstructionSets {
                lk_force_isa(isa)
                var v = values
                lk_exp_shifted_f32(&v, Int64(v.count), 5)
                results.append(v)
            }
            for result in results.dropFirst() {
                #expect(zip(result, results[0]).allSatisfy { $0.bitPattern == $1.bitPattern })
            }
            for (index, value) in results[0].enumerated() {
                let x = values[index] - 5
                if x.isNaN {
                    #expect(value.isNaN)
                } else if x < -87 {
                    #expect(value == 0, "x \(x)")
                } else {
                    let exact = Foundation.exp(Double(min(x, 88)))
                    #expect(abs(Double(value) - exact) <= 2.5e-7 * exact, "x \(x): \(value) against \(exact)")
                }
            }
            #expect(results[0][3] == 1)
        }

        @Test("bf16 round trips match round-to-nearest-even on every ISA, NaN and subnormals included")
        func bf16Conversions() {
            defer { lk_force_isa(lk_detect_isa()) }
            var random = TestRandom(seed: 9)
            var values: [Float] = [0, -0, 1, -1, .infinity, -.infinity, .nan, Float(bitPattern: 0x0001_2345), Float(bitPattern: 0x8020_0001), .greatestFiniteMagnitude]
            values += [Float(bitPattern: 0x3f80_8000), Float(bitPattern: 0x3f81_8000), Float(bitPattern: 0x7f7f_ffff)]
            values += (0..<200).map { _ in Float(bitPattern: UInt32(truncatingIfNeeded: random.next())) }
            let expected = values.map(bf16Reference)
            for isa in availableInstructionSets {
                lk_force_isa(isa)
                var halves = [UInt16](repeating: 0, count: values.count)
                lk_f32_to_bf16(&halves, values, Int64(values.count))
                #expect(halves == expected, "isa \(isa.rawValue)")
                var back = [Float](repeating: 0, count: values.count)
                lk_bf16_to_f32(&back, halves, Int64(halves.count))
                #expect(zip(back, halves).allSatisfy { $0.bitPattern == UInt32($1) << 16 })
            }
        }

        @Test("f16, bf16 and fp8 element conversions are exact on every ISA")
        func elementConversions() {
            defer { lk_force_isa(lk_detect_isa()) }
            let f16 = (0...UInt16.max).map { $0 }
            let fp8 = (0...UInt8.max).map { $0 }
            for isa in availableInstructionSets {
                lk_force_isa(isa)
                var out = [Float](repeating: 0, count: f16.count)
                lk_to_f32(&out, f16, LK_DTYPE_F16, 0, Int64(f16.count))
                let f16Exact = zip(out, f16).allSatisfy { value, bits in
                    let reference = Float(Float16(bitPattern: bits))
                    return value.bitPattern == reference.bitPattern || (value.isNaN && reference.isNaN)
                }
                #expect(f16Exact, "isa \(isa.rawValue)")
                var out8 = [Float](repeating: 0, count: 256)
                lk_to_f32(&out8, fp8, LK_DTYPE_FP8_E4M3, 0, 256)
                #expect(zip(out8, fp8).allSatisfy { value, bits in
                    let reference = fp8E4M3Reference(bits)
                    return value == reference || (value.isNaN && reference.isNaN)
                })
            }
        }

        @Test("The pool runs every worker once per job, many jobs in a row")
        func poolRunsAllWorkers() {
            let counts = UnsafeMutablePointer<Int>.allocate(capacity: 4)  // [worker], one slot per worker
            counts.initialize(repeating: 0, count: 4)
            defer { counts.deallocate() }
            let pool = lk_pool_create(3, 0)
            defer { lk_pool_destroy(pool) }
            #expect(lk_pool_size(pool) == 3)
            for _ in 0..<2000 {
                lk_pool_run(pool, { context, worker, workerCount in
                    let counts = context!.assumingMemoryBound(to: Int.self)
                    counts[Int(worker)] += workerCount == 3 ? 1 : 1000
                }, counts)
            }
            #expect(Array(UnsafeBufferPointer(start: counts, count: 4)) == [2000, 2000, 2000, 0])
        }
    }
}

/// Round to nearest even with quiet NaN, written independently of the C code.
func bf16Reference(_ value: Float) -> UInt16 {
    let bits = value.bitPattern
    if value.isNaN { return UInt16(bits >> 16) | 0x40 }
    let rounded = UInt64(bits) + 0x7fff + UInt64((bits >> 16) & 1)
    return UInt16(truncatingIfNeeded: rounded >> 16)
}
