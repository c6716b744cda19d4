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

        @Test("histogram, bin gather and kept gather agree with plain loops, at every length and capacity")
        func histogramAndGathers() {
            let scratch = Int(LK_HISTOGRAM_COPIES) * Int(LK_HISTOGRAM_STRIDE)
            for n in [1, 15, 16, 17, 255, 5000, 20_011] {
                var w = weights(n, seed: 77 &+ UInt64(n))
                if n > 1000 { for i in stride(from: 0, to: n, by: 3) { w[i] = 0.75 } }  // long runs in one bin
                var counts = [UInt32](repeating: 0, count: scratch)
                var mass = [Double](repeating: 0, count: scratch)
                lk_weight_histogram_f32(&counts, &mass, w, Int64(n))
                var expectedCounts = [UInt32](repeating: 0, count: 2048)
                var expectedMass = [Double](repeating: 0, count: 2048)
                for v in w where v > 0 {
                    expectedCounts[Int(v.bitPattern >> 20)] += 1
                    expectedMass[Int(v.bitPattern >> 20)] += Double(v)
                }
                #expect(Array(counts[0..<2048]) == expectedCounts, "n \(n)")
                #expect((0..<2048).allSatisfy { abs(mass[$0] - expectedMass[$0]) <= 1e-9 * max(1, expectedMass[$0]) })
                for bin in [UInt32((0.5 as Float).bitPattern >> 20), UInt32((0.75 as Float).bitPattern >> 20)] {
                    let expectedIds = w.indices.filter { w[$0] > 0 && w[$0].bitPattern >> 20 == bin }.map { Int32($0) }
                    // Room for all, then capacities that cut the list inside a SIMD block and at its edges.
                    for capacity in Set([n, expectedIds.count, max(expectedIds.count - 1, 0), 17, 16, 3, 0]) {
                        var ids = [Int32](repeating: -1, count: max(capacity, 1) + 16)
                        let found = Int(lk_gather_bin_f32(&ids, Int64(capacity), w, Int64(n), bin))
                        #expect(Array(ids[0..<found]) == Array(expectedIds.prefix(capacity)), "n \(n) cap \(capacity)")
                        #expect(ids[max(capacity, 1)...].allSatisfy { $0 == -1 }, "wrote past capacity")
                    }
                }
                for (tau, tieLast) in [(Float(0.5), 100), (0.75, -1), (0.75, n), (0, -1)] {
                    let expectedKept = w.indices.filter { w[$0] > tau || (w[$0] == tau && $0 <= tieLast) }
                    for capacity in Set([n, expectedKept.count, max(expectedKept.count - 1, 0), 17, 5]) {
                        var ids = [Int32](repeating: -1, count: max(capacity, 1) + 16)
                        var values = [Float](repeating: -1, count: max(capacity, 1) + 16)
                        let kept = Int(lk_gather_kept_f32(&ids, &values, Int64(capacity), w, Int64(n), tau, Int64(tieLast)))
                        let want = Array(expectedKept.prefix(capacity))
                        #expect(Array(ids[0..<kept]) == want.map { Int32($0) }, "n \(n) tau \(tau) cap \(capacity)")
                        #expect(Array(values[0..<kept]) == want.map { w[$0] })
                        #expect(ids[max(capacity, 1)...].allSatisfy { $0 == -1 }, "wrote past capacity")
                    }
                }
            }
        }
    }
}
