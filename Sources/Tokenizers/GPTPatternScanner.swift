/// A hand-written matcher for the GPT-style pre-tokenizer regexes, recognised by their exact pattern text.
///
/// These patterns are alternations of the same few pieces (contractions, letter runs with an optional prefix
/// character, digit groups, punctuation runs, newline runs, whitespace runs with a `(?!\S)` lookahead). Their
/// alternatives together match every character, so the matches tile the input. `matchEnd(_:from:)` returns where
/// the leftmost-first match starting at `from` ends, following Oniguruma's backtracking semantics:
///
/// * `[^\r\n\p{L}\p{N}]?+\p{L}+` and the greedy `?` give the same matches (the prefix class excludes letters, so
///   backtracking over it can never let `\p{L}+` succeed).
/// * `[^\s\p{L}\p{N}]++[\r\n]*` equals the greedy form for the same reason.
/// * `\s*[\r\n]` and `\s*[\r\n]+` both end right after the last CR/LF of the whitespace run.
/// * `\s+(?!\S)` takes the whole run at the end of the input, otherwise all but its last character (failing for a
///   single character, where `\s+` then takes it).
/// * `(?i:...)` contractions also accept U+017F (long s), which Unicode case folding maps to `s`.
struct GPTPatternScanner: Sendable, Equatable {
    enum Contractions: Sendable { case none, caseSensitive, caseInsensitive }
    enum LetterPrefix: Sendable { case optionalSpace, anyButNewlineLetterNumber }

    var contractions: Contractions
    var letterPrefix: LetterPrefix
    /// Longest digit group (`\p{N}` = 1, `\p{N}{1,3}` = 3, `\p{N}+` = `Int.max`).
    var digitLimit: Int
    /// GPT-2's ` ?\p{N}+`: a digit run may take one leading space.
    var digitsTakeSpace: Bool
    /// `[\r\n]*` after a punctuation run.
    var punctuationTakesNewlines: Bool
    /// The `\s*[\r\n]` alternative.
    var newlineRuns: Bool

    /// GPT-2 (also the ByteLevel pre-tokenizer with `use_regex: true`).
    static let gpt2 = GPTPatternScanner(
        contractions: .caseSensitive, letterPrefix: .optionalSpace, digitLimit: .max, digitsTakeSpace: true,
        punctuationTakesNewlines: false, newlineRuns: false)
    /// cl100k / Llama-3 (digit groups of 1-3).
    static let cl100k = GPTPatternScanner(
        contractions: .caseInsensitive, letterPrefix: .anyButNewlineLetterNumber, digitLimit: 3,
        digitsTakeSpace: false, punctuationTakesNewlines: true, newlineRuns: true)
    /// Ling 2.0 / Qwen2 (single digits).
    static let singleDigit = GPTPatternScanner(
        contractions: .caseInsensitive, letterPrefix: .anyButNewlineLetterNumber, digitLimit: 1,
        digitsTakeSpace: false, punctuationTakesNewlines: true, newlineRuns: true)

    static let gpt2Pattern = #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"#
    /// Ling 2.0's pattern (docs/ling2-arch.md §5).
    static let lingPattern =
        #"'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]++[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+"#

    /// Exact pattern texts this scanner implements. Anything else goes to the general regex engine.
    static let known: [String: GPTPatternScanner] = [
        gpt2Pattern: gpt2,
        lingPattern: singleDigit,
        // Llama-3 / cl100k as `tokenizers` files spell it.
        #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#:
            cl100k,
        // tiktoken's cl100k spelling.
        #"'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]++[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+"#:
            cl100k,
        #"'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#:
            cl100k,
        // Qwen2 (single digits, greedy spelling).
        #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#:
            singleDigit,
        #"'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#:
            singleDigit,
    ]

