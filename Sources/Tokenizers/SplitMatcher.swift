/// What a `Split`-like pre-tokenizer looks for, and how its matches become pieces (`SplitDelimiterBehavior`).
enum SplitBehavior: String, Sendable {
    case removed = "Removed"
    case isolated = "Isolated"
    case mergedWithPrevious = "MergedWithPrevious"
    case mergedWithNext = "MergedWithNext"
    case contiguous = "Contiguous"
}

/// A compiled general regex (Swift `Regex`, Unicode-scalar semantics) for patterns the hand scanner does not know.
///
/// NOTE: `Regex` compiles lazily and caches its program with an atomic store, so sharing one across threads is safe;
/// the box only exists because `Regex<AnyRegexOutput>` is not declared `Sendable`.
final class GeneralRegex: @unchecked Sendable {
    let pattern: String
    private let regex: Regex<AnyRegexOutput>

    init(pattern: String, context: String) throws {
        self.pattern = pattern
        do {
            regex = try Regex(pattern).matchingSemantics(.unicodeScalar)
        } catch {
            throw TokenizerError("\(context): regex \(pattern.debugDescription) is not supported: \(error)")
        }
    }

    /// Non-empty matches as UTF-8 byte ranges of `text`.
    func matches(in text: UnsafeBufferPointer<UInt8>) -> [Range<Int>] {
        let string = String(decoding: text, as: UTF8.self)
        var result: [Range<Int>] = []
        var offset = 0
        var index = string.startIndex
        for match in string.matches(of: regex) {
            let range = match.range
            offset += string.utf8.distance(from: index, to: range.lowerBound)
            let length = string.utf8.distance(from: range.lowerBound, to: range.upperBound)
            if length > 0 { result.append(offset..<(offset + length)) }
            offset += length
            index = range.upperBound
        }
        return result
    }
}

enum SplitMatcher: Sendable {
    case scanner(GPTPatternScanner)
    case regex(GeneralRegex)
    case literal([UInt8])
    /// Each whitespace character is a match (`char::is_whitespace`).
    case whitespaceCharacter
    /// Each numeric character (`char::is_numeric`: general category N).
    case numericCharacter
    /// Each punctuation character.
    case punctuationCharacter
    /// `\w+|[^\w\s]+` (the `Whitespace` pre-tokenizer's pattern).
    case wordOrSymbolRuns

    /// Calls `body(range, isMatch)` for consecutive segments covering `text`, as `tokenizers`' `find_matches`.
    @inline(__always)
    func forEachSegment(_ text: UnsafeBufferPointer<UInt8>, _ body: (Range<Int>, Bool) -> Void) {
        let count = text.count
        guard count > 0 else { return }
        switch self {
        case .scanner(let scanner):
            var position = 0
            while position < count {
                let end = scanner.matchEnd(text, from: position)
                body(position..<end, true)
                position = end
            }
        case .regex(let regex):
            var previous = 0
            for range in regex.matches(in: text) {
                if previous < range.lowerBound { body(previous..<range.lowerBound, false) }
                body(range, true)
                previous = range.upperBound
            }
            if previous < count { body(previous..<count, false) }
        case .literal(let needle):
            guard !needle.isEmpty else {
                body(0..<count, false)
                return
            }
            var previous = 0
            var position = 0
            while position + needle.count <= count {
                var equal = true
                for k in 0..<needle.count where text[position + k] != needle[k] {
                    equal = false
                    break
                }
                if equal {
                    if previous < position { body(previous..<position, false) }
                    body(position..<(position + needle.count), true)
                    position += needle.count
                    previous = position
                } else {
                    position += 1
                }
            }
            if previous < count { body(previous..<count, false) }
        case .whitespaceCharacter, .numericCharacter, .punctuationCharacter:
            let table = UnicodeClassTable.shared
            var previous = 0
            var position = 0
            while position < count {
                let (scalar, length) = decodeScalar(text, position)
                let matches: Bool
                switch self {
                case .whitespaceCharacter: matches = table.charClass(scalar) == .whitespace
                case .numericCharacter: matches = table.charClass(scalar) == .number
                default: matches = table.isPunctuation(scalar)
                }
                if matches {
                    if previous < position { body(previous..<position, false) }
                    body(position..<(position + length), true)
                    previous = position + length
                }
                position += length
            }
            if previous < count { body(previous..<count, false) }
        case .wordOrSymbolRuns:
            let table = UnicodeClassTable.shared
            var previous = 0
            var position = 0
            while position < count {
                let (scalar, length) = decodeScalar(text, position)
                let isWord = table.isWordCharacter(scalar)
                if !isWord && table.charClass(scalar) == .whitespace {
                    position += length
                    continue
                }
                let start = position
                position += length
                while position < count {
                    let (next, nextLength) = decodeScalar(text, position)
                    let nextIsWord = table.isWordCharacter(next)
                    if nextIsWord != isWord || (!nextIsWord && table.charClass(next) == .whitespace) { break }
                    position += nextLength
                }
                if previous < start { body(previous..<start, false) }
                body(start..<position, true)
                previous = position
            }
            if previous < count { body(previous..<count, false) }
        }
    }
}

/// Turns the segment stream of one piece into output pieces according to a `SplitBehavior` (the folds in
/// `NormalizedString::split`), dropping empty pieces.
struct SegmentMerger {
    let behavior: SplitBehavior
    let invert: Bool
    private var pending: Range<Int>? = nil
    private var pendingIsMatch = false

    init(behavior: SplitBehavior, invert: Bool) {
        self.behavior = behavior
        self.invert = invert
    }

    @inline(__always)
    mutating func add(_ range: Range<Int>, _ rawIsMatch: Bool, _ emit: (Range<Int>) -> Void) {
        let isMatch = rawIsMatch != invert
        switch behavior {
        case .isolated:
            emit(range)
        case .removed:
            if !isMatch { emit(range) }
        case .mergedWithPrevious:
            if isMatch && !pendingIsMatch, let current = pending {
                pending = current.lowerBound..<range.upperBound
            } else {
                if let current = pending { emit(current) }
                pending = range
            }
            pendingIsMatch = isMatch
        case .mergedWithNext:
            // A match joins the piece after it when that piece is not a match.
            if let current = pending, pendingIsMatch, !isMatch {
                pending = current.lowerBound..<range.upperBound
            } else {
                if let current = pending { emit(current) }
                pending = range
            }
            pendingIsMatch = isMatch
        case .contiguous:
            if let current = pending, isMatch == pendingIsMatch {
                pending = current.lowerBound..<range.upperBound
            } else {
                if let current = pending { emit(current) }
                pending = range
            }
            pendingIsMatch = isMatch
        }
    }

    mutating func finish(_ emit: (Range<Int>) -> Void) {
        if let current = pending { emit(current) }
        pending = nil
    }
}
