/// The byte-level state machine behind constrained decoding: a pushdown automaton over a `SchemaGraph` (plus the
/// tool-call wrapper), run as a set of threads so that `anyOf` and type lists need no lookahead. A thread is a stack
/// of frames, innermost last; an empty stack is a finished document.
struct Frame: Hashable, Sendable {
    enum Kind: UInt8, Sendable {
        /// Before the first byte of a value of `node` (a leaf): whitespace, then the value's opening byte.
        case value
        case object, key, string, number, literal, array
        /// The tool-call document: `<tool_call>\n{"name": "X", "arguments": ARGS}\n</tool_call>` (repeated).
        case toolCalls
    }

    var kind: Kind
    /// Schema node; for `toolCalls` the chosen tool.
    var node: Int32
    var phase: UInt8 = 0
    /// Length of the whitespace run just read.
    var whitespace: UInt8 = 0
    /// Per kind: object = next property index; array = items begun; key/literal/toolCalls = offset in the text;
    /// number = digits in the current part; string = UTF-8 continuation bytes still expected.
    var count: Int32 = 0
    /// Object: the property whose value is being read. toolCalls: calls so far.
    var slot: Int32 = 0
    /// Candidate set (keys, literals, tool names) as a 128-bit set.
    var low: UInt64 = 0
    var high: UInt64 = 0

    init(_ kind: Kind, node: Int) {
        self.kind = kind
        self.node = Int32(node)
    }

    func has(_ index: Int) -> Bool { index < 64 ? low & (1 << UInt64(index)) != 0 : high & (1 << UInt64(index - 64)) != 0 }

    mutating func add(_ index: Int) {
        if index < 64 { low |= 1 << UInt64(index) } else { high |= 1 << UInt64(index - 64) }
    }

    var candidates: [Int] {
        var result: [Int] = []
        var word = low
        while word != 0 {
            result.append(word.trailingZeroBitCount)
            word &= word - 1
        }
        word = high
        while word != 0 {
            result.append(64 + word.trailingZeroBitCount)
            word &= word - 1
        }
        return result
    }
}

/// The tool-call wrapper as the Ling template writes it. `openSymbol` / `closeSymbol` are the ids of the special
/// tokens `<tool_call>` / `</tool_call>`; when nil, their text is matched byte by byte instead.
struct ToolCallShape: Sendable {
    var names: [[UInt8]]
    var arguments: [Int]
    var parallel: Bool
    var openSymbol: Int?
    var closeSymbol: Int?

    static let openText = Array("<tool_call>".utf8)
    static let closeText = Array("</tool_call>".utf8)
    static let prefix = Array("\n{\"name\": \"".utf8)
    /// After the name's closing quote (consumed by the name match).
    static let middle = Array(", \"arguments\": ".utf8)
    static let suffix = Array("}\n".utf8)
    static let separator = Array("\n".utf8)

    enum Phase: UInt8 {
        case open = 0, prefix, name, middle, arguments, suffix, close, afterCall, reopen
    }
}

/// What the grammar matches: one JSON value, or tool calls.
enum Document: Sendable {
    case json
    case toolCalls(ToolCallShape)
}

struct Matcher: Sendable {
    let graph: SchemaGraph
    let document: Document

    /// The threads a document starts with.
    func initialThreads() -> [[Frame]] {
        switch document {
        case .json:
            return graph.leafTable[graph.rootNode].map { leaf in
                var frame = Frame(.value, node: leaf)
                frame.whitespace = UInt8(SchemaGraph.maxWhitespace)  // no whitespace before the document
                return [frame]
            }
        case .toolCalls: return [[Frame(.toolCalls, node: 0)]]
        }
    }

    private enum Action {
        case reject
        /// Byte consumed, frame updated.
        case update(Frame)
        /// Frame complete; `consumed` false hands the byte to the frame below.
        case finish(consumed: Bool)
        /// Key read: the object below takes property `index`.
        case finishKey(Int)
        /// Byte consumed (or, with `refeed`, handed to the new value), frame updated, a value of `node` starts.
        case updateAndPushValue(Frame, node: Int, refeed: Bool)
        case updateAndPush(Frame, Frame)
    }

    // MARK: - Threads

