#if canImport(Glibc)
import Glibc
#endif

/// Seconds on CLOCK_MONOTONIC: immune to wall-clock steps, comparable across threads of one process.
public enum MonotonicClock {
    @inline(__always)
    public static func now() -> Double {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return Double(spec.tv_sec) + Double(spec.tv_nsec) * 1e-9
    }
}
