import Foundation
import Testing
import Tensors

@Suite("Compute pool pinning and CPU topology")
struct ComputePoolPinningTests {
    @Test("allowed CPUs and one CPU per physical core come from this process's affinity mask")
    func topology() {
        let allowed = CPUTopology.allowedCPUs()
        let cores = CPUTopology.physicalCoreCPUs()
        #expect(!allowed.isEmpty && allowed == allowed.sorted() && Set(allowed).count == allowed.count)
        #expect(!cores.isEmpty && Set(cores).isSubset(of: Set(allowed)))
    }

    @Test("workers pinned to allowed CPUs report pinned; a CPU outside the mask leaves its worker running unpinned")
    func pinning() {
        let allowed = CPUTopology.allowedCPUs()
        let outside = (allowed.max() ?? 0) + 1   // not in the mask (offline or absent)
        let cpus = [allowed[0], outside, allowed[allowed.count - 1], -1]
        // Worker 0 is the creating thread and gets pinned: use a thread of our own, not one of the test runner's.
        final class Result: @unchecked Sendable {
            var counts: [Int] = []
            var pinned: [Bool] = []
        }
        let result = Result()
        let done = DispatchSemaphore(value: 0)
        let thread = Thread {
            let pool = ComputePool(pinnedTo: cpus)
            let seen = UnsafeMutableBufferPointer<Int>.allocate(capacity: pool.threadCount)
            seen.initialize(repeating: 0)
            // Every worker takes part in a job (each pins itself before its first job).
            pool.run { worker, count in seen[worker] = count }
            result.counts = Array(seen)
            result.pinned = (0..<pool.threadCount).map { pool.isPinned(worker: $0) }
            seen.deallocate()
            done.signal()
        }
        thread.start()
        done.wait()
        #expect(result.counts == [4, 4, 4, 4])
        #expect(result.pinned == [true, false, true, false])
    }
}
