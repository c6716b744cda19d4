/// Splits generated text into reasoning and content (§6.6): a `<think>` block at the start (after optional
/// whitespace) is reasoning with leading and trailing `\n` removed; what follows `</think>` is content with leading
/// `\n` removed. The tags are never returned. Runs of `\n` inside the block are held back until the next character
/// shows whether they are trailing.
struct ReasoningSplitter {
    enum Segment: Equatable {
        case reasoning([UInt8])
        case content([UInt8])
    }

    private enum Mode {
        case start
        case reasoning
        case content
    }

    private static let openTag = Array("<think>".utf8)
    private static let closeTag = Array("</think>".utf8)
    private var mode = Mode.start
    private var pending: [UInt8] = []
    private var stripLeadingNewlines = false
    /// True once a think block was opened (the response then carries `reasoning_content`).
    private(set) var sawReasoning = false

    mutating func feed(_ bytes: [UInt8]) -> [Segment] {
        var segments: [Segment] = []
        feed(bytes, into: &segments)
        return segments
    }

    private mutating func feed(_ bytes: [UInt8], into segments: inout [Segment]) {
        var input = bytes[...]
        if stripLeadingNewlines {
            while let first = input.first, first == 0x0A { input = input.dropFirst() }
            if input.isEmpty { return }
            stripLeadingNewlines = false
        }
        switch mode {
        case .content:
            if !input.isEmpty { segments.append(.content(Array(input))) }
        case .start:
            pending += input
            let firstNonSpace = pending.firstIndex { !ByteSearch.isWhitespace($0) } ?? pending.count
            let rest = Array(pending[firstNonSpace...])
            if rest.count < Self.openTag.count && Array(Self.openTag.prefix(rest.count)) == rest { return }
            if Array(rest.prefix(Self.openTag.count)) == Self.openTag {
                mode = .reasoning
                sawReasoning = true
                pending = []
                stripLeadingNewlines = true
                feed(Array(rest.dropFirst(Self.openTag.count)), into: &segments)
            } else {
                mode = .content
                let text = pending
                pending = []
                if !text.isEmpty { segments.append(.content(text)) }
            }
        case .reasoning:
            pending += input
            if let close = ByteSearch.firstIndex(of: Self.closeTag, in: pending) {
                var end = close
                while end > 0 && pending[end - 1] == 0x0A { end -= 1 }
                if end > 0 { segments.append(.reasoning(Array(pending[..<end]))) }
                let rest = Array(pending[(close + Self.closeTag.count)...])
                pending = []
                mode = .content
                stripLeadingNewlines = true
                feed(rest, into: &segments)
            } else {
                var cut = pending.count - ByteSearch.partialSuffixLength(of: pending, prefixOf: Self.closeTag)
                while cut > 0 && pending[cut - 1] == 0x0A { cut -= 1 }
                if cut > 0 {
                    segments.append(.reasoning(Array(pending[..<cut])))
                    pending.removeFirst(cut)
                }
            }
        }
    }

    /// End of output: a think block without `</think>` is all reasoning (trailing `\n` removed).
    mutating func finish() -> [Segment] {
        defer { pending = [] }
        switch mode {
        case .start: return pending.isEmpty ? [] : [.content(pending)]
        case .content: return []
        case .reasoning:
            var end = pending.count
            while end > 0 && pending[end - 1] == 0x0A { end -= 1 }
            return end > 0 ? [.reasoning(Array(pending[..<end]))] : []
        }
    }
}