    /// End (exclusive) of the match that starts at `start`; `text` is valid UTF-8 and `start < text.count`.
    @inline(__always)
    func matchEnd(_ text: UnsafeBufferPointer<UInt8>, from start: Int) -> Int {
        let count = text.count
        let table = UnicodeClassTable.shared
        let (first, firstLength) = decodeScalar(text, start)
        if first == 0x27 && contractions != .none && start + 1 < count {
            if let end = contractionEnd(text, start + 1) { return end }
        }
        let firstClass = table.charClass(first)
        if firstClass == .letter { return letterRunEnd(text, start + firstLength) }
        let next = start + firstLength
        let takesPrefix: Bool
        switch letterPrefix {
        case .optionalSpace: takesPrefix = first == 0x20
        case .anyButNewlineLetterNumber: takesPrefix = firstClass != .number && first != 0x0A && first != 0x0D
        }
        var nextClass = CharClass.other
        var nextLength = 0
        if next < count {
            let (scalar, length) = decodeScalar(text, next)
            nextClass = table.charClass(scalar)
            nextLength = length
            if takesPrefix && nextClass == .letter { return letterRunEnd(text, next + length) }
        }
        if firstClass == .number { return digitRunEnd(text, start) }
        if digitsTakeSpace && first == 0x20 && next < count && nextClass == .number { return digitRunEnd(text, next) }
        if firstClass == .other || (first == 0x20 && next < count && nextClass == .other) {
            var position = firstClass == .other ? next : next + nextLength
            while position < count {
                let (scalar, length) = decodeScalar(text, position)
                if table.charClass(scalar) != .other { break }
                position += length
            }
            if punctuationTakesNewlines {
                while position < count && (text[position] == 0x0A || text[position] == 0x0D) { position += 1 }
            }
            return position
        }
        // Whitespace: find the run [start, runEnd) and the start of its last character.
        var runEnd = start
        var lastStart = start
        var lastNewlineEnd = -1
        while runEnd < count {
            let (scalar, length) = decodeScalar(text, runEnd)
            if table.charClass(scalar) != .whitespace { break }
            if scalar == 0x0A || scalar == 0x0D { lastNewlineEnd = runEnd + 1 }
            lastStart = runEnd
            runEnd += length
        }
        if newlineRuns && lastNewlineEnd > 0 { return lastNewlineEnd }
        if runEnd == count || lastStart == start { return runEnd }
        return lastStart
    }

    @inline(__always)
    private func letterRunEnd(_ text: UnsafeBufferPointer<UInt8>, _ from: Int) -> Int {
        var position = from
        let table = UnicodeClassTable.shared
        while position < text.count {
            let byte = text[position]
            if byte < 0x80 {
                // ASCII fast path: letters are exactly A-Z and a-z.
                if (byte | 0x20) &- 0x61 < 26 { position += 1; continue }
                return position
            }
            let (scalar, length) = decodeScalar(text, position)
            if table.charClass(scalar) != .letter { return position }
            position += length
        }
        return position
    }

    @inline(__always)
    private func digitRunEnd(_ text: UnsafeBufferPointer<UInt8>, _ from: Int) -> Int {
        var position = from
        var taken = 0
        let table = UnicodeClassTable.shared
        while position < text.count && taken < digitLimit {
            let (scalar, length) = decodeScalar(text, position)
            if table.charClass(scalar) != .number { break }
            position += length
            taken += 1
        }
        return position
    }

    /// After an apostrophe at `from - 1`: the end of `s|t|m|d|ll|ve|re`, or nil.
    private func contractionEnd(_ text: UnsafeBufferPointer<UInt8>, _ from: Int) -> Int? {
        let insensitive = contractions == .caseInsensitive
        func letter(_ index: Int) -> (UInt8, Int)? {
            guard index < text.count else { return nil }
            let byte = text[index]
            if byte < 0x80 { return (insensitive ? byte | 0x20 : byte, 1) }
            // U+017F LATIN SMALL LETTER LONG S folds to "s".
            if insensitive && byte == 0xC5 && index + 1 < text.count && text[index + 1] == 0xBF { return (0x73, 2) }
            return nil
        }
        guard let (first, firstLength) = letter(from) else { return nil }
        switch first {
        case 0x73, 0x74, 0x6D, 0x64: return from + firstLength  // s t m d
        case 0x6C, 0x76, 0x72:  // l v r
            guard let (second, secondLength) = letter(from + firstLength) else { return nil }
            let expected: UInt8 = first == 0x6C ? 0x6C : 0x65
            return second == expected ? from + firstLength + secondLength : nil
        default: return nil
        }
    }
}
