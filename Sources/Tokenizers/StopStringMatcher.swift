/// Finds stop strings in streamed text, across token boundaries.
///
/// Text goes in by `feed(_:)`; what comes out is the text that can no longer be part of a stop string. Only the
/// longest tail that is a prefix of some stop string is held back. Matching is on UTF-8 bytes (a stop string and
/// the text are both valid UTF-8, so matches and held tails always start on character boundaries).
/// When several stop strings occur, the one starting earliest wins (then the longest), like vLLM's check.
public struct StopStringMatcher: Sendable {
    public struct Output: Sendable, Equatable {
        /// Text safe to send to the client.
        public var text: String
        /// The index in `stopStrings` of the stop string that matched, or nil.
        public var stopIndex: Int?
    }

    public let stopStrings: [String]
    /// When true, the matched stop string is released as part of the text (OpenAI's default is false).
    public let includeStopString: Bool
    private let patterns: [[UInt8]]
    private var held: [UInt8] = []
    public private(set) var isStopped = false

    public init(stopStrings: [String], includeStopString: Bool = false) {
        self.stopStrings = stopStrings
        self.includeStopString = includeStopString
        patterns = stopStrings.map { Array($0.utf8) }
    }

    /// The stop string that matched, nil before a match.
    public var matchedStop: String? { matchedIndex.map { stopStrings[$0] } }
    private var matchedIndex: Int?

    /// Adds a text delta. After a stop matched, further input is ignored and returns empty output.
    public mutating func feed(_ delta: String) -> Output {
        let released = feed(bytes: Array(delta.utf8))
        return Output(text: String(decoding: released.bytes, as: UTF8.self), stopIndex: released.stopIndex)
    }

    /// `feed(_:)` over UTF-8 bytes (a detokenizer's pieces). The released bytes end on a character boundary when
    /// the input does.
    public mutating func feed(bytes delta: [UInt8]) -> (bytes: [UInt8], stopIndex: Int?) {
        guard !isStopped else { return ([], nil) }
        let oldCount = held.count
        held.append(contentsOf: delta)
        // A match must end inside the new bytes; it can start up to (longest pattern - 1) bytes earlier.
        var bestStart = Int.max
        var bestIndex: Int? = nil
        for (index, pattern) in patterns.enumerated() where !pattern.isEmpty && pattern.count <= held.count {
            let firstStart = max(0, oldCount - pattern.count + 1)
            var start = firstStart
            while start + pattern.count <= held.count && start <= bestStart {
                if held[start] == pattern[0] && held[start..<(start + pattern.count)].elementsEqual(pattern) {
                    if start < bestStart || (start == bestStart && pattern.count > patterns[bestIndex ?? index].count) {
                        bestStart = start
                        bestIndex = index
                    }
                    break
                }
                start += 1
            }
        }
        if let bestIndex {
            isStopped = true
            matchedIndex = bestIndex
            let end = includeStopString ? bestStart + patterns[bestIndex].count : bestStart
            let released = Array(held[0..<end])
            held.removeAll()
            return (released, bestIndex)
        }
        let keep = heldTailLength()
        let released = Array(held[0..<(held.count - keep)])
        held.removeFirst(held.count - keep)
        return (released, nil)
    }

    /// Releases the held tail at the end of generation (no stop string can complete any more).
    public mutating func finish() -> String { String(decoding: finishBytes(), as: UTF8.self) }

    /// `finish()` as UTF-8 bytes.
    public mutating func finishBytes() -> [UInt8] {
        defer { held.removeAll() }
        return held
    }

    /// Length of the longest suffix of `held` that is a proper prefix of some stop string.
    private func heldTailLength() -> Int {
        var best = 0
        for pattern in patterns where pattern.count > 1 {
            var length = min(pattern.count - 1, held.count)
            while length > best {
                if held[(held.count - length)...].elementsEqual(pattern[0..<length]) {
                    best = length
                    break
                }
                length -= 1
            }
        }
        return best
    }
}
