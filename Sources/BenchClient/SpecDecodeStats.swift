/// Speculative-decoding counters from a Prometheus `/metrics` page.
///
/// Sample lines whose name starts with `vllm:spec_decode` or `lingserve:spec_decode` and ends in `_total` are
/// summed over their label sets (per `position` for the per-position counter). When a server exposes both
/// prefixes (LingServe's vLLM-alias flag), only the `vllm:` series are used, so nothing is counted twice.
public struct SpecDecodeCounters: Sendable, Equatable {
    public var drafts = 0.0
    public var draftTokens = 0.0
    public var acceptedTokens = 0.0
    public var acceptedPerPosition: [Int: Double] = [:]
    public var isPresent = false

    public init() {}

    public static func parse(prometheusText text: String) -> SpecDecodeCounters {
        var byPrefix: [String: SpecDecodeCounters] = [:]
        for rawLine in text.split(separator: "\n") {
            let line = rawLine.drop(while: { $0 == " " })
            guard !line.hasPrefix("#") else { continue }
            let prefix: String
            if line.hasPrefix("vllm:spec_decode") { prefix = "vllm:" } else if line.hasPrefix("lingserve:spec_decode") {
                prefix = "lingserve:"
            } else { continue }
            let nameEnd = line.firstIndex(where: { $0 == "{" || $0 == " " }) ?? line.endIndex
            let name = line[line.startIndex..<nameEnd].dropFirst(prefix.count)
            guard name.hasSuffix("_total") else { continue }
            // The value is the first field after the labels (an optional timestamp may follow).
            let afterLabels: Substring
            if let close = line.lastIndex(of: "}") { afterLabels = line[line.index(after: close)...] } else {
                afterLabels = line[nameEnd...]
            }
            guard let valueText = afterLabels.split(separator: " ").first, let value = Double(valueText) else { continue }
            var counters = byPrefix[prefix] ?? SpecDecodeCounters()
            counters.isPresent = true
            switch name {
            case "spec_decode_num_drafts_total": counters.drafts += value
            case "spec_decode_num_draft_tokens_total": counters.draftTokens += value
            case "spec_decode_num_accepted_tokens_total": counters.acceptedTokens += value
            case "spec_decode_num_accepted_tokens_per_pos_total":
                if let position = Self.label("position", in: line), let index = Int(position) {
                    counters.acceptedPerPosition[index, default: 0] += value
                }
            default: break
            }
            byPrefix[prefix] = counters
        }
        return byPrefix["vllm:"] ?? byPrefix["lingserve:"] ?? SpecDecodeCounters()
    }

    static func label(_ name: String, in line: Substring) -> String? {
        let key = Array((name + "=\"").utf8)
        let bytes = Array(line.utf8)
        guard bytes.count >= key.count else { return nil }
        for start in 0...(bytes.count - key.count) where bytes[start..<(start + key.count)].elementsEqual(key) {
            let valueStart = start + key.count
            guard let end = bytes[valueStart...].firstIndex(of: UInt8(ascii: "\"")) else { return nil }
            return String(decoding: bytes[valueStart..<end], as: UTF8.self)
        }
        return nil
    }
}

/// Acceptance figures over one run (after − before).
public struct SpecDecodeStats: Sendable, Equatable {
    public var drafts: Int
    public var draftTokens: Int
    public var acceptedTokens: Int
    /// accepted / draft tokens × 100.
    public var acceptanceRate: Double
    /// 1 + accepted / drafts.
    public var acceptanceLength: Double
    /// accepted at position i / drafts, as fractions.
    public var perPositionRates: [Double]

    /// nil when the counters are missing or no drafts happened during the run.
    public init?(before: SpecDecodeCounters, after: SpecDecodeCounters) {
        guard after.isPresent else { return nil }
        let drafts = after.drafts - before.drafts
        let draftTokens = after.draftTokens - before.draftTokens
        let accepted = after.acceptedTokens - before.acceptedTokens
        guard drafts > 0, draftTokens > 0 else { return nil }
        self.drafts = Int(drafts)
        self.draftTokens = Int(draftTokens)
        self.acceptedTokens = Int(accepted)
        acceptanceRate = accepted / draftTokens * 100
        acceptanceLength = 1 + accepted / drafts
        let positionCount = (after.acceptedPerPosition.keys.max() ?? -1) + 1
        perPositionRates = (0..<max(0, positionCount)).map { position in
            ((after.acceptedPerPosition[position] ?? 0) - (before.acceptedPerPosition[position] ?? 0)) / drafts
        }
    }
}
