import CKernels
import Foundation
import Testing

extension KernelTests {
    /// The sampler's passes agree with plain loops on the active ISA. (They are written to give the same bits on
    /// every ISA, but this suite does not force other ISAs: lk_force_isa is process-wide, and forcing it while the
    /// model suites run in parallel changes their dot-product order under them.)
    @Suite("Sampling kernels", .serialized)
    struct SamplingKernelTests {
        /// Non-negative weights with ties, zeros and the value 1, lengths that exercise every vector tail.
        private func weights(_ n: Int, seed: UInt64) -> [Float] {
            var random = TestRandom(seed: seed)
            return (0..<n).map { i in
                if i % 37 == 5 { return 0 }
                if i % 11 == 3 { return 0.5 }  // ties
                return i == n / 2 ? 1 : abs(random.unit() * random.unit())
            }
        }

        @Test("max, argmax, scaled max: exact, lowest index among ties, NaN ignored")
        func maxima() {
            for n in [1, 7, 8, 15, 16, 17, 100, 1003] {
                var x = weights(n, seed: UInt64(n))
                if n > 4 { x[n - 2] = .nan; x[1] = 9; x[n - 1] = 9 }  // max 9 at index 1 and n - 1
                let finite = x.filter { !$0.isNaN }
                for isa in [lk_active_isa()] {
                    #expect(lk_max_f32(x, Int64(n)) == finite.max()!, "isa \(isa.rawValue) n \(n)")
                    let expectedIndex = x.indices.first { x[$0] == finite.max()! }!
                    #expect(lk_argmax_f32(x, Int64(n)) == Int64(expectedIndex), "isa \(isa.rawValue) n \(n)")
                    var out = [Float](repeating: 0, count: n)
                    let best = lk_scale_max_f32(&out, x, Int64(n), 0.5)
                    #expect(best == finite.max()! * 0.5)
                    #expect(zip(out, x).allSatisfy { $1.isNaN ? $0 == -.infinity : $0 == $1 * 0.5 })
                }
            }
            let none: [Float] = [-.infinity, .nan, -.infinity]
            #expect(lk_argmax_f32(none, 3) == 0)
        }

        @Test("sum and kept chunk sums: repeatable bits, close to a double reference")
        func sums() {
            for n in [1, 15, 16, 17, 63, 64, 65, 200, 1003] {
                let w = weights(n, seed: 40 + UInt64(n))
                let chunks = (n + 63) / 64
                var bySum: [UInt32] = []
                var byChunks: [[UInt32]] = []
                for isa in [lk_active_isa()] {
                    bySum.append(lk_sum_f32(w, Int64(n)).bitPattern)
                    var sums = [Float](repeating: -1, count: chunks)
                    lk_kept_chunk_sums_f32(&sums, w, Int64(n), 0.5, Int64(n / 3))
                    byChunks.append(sums.map(\.bitPattern))
                    // Against the predicate in double.
                    for c in 0..<chunks {
                        var exact = 0.0
                        for i in (c * 64)..<min(c * 64 + 64, n) where w[i] > 0.5 || (w[i] == 0.5 && i <= n / 3) {
                            exact += Double(w[i])
                        }
                        #expect(abs(Double(sums[c]) - exact) <= 1e-5 * max(exact, 1), "isa \(isa.rawValue) n \(n) chunk \(c)")
                    }
                    #expect(abs(Double(lk_sum_f32(w, Int64(n))) - w.reduce(0.0) { $0 + Double($1) }) <= 1e-4 * Double(n))
                }
                #expect(bySum.count == 1 && lk_sum_f32(w, Int64(n)).bitPattern == bySum[0])
            }
        }

        @Test("histogram, bin gather and kept gather agree with plain loops")
        func histogramAndGathers() {
            let n = 5000
            let w = weights(n, seed: 77)
            var counts = [UInt32](repeating: 0, count: 4 * 2048)
            var mass = [Double](repeating: 0, count: 4 * 2048)
            lk_weight_histogram_f32(&counts, &mass, w, Int64(n))
            var expectedCounts = [UInt32](repeating: 0, count: 2048)
            for v in w where v > 0 { expectedCounts[Int(v.bitPattern >> 20)] += 1 }
            #expect(Array(counts[0..<2048]) == expectedCounts)
            let bin = UInt32((0.5 as Float).bitPattern >> 20)
            var ids = [Int32](repeating: 0, count: n)
            let found = lk_gather_bin_f32(&ids, Int64(n), w, Int64(n), bin)
            let expectedIds = w.indices.filter { w[$0] > 0 && w[$0].bitPattern >> 20 == bin }.map { Int32($0) }
            #expect(Array(ids[0..<Int(found)]) == expectedIds)
            var values = [Float](repeating: 0, count: n)
            let kept = lk_gather_kept_f32(&ids, &values, Int64(n), w, Int64(n), 0.5, 100)
            let expectedKept = w.indices.filter { w[$0] > 0.5 || (w[$0] == 0.5 && $0 <= 100) }
            #expect(Array(ids[0..<Int(kept)]) == expectedKept.map { Int32($0) })
        }
    }
}
