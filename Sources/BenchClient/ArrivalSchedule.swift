#if canImport(Glibc)
import Glibc
#endif

/// Seeded pseudo-random numbers: xoshiro256** seeded through SplitMix64 (same sequence on every platform).
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var state: (UInt64, UInt64, UInt64, UInt64)

    public init(seed: UInt64) {
        var x = seed
        func splitMix() -> UInt64 {
            x &+= 0x9E37_79B9_7F4A_7C15
            var z = x
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        state = (splitMix(), splitMix(), splitMix(), splitMix())
    }

    public mutating func next() -> UInt64 {
        let result = rotl(state.1 &* 5, 7) &* 9
        let t = state.1 << 17
        state.2 ^= state.0
        state.3 ^= state.1
        state.1 ^= state.2
        state.0 ^= state.3
        state.2 ^= t
        state.3 = rotl(state.3, 45)
        return result
    }

    private func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

    /// Uniform in (0, 1): never exactly 0, so logarithms stay finite.
    public mutating func nextUnit() -> Double { (Double(next() >> 11) + 0.5) / 9_007_199_254_740_992.0 }

    public mutating func nextNormal() -> Double {
        let u1 = nextUnit()
        let u2 = nextUnit()
        return (-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2)
    }

    /// Gamma(shape, scale = 1) by Marsaglia–Tsang; shape < 1 through the `U^(1/shape)` boost.
    public mutating func nextGamma(shape: Double) -> Double {
        precondition(shape > 0, "gamma shape must be positive")
        if shape < 1 { return nextGamma(shape: shape + 1) * pow(nextUnit(), 1 / shape) }
        let d = shape - 1.0 / 3.0
        let c = 1.0 / (9 * d).squareRoot()
        while true {
            var x = 0.0
            var v = 0.0
            repeat {
                x = nextNormal()
                v = 1 + c * x
            } while v <= 0
            v = v * v * v
            let u = nextUnit()
            if u < 1 - 0.0331 * x * x * x * x { return d * v }
            if log(u) < 0.5 * x * x + d * (1 - v + log(v)) { return d * v }
        }
    }
}

/// When each request is sent, as offsets in seconds from the start of the run (vLLM's `get_request`).
public enum ArrivalSchedule {
    /// Inter-arrival gaps are gamma(shape = burstiness, scale = 1 / (rate × burstiness)), mean 1/rate;
    /// burstiness 1 is a Poisson process, `inf` a constant gap. The cumulative delays are then rescaled so that
    /// the last request goes out at `count / rate`, as vLLM does. Rate `inf` sends everything at 0.
    public static func offsets(
        count: Int, requestRate: Double, burstiness: Double, generator: inout SeededGenerator
    ) -> [Double] {
        guard count > 0 else { return [] }
        guard requestRate.isFinite, requestRate > 0 else { return Array(repeating: 0, count: count) }
        var delays: [Double] = []  // [count]
        delays.reserveCapacity(count)
        var total = 0.0
        for _ in 0..<count {
            let gap: Double
            if burstiness.isInfinite {
                gap = 1 / requestRate
            } else {
                gap = generator.nextGamma(shape: burstiness) / (requestRate * burstiness)
            }
            total += gap
            delays.append(total)
        }
        if total > 0 {
            let factor = (Double(count) / requestRate) / total
            for i in delays.indices { delays[i] *= factor }
        }
        return delays
    }
}