    /// Feeds one byte to a thread, appending the threads that survive.
    func feed(_ thread: [Frame], _ byte: UInt8, into output: inout [[Frame]]) {
        var stack = thread
        while let top = stack.last {
            switch step(top, byte) {
            case .reject: return
            case .update(let frame):
                stack[stack.count - 1] = frame
                output.append(stack)
                return
            case .finish(let consumed):
                stack.removeLast()
                if consumed {
                    output.append(stack)
                    return
                }
            case .finishKey(let index):
                stack.removeLast()
                guard !stack.isEmpty else { return }
                stack[stack.count - 1].slot = Int32(index)
                stack[stack.count - 1].count = Int32(index + 1)
                output.append(stack)
                return
            case .updateAndPush(let frame, let child):
                stack[stack.count - 1] = frame
                stack.append(child)
                output.append(stack)
                return
            case .updateAndPushValue(let frame, let node, let refeed):
                stack[stack.count - 1] = frame
                for leaf in graph.leafTable[node] {
                    var branch = stack
                    branch.append(Frame(.value, node: leaf))
                    if refeed { feed(branch, byte, into: &output) } else { output.append(branch) }
                }
                return
            }
        }
    }

    /// Feeds a special token (the tool-call open or close symbol).
    func feed(_ thread: [Frame], symbol: Int, into output: inout [[Frame]]) {
        guard var top = thread.last, top.kind == .toolCalls, case .toolCalls(let shape) = document else { return }
        var stack = thread
        switch ToolCallShape.Phase(rawValue: top.phase) {
        case .open?, .reopen?:
            guard symbol == shape.openSymbol else { return }
            top.phase = ToolCallShape.Phase.prefix.rawValue
            top.count = 0
        case .close?:
            guard symbol == shape.closeSymbol else { return }
            top.slot += 1
            if !shape.parallel {
                stack.removeLast()
                output.append(stack)
                return
            }
            top.phase = ToolCallShape.Phase.afterCall.rawValue
        default: return
        }
        stack[stack.count - 1] = top
        output.append(stack)
    }

    /// The thread may end here (EOS allowed): nothing left, or only frames that end without another byte.
    func mayEnd(_ thread: [Frame]) -> Bool {
        for frame in thread.reversed() {
            switch frame.kind {
            case .number:
                guard frame.phase == 2 || frame.phase == 3 || frame.phase == 5 || frame.phase == 8 else { return false }
            case .literal:
                guard case .literals(let texts) = graph.nodes[Int(frame.node)],
                    frame.candidates.contains(where: { texts[$0].count == Int(frame.count) })
                else { return false }
            case .toolCalls:
                return frame.phase == ToolCallShape.Phase.afterCall.rawValue
            default: return false
            }
        }
        return true
    }

    // MARK: - Frames

    /// Only single spaces (`maxWhitespace`): weak models otherwise spend their token budget on newlines and
    /// indentation between every two tokens.
    private func isWhitespace(_ byte: UInt8) -> Bool { byte == 0x20 }

    private func step(_ frame: Frame, _ byte: UInt8) -> Action {
        var frame = frame
        let skipsWhitespace =
            switch frame.kind {
            case .value, .object, .array: true
            default: false
            }
        if skipsWhitespace && isWhitespace(byte) {
            guard frame.whitespace < SchemaGraph.maxWhitespace else { return .reject }
            frame.whitespace += 1
            return .update(frame)
        }
        frame.whitespace = 0
        switch frame.kind {
        case .value: return startValue(frame, byte)
        case .object: return stepObject(frame, byte)
        case .key: return stepKey(frame, byte)
        case .string: return stepString(frame, byte)
        case .number: return stepNumber(frame, byte)
        case .literal: return stepLiteral(frame, byte)
        case .array: return stepArray(frame, byte)
        case .toolCalls: return stepToolCalls(frame, byte)
        }
    }

    private func startValue(_ frame: Frame, _ byte: UInt8) -> Action {
        let node = Int(frame.node)
        switch graph.nodes[node] {
        case .object: return byte == UInt8(ascii: "{") ? .update(Frame(.object, node: node)) : .reject
        case .array: return byte == UInt8(ascii: "[") ? .update(Frame(.array, node: node)) : .reject
        case .string: return byte == UInt8(ascii: "\"") ? .update(Frame(.string, node: node)) : .reject
        case .number: return stepNumber(Frame(.number, node: node), byte)
        case .literals(let texts):
            var literal = Frame(.literal, node: node)
            for index in texts.indices { literal.add(index) }
            return stepLiteral(literal, byte)
        case .union, .nothing: return .reject
        }
    }

