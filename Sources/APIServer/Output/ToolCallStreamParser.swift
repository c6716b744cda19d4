import JSON

/// Parses `<tool_call>\n{"name": ..., "arguments": ...}\n</tool_call>` blocks out of streamed content (§6.7).
///
/// * Text before the first block is content with trailing whitespace trimmed; whitespace between or after blocks is
///   dropped, other text is content.
/// * Text from `<tool_call>` on is held back until the name is parsed. With `name` first, the arguments object is
///   then streamed as raw JSON text fragments whose concatenation is the exact text of the value; a JSON string
///   value is decoded and sent as one fragment; a missing or `null` value becomes `"{}"`.
/// * Other layouts (arguments first) are parsed when `</tool_call>` arrives. A block without a string `name` is
///   returned verbatim as content.
struct ToolCallStreamParser {
    enum Event: Equatable {
        case content([UInt8])
        case callStart(index: Int, name: String)
        case arguments(index: Int, [UInt8])
    }

    private enum State {
        case text
        /// After `<tool_call>`, before the name is known.
        case header
        /// Streaming the arguments value.
        case arguments(JSONValueScanner)
        /// The call is complete; waiting for `</tool_call>`.
        case afterCall
        /// Only one call allowed and it is closed: everything else is dropped.
        case done
    }

    static let openTag = Array("<tool_call>".utf8)
    static let closeTag = Array("</tool_call>".utf8)

    private let parallel: Bool
    private var state = State.text
    private var pending: [UInt8] = []
    private var sawBlock = false
    private(set) var callCount = 0
    /// Set when `parallel` is false and the first call closed: generation should stop.
    private(set) var wantsStop = false

    init(parallel: Bool) { self.parallel = parallel }

    mutating func feed(_ bytes: [UInt8]) -> [Event] {
        var events: [Event] = []
        pending += bytes
        process(into: &events, final: false)
        return events
    }

    mutating func finish() -> [Event] {
        var events: [Event] = []
        process(into: &events, final: true)
        switch state {
        case .text:
            if !pending.isEmpty && (!sawBlock || pending.contains { !ByteSearch.isWhitespace($0) }) {
                events.append(.content(pending))
            }
        case .header:
            events.append(.content(Self.openTag + pending))  // never became a call: verbatim
        case .arguments(let scanner):
            // Cut off inside the value: the partial call is still returned.
            if let tail = scanner.finishPartial() { events.append(.arguments(index: callCount - 1, tail)) }
        case .afterCall, .done: break
        }
        pending = []
        return events
    }

    private mutating func process(into events: inout [Event], final: Bool) {
        while true {
            switch state {
            case .done:
                pending = []
                return
            case .text:
                if let open = ByteSearch.firstIndex(of: Self.openTag, in: pending) {
                    emitText(Array(pending[..<open]), into: &events, beforeBlock: true)
                    pending.removeFirst(open + Self.openTag.count)
                    sawBlock = true
                    state = .header
                    continue
                }
                if final { return }
                var cut = pending.count - ByteSearch.partialSuffixLength(of: pending, prefixOf: Self.openTag)
                while cut > 0 && ByteSearch.isWhitespace(pending[cut - 1]) { cut -= 1 }
                if cut > 0 {
                    emitText(Array(pending[..<cut]), into: &events, beforeBlock: false)
                    pending.removeFirst(cut)
                }
                return
            case .header:
                let close = ByteSearch.firstIndex(of: Self.closeTag, in: pending)
                let region = close.map { Array(pending[..<$0]) } ?? pending
                switch ToolCallHeader.parse(region) {
                case .header(let name, let argumentsOffset):
                    startCall(name: name, into: &events)
                    pending.removeFirst(argumentsOffset)
                    state = .arguments(JSONValueScanner())
                    continue
                case .headerWithoutArguments(let name, let endOffset):
                    startCall(name: name, into: &events)
                    events.append(.arguments(index: callCount - 1, Array("{}".utf8)))
                    pending.removeFirst(endOffset)
                    state = .afterCall
                    continue
                case .needMore where close == nil:
                    return
                case .needMore, .otherLayout:
                    guard let close else { return }
                    // The whole block is here: parse it in one go.
                    if let call = ToolCallHeader.parseBlock(Array(pending[..<close])) {
                        startCall(name: call.name, into: &events)
                        events.append(.arguments(index: callCount - 1, call.arguments))
                    } else {
                        events.append(.content(Self.openTag + Array(pending[..<close]) + Self.closeTag))
                    }
                    pending.removeFirst(close + Self.closeTag.count)
                    closeCall()
                    continue
                }
            case .arguments(var scanner):
                let result = scanner.feed(pending)
                if !result.fragment.isEmpty { events.append(.arguments(index: callCount - 1, result.fragment)) }
                if let consumed = result.completedAt {
                    pending.removeFirst(consumed)
                    state = .afterCall
                    continue
                }
                pending = []
                state = .arguments(scanner)
                return
            case .afterCall:
                guard let close = ByteSearch.firstIndex(of: Self.closeTag, in: pending) else {
                    // Keep only what could still hold the tag.
                    let keep = ByteSearch.partialSuffixLength(of: pending, prefixOf: Self.closeTag)
                    pending.removeFirst(pending.count - keep)
                    return
                }
                pending.removeFirst(close + Self.closeTag.count)
                closeCall()
                continue
            }
        }
    }

    private mutating func startCall(name: String, into events: inout [Event]) {
        events.append(.callStart(index: callCount, name: name))
        callCount += 1
    }

    private mutating func closeCall() {
        if parallel {
            state = .text
        } else {
            state = .done
            wantsStop = callCount > 0
        }
    }

    private func emitText(_ text: [UInt8], into events: inout [Event], beforeBlock: Bool) {
        var end = text.count
        if beforeBlock || sawBlock {
            while end > 0 && ByteSearch.isWhitespace(text[end - 1]) { end -= 1 }
        }
        let trimmed = Array(text[..<end])
        if sawBlock && !trimmed.contains(where: { !ByteSearch.isWhitespace($0) }) { return }
        if !trimmed.isEmpty { events.append(.content(trimmed)) }
    }
}
