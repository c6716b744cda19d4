private import CBLAS
private import CKernels
import Glibc

/// Measures this machine's two limits that LingServe's throughput is compared against: streaming memory-read
/// bandwidth (decode reads every active weight once per token) and OpenBLAS sgemm FLOP rate (prefill is GEMM).
/// Each call runs a short benchmark (about a second); call once and keep the result.
public enum MachineLimits {
    /// Bytes per second read by `threadCount` threads streaming a 1 GiB buffer (best of 5 passes).
    public static func memoryReadBandwidth(threadCount: Int) -> Double {
        let byteCount = 1 << 30
        guard let buffer = aligned_alloc(64, byteCount) else { return 0 }
        defer { free(buffer) }
        // Touch every page so the passes measure DRAM reads, not page faults on the zero page.
        memset(buffer, 1, byteCount)
        guard let pool = lk_pool_create(Int32(max(1, threadCount)), 0) else { return 0 }
        defer { lk_pool_destroy(pool) }
        var best = Double.infinity
        var checksum: UInt64 = 0
        for _ in 0..<5 {
            let start = monotonicSeconds()
            checksum ^= lk_read_parallel(pool, buffer, byteCount)
            best = min(best, monotonicSeconds() - start)
        }
        // The checksum feeds the result so the reads cannot be optimised away (it is 0 for this buffer).
        return Double(byteCount) / best + Double(checksum & 0)
    }

    /// FLOP/s of OpenBLAS `cblas_sgemm` on 2048 x 2048 x 2048 f32 matrices with `threadCount` threads
    /// (best of 3 after a warm-up). Restores OpenBLAS's previous thread count.
    public static func sgemmFlops(threadCount: Int) -> Double {
        let size = 2048
        var a = [Float](repeating: 0, count: size * size)  // [size, size]
        var b = [Float](repeating: 0, count: size * size)  // [size, size]
        var c = [Float](repeating: 0, count: size * size)  // [size, size]
        for index in 0..<(size * size) {
            a[index] = Float(index % 17) * 0.01 - 0.08
            b[index] = Float(index % 13) * 0.01 - 0.06
        }
        let previousThreads = openblas_get_num_threads()
        openblas_set_num_threads(Int32(max(1, threadCount)))
        defer { openblas_set_num_threads(previousThreads) }
        let n = Int32(size)
        var best = Double.infinity
        for pass in 0..<4 {
            let start = monotonicSeconds()
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, n, 1, &a, n, &b, n, 0, &c, n)
            let elapsed = monotonicSeconds() - start
            if pass > 0 { best = min(best, elapsed) }
        }
        return 2 * Double(size) * Double(size) * Double(size) / best
    }

    static func monotonicSeconds() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) * 1e-9
    }
}
