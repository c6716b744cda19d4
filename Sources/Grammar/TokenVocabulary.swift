import TokenConstraints

/// The vocabulary as bytes, prepared once per tokenizer for every constrained request: a trie over the ordinary
/// tokens' byte strings (special tokens never appear inside constrained text) and the split used inside JSON
/// strings, where almost every token is allowed and walking the whole trie per state would be slow.
public final class TokenVocabulary: Sendable {
    public let vocabularySize: Int
    /// Exact bytes per id; empty for special tokens and unused ids. // [vocabularySize]
    let bytes: [[UInt8]]
    /// Trie: node n's children are edges firstChild[n] ..< firstChild[n] + childCount[n]; node 0 is the root.
    let firstChild: [Int32]
    let childCount: [Int32]
    let edgeByte: [UInt8]
    let edgeTarget: [Int32]
    /// Token ids ending at node n: tokenIds[tokenStart[n] ..< tokenStart[n + 1]].
    let tokenStart: [Int32]
    let tokenIds: [Int32]
    /// Tokens that are plain string content (no `"`, `\`, control bytes; whole UTF-8 characters): allowed, and
    /// state-preserving, inside any JSON string.
    let plainStringTokens: TokenMask
    /// The other ordinary tokens, checked one by one inside strings.
    let otherTokens: [Int32]

    /// - Parameters:
    ///   - tokenBytes: the exact bytes of every id (index = id).
    ///   - specialIds: added / special tokens (EOS, `<tool_call>`, role markers): never part of constrained text.
    public init(tokenBytes: [[UInt8]], specialIds: Set<Int>) {
        vocabularySize = tokenBytes.count
        var bytes = tokenBytes
        for id in specialIds where id >= 0 && id < bytes.count { bytes[id] = [] }
        self.bytes = bytes

        // Build with per-node child dictionaries, then flatten breadth-first so each node's edges are contiguous.
        var children: [[UInt8: Int]] = [[:]]
        var ending: [[Int32]] = [[]]
        for (id, token) in bytes.enumerated() where !token.isEmpty {
            var node = 0
            for byte in token {
                if let next = children[node][byte] {
                    node = next
                } else {
                    children.append([:])
                    ending.append([])
                    children[node][byte] = children.count - 1
                    node = children.count - 1
                }
            }
            ending[node].append(Int32(id))
        }
        var order = [0]
        var position = [Int](repeating: 0, count: children.count)
        var cursor = 0
        while cursor < order.count {
            for (_, child) in children[order[cursor]].sorted(by: { $0.key < $1.key }) {
                position[child] = order.count
                order.append(child)
            }
            cursor += 1
        }
        var firstChild = [Int32](repeating: 0, count: order.count)
        var childCount = [Int32](repeating: 0, count: order.count)
        var edgeByte: [UInt8] = []
        var edgeTarget: [Int32] = []
        var tokenStart: [Int32] = [0]
        var tokenIds: [Int32] = []
        for (flat, original) in order.enumerated() {
            firstChild[flat] = Int32(edgeByte.count)
            let sorted = children[original].sorted { $0.key < $1.key }
            childCount[flat] = Int32(sorted.count)
            for (byte, child) in sorted {
                edgeByte.append(byte)
                edgeTarget.append(Int32(position[child]))
            }
            tokenIds.append(contentsOf: ending[original])
            tokenStart.append(Int32(tokenIds.count))
        }
        self.firstChild = firstChild
        self.childCount = childCount
        self.edgeByte = edgeByte
        self.edgeTarget = edgeTarget
        self.tokenStart = tokenStart
        self.tokenIds = tokenIds

        var plain = TokenMask(vocabularySize: bytes.count)
        var others: [Int32] = []
        for (id, token) in bytes.enumerated() where !token.isEmpty {
            if Self.isPlainStringContent(token) { plain.insert(id) } else { others.append(Int32(id)) }
        }
        plainStringTokens = plain
        otherTokens = others
    }

    static func isPlainStringContent(_ token: [UInt8]) -> Bool {
        var pending = 0
        for byte in token {
            if pending > 0 {
                guard byte & 0xC0 == 0x80 else { return false }
                pending -= 1
                continue
            }
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), 0..<0x20: return false
            case 0x20..<0x80: break
            case 0xC2...0xDF: pending = 1
            case 0xE0...0xEF: pending = 2
            case 0xF0...0xF4: pending = 3
            default: return false
            }
        }
        return pending == 0
    }
}
