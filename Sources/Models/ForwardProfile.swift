import Foundation

/// Wall time of each part of the forward pass, summed over passes: what `ling-serve bench --profile` prints. Off
/// unless set on the model (`LingModel.profile`); when off, each mark is one nil check. The parts run one after
/// the other on the calling thread (every pool call waits for its workers), so the laps add up to the pass.
public final class ForwardProfile {
    public enum Part: Int, CaseIterable, Sendable {
        case embedding, norms, queryKeyValue, ropeAndCacheWrite, attention, attentionOutput, denseMLP, router,
             experts, combine, lmHead

        public var name: String {
            switch self {
            case .embedding: "embedding rows"
            case .norms: "RMSNorms (input, post-attention, final)"
            case .queryKeyValue: "QKV projection"
            case .ropeAndCacheWrite: "QK-norm, RoPE, KV write"
            case .attention: "attention over the paged cache"
            case .attentionOutput: "attention output projection + residual"
            case .denseMLP: "dense MLP"
            case .router: "router linear + top-k routing"
            case .experts: "routed + shared experts"
            case .combine: "expert combine + residual"
            case .lmHead: "lm_head"
            }
        }
    }

    public private(set) var seconds = [Double](repeating: 0, count: Part.allCases.count)
    public private(set) var passCount = 0
    private var mark: UInt64 = 0

    public init() {}

    public func reset() {
        seconds = [Double](repeating: 0, count: Part.allCases.count)
        passCount = 0
    }

    func beginPass() {
        passCount += 1
        mark = DispatchTime.now().uptimeNanoseconds
    }

    /// The time since the last mark goes to `part`.
    func lap(_ part: Part) {
        let now = DispatchTime.now().uptimeNanoseconds
        seconds[part.rawValue] += Double(now &- mark) / 1e9
        mark = now
    }
}