    // Object phases: 0 after `{`, 1 after a key, 2 after a value, 3 after `,`.
    private func stepObject(_ frame: Frame, _ byte: UInt8) -> Action {
        guard case .object(let shape) = graph.nodes[Int(frame.node)] else { return .reject }
        var frame = frame
        let next = Int(frame.count)
        let closable = shape.freeValues != nil || !shape.required[min(next, shape.required.count)...].contains(true)
        switch (frame.phase, byte) {
        case (0, UInt8(ascii: "}")), (2, UInt8(ascii: "}")):
            return closable ? .finish(consumed: true) : .reject
        case (0, UInt8(ascii: "\"")), (3, UInt8(ascii: "\"")):
            frame.phase = 1
            if shape.freeValues != nil { return .updateAndPush(frame, Frame(.string, node: Int(frame.node))) }
            var key = Frame(.key, node: Int(frame.node))
            for index in next..<shape.keys.count {
                key.add(index)
                if shape.required[index] { break }  // declared order: a required key cannot be skipped
            }
            return key.low == 0 && key.high == 0 ? .reject : .updateAndPush(frame, key)
        case (1, UInt8(ascii: ":")):
            frame.phase = 2
            let value = shape.freeValues ?? shape.values[Int(frame.slot)]
            return .updateAndPushValue(frame, node: value, refeed: false)
        case (2, UInt8(ascii: ",")):
            guard shape.freeValues != nil || next < shape.keys.count else { return .reject }
            frame.phase = 3
            return .update(frame)
        default: return .reject
        }
    }

    private func stepKey(_ frame: Frame, _ byte: UInt8) -> Action {
        guard case .object(let shape) = graph.nodes[Int(frame.node)] else { return .reject }
        return matchCandidates(frame, byte, texts: shape.keys, onExact: { .finishKey($0) })
    }

    /// Narrows the candidate texts by one byte; a closing `"` at the end of a candidate calls `onExact`.
    private func matchCandidates(_ frame: Frame, _ byte: UInt8, texts: [[UInt8]], onExact: (Int) -> Action) -> Action {
        let offset = Int(frame.count)
        var narrowed = frame
        narrowed.low = 0
        narrowed.high = 0
        for index in frame.candidates {
            let text = texts[index]
            if byte == UInt8(ascii: "\"") && text.count == offset { return onExact(index) }
            if offset < text.count && text[offset] == byte { narrowed.add(index) }
        }
        guard narrowed.low != 0 || narrowed.high != 0 else { return .reject }
        narrowed.count += 1
        return .update(narrowed)
    }

    // String phases: 0 content, 1 after `\`, 11...14 hex digits of `\u` still expected minus 10.
    private func stepString(_ frame: Frame, _ byte: UInt8) -> Action {
        var frame = frame
        switch frame.phase {
        case 0:
            if frame.count > 0 {
                guard byte & 0xC0 == 0x80 else { return .reject }
                frame.count -= 1
                return .update(frame)
            }
            switch byte {
            case UInt8(ascii: "\""): return .finish(consumed: true)
            case UInt8(ascii: "\\"): frame.phase = 1
            case 0..<0x20: return .reject
            case 0x20..<0x80: break
            case 0xC2...0xDF: frame.count = 1
            case 0xE0...0xEF: frame.count = 2
            case 0xF0...0xF4: frame.count = 3
            default: return .reject
            }
            return .update(frame)
        case 1:
            switch byte {
            case UInt8(ascii: "u"): frame.phase = 14
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
                UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                frame.phase = 0
            default: return .reject
            }
            return .update(frame)
        default:
            let isHex = (byte >= 0x30 && byte <= 0x39) || (byte | 0x20 >= 0x61 && byte | 0x20 <= 0x66)
            guard isHex else { return .reject }
            frame.phase = frame.phase == 11 ? 0 : frame.phase - 1
            return .update(frame)
        }
    }

