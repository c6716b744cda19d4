/// One entry of `added_tokens` in tokenizer.json.
public struct AddedToken: Sendable, Equatable {
    public let id: Int
    public let content: String
    public let isSpecial: Bool
    public let singleWord: Bool
    public let lstrip: Bool
    public let rstrip: Bool
    public let normalized: Bool
}

/// Finds added tokens in text the way `AddedVocabulary::find_matches` does: leftmost-longest matches (its
/// Aho-Corasick automaton uses `MatchKind::LeftmostLongest`), then `single_word`, `lstrip` and `rstrip`.
struct AddedTokenMatcher: Sendable {
    private struct Node: Sendable {
        var children: [UInt8: Int32] = [:]
        var tokenIndex: Int32 = -1
    }

    private var nodes: [Node] = [Node()]
    /// `[256]`: whether some token starts with this byte (the scan only walks the trie from those).
    private var startsToken = [Bool](repeating: false, count: 256)
    private var tokens: [AddedToken] = []

    var isEmpty: Bool { tokens.isEmpty }

    /// `patterns[i]` is the (possibly normalised) text to look for when matching `tokens[i]`.
    init(tokens: [AddedToken], patterns: [[UInt8]]) {
        self.tokens = tokens
        for (index, pattern) in patterns.enumerated() where !pattern.isEmpty {
            var node = 0
            for byte in pattern {
                if let child = nodes[node].children[byte] {
                    node = Int(child)
                } else {
                    nodes.append(Node())
                    nodes[node].children[byte] = Int32(nodes.count - 1)
                    node = nodes.count - 1
                }
            }
            // The first added token with a given content wins, as the vocabulary keeps one id per content.
            if nodes[node].tokenIndex < 0 { nodes[node].tokenIndex = Int32(index) }
            startsToken[Int(pattern[0])] = true
        }
    }

    /// Segments of `text`: `(range, addedTokenId)` where the id is nil for plain text. Covers `text` in order.
    func split(_ text: UnsafeBufferPointer<UInt8>) -> [(Range<Int>, Int?)] {
        var result: [(Range<Int>, Int?)] = []
        guard !tokens.isEmpty else {
            if text.count > 0 { result.append((0..<text.count, nil)) }
            return result
        }
        var previousEnd = 0
        var position = 0
        while position < text.count {
            guard startsToken[Int(text[position])], let (tokenIndex, matchEnd) = longestMatch(text, position) else {
                position += 1
                continue
            }
            let token = tokens[tokenIndex]
            var start = position
            var stop = matchEnd
            if token.singleWord {
                let startIsBoundary = start == 0 || !Self.isWordCharacter(lastScalar(text, before: start))
                let stopIsBoundary = stop == text.count || !Self.isWordCharacter(decodeScalar(text, stop).0)
                if !startIsBoundary || !stopIsBoundary {
                    // The Aho-Corasick iteration resumes after a rejected match.
                    position = matchEnd
                    continue
                }
            }
            if token.lstrip {
                var newStart = start
                while newStart > previousEnd {
                    let scalar = lastScalar(text, before: newStart)
                    guard isWhitespaceScalar(scalar) else { break }
                    newStart -= UTF8.width(Unicode.Scalar(scalar) ?? " ")
                }
                start = max(newStart, previousEnd)
            }
            if token.rstrip {
                while stop < text.count {
                    let (scalar, length) = decodeScalar(text, stop)
                    guard isWhitespaceScalar(scalar) else { break }
                    stop += length
                }
            }
            if previousEnd < start { result.append((previousEnd..<start, nil)) }
            result.append((start..<stop, token.id))
            previousEnd = stop
            position = stop
        }
        if previousEnd < text.count { result.append((previousEnd..<text.count, nil)) }
        return result
    }

    private func longestMatch(_ text: UnsafeBufferPointer<UInt8>, _ start: Int) -> (Int, Int)? {
        var node = 0
        var best: (Int, Int)? = nil
        var position = start
        while position < text.count, let child = nodes[node].children[text[position]] {
            node = Int(child)
            position += 1
            if nodes[node].tokenIndex >= 0 { best = (Int(nodes[node].tokenIndex), position) }
        }
        // Only match at character boundaries (a token starting with a continuation byte cannot exist in valid
        // UTF-8 patterns, and the end is a boundary because the pattern is valid UTF-8).
        return best
    }

    private func lastScalar(_ text: UnsafeBufferPointer<UInt8>, before end: Int) -> UInt32 {
        var lead = end - 1
        while lead > 0 && text[lead] & 0xC0 == 0x80 { lead -= 1 }
        return decodeScalar(text, lead).0
    }

    /// Rust's `char::is_alphanumeric() || c == '_'`.
    private static func isWordCharacter(_ scalar: UInt32) -> Bool {
        let charClass = UnicodeClassTable.shared.charClass(scalar)
        return charClass == .letter || charClass == .number || scalar == 0x5F
    }
}
