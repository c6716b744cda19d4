import Foundation
@testable import Models
import Testing

@Suite("Rotary embedding")
struct RotaryEmbeddingTests {
    func config(ropeScaling: String) throws -> ModelConfig {
        let fixture = try ReferenceFixture.load("release-bf16")
        var object = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: fixture.directory + "/config.json")))
            as? [String: Any] ?? [:]
        object["head_dim"] = 128
        object["num_attention_heads"] = 16
        object["rope_theta"] = 600000.0
        object["rope_scaling"] = try JSONSerialization.jsonObject(with: Data(ropeScaling.utf8), options: [.fragmentsAllowed])
        return try ModelConfig.decode(try JSONSerialization.data(withJSONObject: object))
    }

    @Test("default RoPE: inv_freq = theta^(-2i/rotary_dim) over 64 of 128 channels")
    func defaultFrequencies() throws {
        let rope = RotaryEmbedding(config: try config(ropeScaling: "null"))
        #expect(rope.rotaryDimension == 64 && rope.attentionFactor == 1)
        #expect(rope.inverseFrequency[0] == 1)
        let expected = 1 / pow(600000.0, 2.0 * 10 / 64)
        #expect(abs(Double(rope.inverseFrequency[10]) - expected) <= 1e-6 * expected)
    }

    /// Golden values from transformers' `_compute_yarn_parameters` formula (low = 12, high = 21 for these numbers).
    @Test("YaRN (factor 4, original 32768): ramp between dims 12 and 21, mscale 0.1 ln 4 + 1")
    func yarnFrequencies() throws {
        let rope = RotaryEmbedding(config: try config(ropeScaling: #"{"type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32768}"#))
        let golden: [(Int, Double)] = [(0, 1.0), (5, 0.12507309019565582), (10, 0.015643276274204254), (11, 0.010321920737624168),
                                       (12, 0.006810723803937435), (20, 8.157070260494947e-05), (31, 6.314747338365123e-07)]
        for (i, value) in golden {
            #expect(abs(Double(rope.inverseFrequency[i]) - value) <= 2e-6 * value, "inv_freq[\(i)] = \(rope.inverseFrequency[i])")
        }
        #expect(abs(Double(rope.attentionFactor) - 1.138629436111989) < 1e-6)
    }

    @Test("rotate-half pairs channel i with i + rotary_dim/2 and leaves the tail alone")
    func rotation() throws {
        let rope = RotaryEmbedding(config: try config(ropeScaling: "null"))
        var head = [Float](repeating: 0, count: 128)
        head[0] = 1
        head[100] = 5
        var cosines = [Float](repeating: 0, count: 32)
        var sines = [Float](repeating: 0, count: 32)
        rope.table(position: 3, cosines: &cosines, sines: &sines)
        head.withUnsafeMutableBufferPointer { rope.apply($0.baseAddress!, cosines: cosines, sines: sines) }
        #expect(abs(head[0] - Float(cos(3.0))) < 1e-6 && abs(head[32] - Float(sin(3.0))) < 1e-6 && head[100] == 5)
    }
}