    // Number phases: 0 start, 1 after `-`, 2 leading `0`, 3 integer digits, 4 after `.`, 5 fraction digits,
    // 6 after `e`, 7 after the exponent sign, 8 exponent digits. 2, 3, 5 and 8 may end.
    private func stepNumber(_ frame: Frame, _ byte: UInt8) -> Action {
        guard case .number(let integerOnly) = graph.nodes[Int(frame.node)] else { return .reject }
        var frame = frame
        let isDigit = byte >= 0x30 && byte <= 0x39
        let maxDigits: Int32 = frame.phase >= 6 ? 3 : 16
        func to(_ phase: UInt8, digits: Int32) -> Action {
            frame.phase = phase
            frame.count = digits
            return .update(frame)
        }
        switch frame.phase {
        case 0 where byte == UInt8(ascii: "-"): return to(1, digits: 0)
        case 0, 1:
            if byte == UInt8(ascii: "0") { return to(2, digits: 1) }
            return isDigit ? to(3, digits: 1) : .reject
        case 2, 3, 5:
            if isDigit && frame.phase != 2 {
                return frame.count < maxDigits ? to(frame.phase, digits: frame.count + 1) : .finish(consumed: false)
            }
            if byte == UInt8(ascii: ".") && frame.phase != 5 && !integerOnly { return to(4, digits: 0) }
            if (byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E")) && !integerOnly { return to(6, digits: 0) }
            return .finish(consumed: false)
        case 4: return isDigit ? to(5, digits: 1) : .reject
        case 6 where byte == UInt8(ascii: "+") || byte == UInt8(ascii: "-"): return to(7, digits: 0)
        case 6, 7: return isDigit ? to(8, digits: 1) : .reject
        case 8:
            if isDigit { return frame.count < maxDigits ? to(8, digits: frame.count + 1) : .finish(consumed: false) }
            return .finish(consumed: false)
        default: return .reject
        }
    }

    private func stepLiteral(_ frame: Frame, _ byte: UInt8) -> Action {
        guard case .literals(let texts) = graph.nodes[Int(frame.node)] else { return .reject }
        let offset = Int(frame.count)
        var narrowed = frame
        narrowed.low = 0
        narrowed.high = 0
        var complete = false
        for index in frame.candidates {
            let text = texts[index]
            if text.count == offset { complete = true }
            if offset < text.count && text[offset] == byte { narrowed.add(index) }
        }
        if narrowed.low != 0 || narrowed.high != 0 {
            narrowed.count += 1
            return .update(narrowed)
        }
        return complete ? .finish(consumed: false) : .reject
    }

    // Array phases: 0 after `[`, 1 after an item, 2 after `,`. `count` = items begun.
    private func stepArray(_ frame: Frame, _ byte: UInt8) -> Action {
        guard case .array(let items, let minItems, let maxItems) = graph.nodes[Int(frame.node)] else { return .reject }
        var frame = frame
        switch frame.phase {
        case 0, 2:
            if frame.phase == 0 && byte == UInt8(ascii: "]") { return minItems == 0 ? .finish(consumed: true) : .reject }
            guard Int(frame.count) < maxItems else { return .reject }
            frame.count += 1
            frame.phase = 1
            return .updateAndPushValue(frame, node: items, refeed: true)
        default:
            if byte == UInt8(ascii: ",") && Int(frame.count) < maxItems {
                frame.phase = 2
                return .update(frame)
            }
            if byte == UInt8(ascii: "]") && Int(frame.count) >= minItems { return .finish(consumed: true) }
            return .reject
        }
    }

    private func stepToolCalls(_ frame: Frame, _ byte: UInt8) -> Action {
        guard case .toolCalls(let shape) = document, let phase = ToolCallShape.Phase(rawValue: frame.phase) else {
            return .reject
        }
        var frame = frame
        /// Matches one byte of a fixed text; at its end moves to `then` (and pushes the arguments value).
        func literal(_ text: [UInt8], then next: ToolCallShape.Phase) -> Action {
            let offset = Int(frame.count)
            guard offset < text.count, text[offset] == byte else { return .reject }
            frame.count += 1
            guard Int(frame.count) == text.count else { return .update(frame) }
            frame.count = 0
            frame.phase = next.rawValue
            if next == .name {
                for index in shape.names.indices { frame.add(index) }
            }
            if next == .suffix { return .updateAndPushValue(frame, node: shape.arguments[Int(frame.node)], refeed: false) }
            if next == .afterCall {
                frame.slot += 1
                if !shape.parallel { return .finish(consumed: true) }
            }
            return .update(frame)
        }
        switch phase {
        case .open, .reopen:
            return shape.openSymbol == nil ? literal(ToolCallShape.openText, then: .prefix) : .reject
        case .prefix: return literal(ToolCallShape.prefix, then: .name)
        case .name:
            return matchCandidates(frame, byte, texts: shape.names) { index in
                var chosen = frame
                chosen.node = Int32(index)
                chosen.phase = ToolCallShape.Phase.middle.rawValue
                chosen.count = 0
                chosen.low = 0
                chosen.high = 0
                return .update(chosen)
            }
        case .middle: return literal(ToolCallShape.middle, then: .suffix)
        case .arguments: return .reject
        case .suffix: return literal(ToolCallShape.suffix, then: .close)
        case .close: return shape.closeSymbol == nil ? literal(ToolCallShape.closeText, then: .afterCall) : .reject
        case .afterCall: return literal(ToolCallShape.separator, then: .reopen)
        }
    }
}
