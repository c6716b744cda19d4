import Foundation

/// Partial NeoX RoPE: the first `rotaryDimension` channels of each head rotate, channel i paired with
/// i + rotaryDimension/2 at frequency inverseFrequency[i]; the rest pass through. YaRN when `rope_scaling` asks.
/// Matches transformers' ROPE_INIT_FUNCTIONS "default" and "yarn" (inv_freq in f32, cos/sin times attention factor).
struct RotaryEmbedding: Sendable {
    let rotaryDimension: Int
    let inverseFrequency: [Float]   // [rotaryDimension / 2]
    let attentionFactor: Float      // multiplies cos and sin (1 without YaRN)

    init(config: ModelConfig) {
        let dimension = config.rotaryDimension
        rotaryDimension = dimension
        let base = Float(config.ropeTheta)
        let half = dimension / 2
        // torch: 1.0 / (base ** (arange(0, dim, 2).float() / dim)), all in f32.
        let extrapolation: [Float] = (0..<half).map { i in 1 / powf(base, Float(2 * i) / Float(dimension)) }
        guard let scaling = config.ropeScaling, scaling.kind == "yarn", let factor = scaling.factor else {
            inverseFrequency = extrapolation
            attentionFactor = 1
            return
        }
        let original = Double(scaling.originalMaxPositionEmbeddings ?? config.maxPositionEmbeddings)
        let betaFast = scaling.betaFast ?? 32
        let betaSlow = scaling.betaSlow ?? 1
        func correctionDimension(_ rotations: Double) -> Double {
            Double(dimension) * log(original / (rotations * 2 * Double.pi)) / (2 * log(config.ropeTheta))
        }
        let low = max(floor(correctionDimension(betaFast)), 0)
        var high = min(ceil(correctionDimension(betaSlow)), Double(dimension - 1))
        if low == high { high += 0.001 }
        inverseFrequency = (0..<half).map { i in
            let ramp = Float(min(max((Double(i) - low) / (high - low), 0), 1))
            let extrapolationFactor = 1 - ramp
            let interpolation = extrapolation[i] / Float(factor)
            return interpolation * (1 - extrapolationFactor) + extrapolation[i] * extrapolationFactor
        }
        attentionFactor = Float(scaling.attentionFactor ?? (factor <= 1 ? 1 : 0.1 * log(factor) + 1))
    }

    /// cos/sin of every frequency at `position`: cosines[rotaryDimension/2], sines[rotaryDimension/2].
    @inline(__always)
    func table(position: Int, cosines: UnsafeMutablePointer<Float>, sines: UnsafeMutablePointer<Float>) {
        let p = Float(position)
        for i in 0..<(rotaryDimension / 2) {
            let angle = p * inverseFrequency[i]   // f32 product, as torch computes freqs
            cosines[i] = Float(cos(Double(angle))) * attentionFactor
            sines[i] = Float(sin(Double(angle))) * attentionFactor
        }
    }

    /// Rotates the first rotaryDimension channels of one head in place (rotate_half: [-x2, x1]).
    @inline(__always)
    func apply(_ head: UnsafeMutablePointer<Float>, cosines: UnsafePointer<Float>, sines: UnsafePointer<Float>) {
        let half = rotaryDimension / 2
        for i in 0..<half {
            let x1 = head[i]
            let x2 = head[i + half]
            head[i] = x1 * cosines[i] - x2 * sines[i]
            head[i + half] = x2 * cosines[i] + x1 * sines[i]
        }
    }
}
