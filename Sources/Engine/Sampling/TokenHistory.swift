/// The tokens a sequence has seen, in the form the penalties need: which ids occur in the prompt and how often each
/// id was generated. Updated incrementally, one token at a time.
public struct TokenHistory: Sendable {
    /// Distinct prompt ids (repetition penalty).
    public private(set) var promptIds: Set<Int>
    /// Generated-token counts (presence and frequency penalties; repetition penalty too).
    public private(set) var generatedCounts: [Int: Int] = [:]

    public init(promptTokenIds: some Sequence<Int> = [Int]()) {
        promptIds = Set(promptTokenIds)
    }

    public mutating func appendGenerated(_ id: Int) {
        generatedCounts[id, default: 0] += 1
    }

    /// Removes one generated occurrence of `id` (speculative tokens rolled back).
    public mutating func removeGenerated(_ id: Int) {
        guard let count = generatedCounts[id] else { return }
        generatedCounts[id] = count <= 1 ? nil : count - 1
    }

    /// Calls `body` once for every distinct id of prompt + generated tokens.
    func forEachSeenId(_ body: (Int) -> Void) {
        for id in promptIds { body(id) }
        for id in generatedCounts.keys where !promptIds.contains(id) { body(id) }
    }
}
