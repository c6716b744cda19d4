/// Constrained decoding as the engine sees it: a per-sequence state machine over token ids that says which tokens
/// may come next. The engine knows nothing of grammars or text; implementations (module `Grammar`) map ids to
/// bytes themselves. One instance belongs to one sequence and is only touched on the engine thread.
public protocol DecodingConstraint: Sendable {
    /// Tokens allowed next, EOS not included (see `mayEnd`). Called once per sampling step of the sequence.
    mutating func allowedTokens() -> TokenMask
    /// Whether the sequence may end here: EOS / stop ids are allowed in addition to `allowedTokens()`.
    var mayEnd: Bool { get }
    /// Nothing but the end may follow: the engine forces an EOS / stop id.
    var isComplete: Bool { get }
    /// Moves past a sampled token. Returns false when the token was not allowed (the state is then unchanged).
    mutating func advance(_ tokenId: Int) -> Bool
}

/// A set of token ids as a bitset: bit `id % 64` of word `id / 64`. // [ceil(vocabularySize / 64)]
public struct TokenMask: Sendable, Equatable {
    public private(set) var words: [UInt64]
    public let vocabularySize: Int

    public init(vocabularySize: Int) {
        self.vocabularySize = vocabularySize
        words = [UInt64](repeating: 0, count: (vocabularySize + 63) / 64)
    }

    public func contains(_ id: Int) -> Bool {
        id >= 0 && id < vocabularySize && words[id >> 6] & (1 << UInt64(id & 63)) != 0
    }

    public mutating func insert(_ id: Int) {
        guard id >= 0 && id < vocabularySize else { return }
        words[id >> 6] |= 1 << UInt64(id & 63)
    }

    public mutating func formUnion(_ other: TokenMask) {
        for index in 0..<min(words.count, other.words.count) { words[index] |= other.words[index] }
    }

    public var isEmpty: Bool { words.allSatisfy { $0 == 0 } }

    /// The smallest id in the set, nil when empty.
    public var first: Int? {
        for (index, word) in words.enumerated() where word != 0 { return index * 64 + word.trailingZeroBitCount }
        return nil
    }
}

extension DecodingConstraint {
    /// Sets every logit the constraint forbids to -inf (EOS / `stopIds` only when the sequence may end) and
    /// returns the allowed set, so the caller can check the sampled token. When nothing would be allowed (a dead
    /// end the grammar should never reach) the stop ids are allowed, so the sequence ends instead of emitting
    /// tokens outside the grammar.
    public mutating func mask(_ logits: UnsafeMutableBufferPointer<Float>, stopIds: Set<Int>) -> TokenMask {
        var allowed = TokenMask(vocabularySize: logits.count)
        if !isComplete { allowed.formUnion(allowedTokens()) }
        if isComplete || mayEnd || allowed.isEmpty {
            for id in stopIds { allowed.insert(id) }
        }
        for (wordIndex, word) in allowed.words.enumerated() where word != ~0 {
            let base = wordIndex * 64
            var forbidden = ~word
            while forbidden != 0 {
                let id = base + forbidden.trailingZeroBitCount
                forbidden &= forbidden - 1
                if id < logits.count { logits[id] = -.infinity }
            }
        }
        return allowed
    }
}
