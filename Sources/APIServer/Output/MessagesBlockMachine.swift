import JSON
import OpenAIAPI

/// Turns one chat choice's stream items (`ChatChoiceMachine`: reasoning split, tool-call parsing, stop strings
/// already applied) into Anthropic content-block events (§3.9, §5): blocks strictly sequential and indexed by their
/// position in the final `content`; thinking only when requested, closed by one `signature_delta`; a tool_use block
/// starts once its `input` is known to be an object, so a call whose arguments are not a JSON object becomes a text
/// block with the raw arguments followed by a tool_use with `input: {}` (`tool_use.input` must be an object).
/// Non-streaming folds the same events with `MessagesBlockAccumulator`, so both modes agree by construction.
struct MessagesBlockMachine {
    private enum ToolArguments {
        /// Only whitespace so far (kept to be forwarded).
        case undetermined([UInt8])
        /// Starts with `{`: the block is open and fragments are forwarded as they come.
        case streaming
        /// Something else: held until the call ends.
        case held([UInt8])
    }

    private enum OpenBlock {
        case none
        case text(index: Int)
        case thinking(index: Int, text: [UInt8])
        case toolUse(id: String, name: String, ToolArguments, index: Int?)
    }

    let thinkingEnabled: Bool
    private var open = OpenBlock.none
    private var nextIndex = 0
    private(set) var toolUseCount = 0

    init(thinkingEnabled: Bool) { self.thinkingEnabled = thinkingEnabled }

    mutating func feed(_ items: [ChatStreamItem]) -> [MessagesBlockEvent] {
        var events: [MessagesBlockEvent] = []
        for item in items {
            switch item.delta {
            case .empty, .role: break
            case .content(let text) where !text.isEmpty:
                if case .text(let index) = open {
                    events.append(.textDelta(index: index, text))
                } else {
                    close(into: &events)
                    let index = take()
                    open = .text(index: index)
                    events.append(.start(index: index, block: .text("")))
                    events.append(.textDelta(index: index, text))
                }
            case .reasoning(let text) where !text.isEmpty && thinkingEnabled:
                if case .thinking(let index, let previous) = open {
                    open = .thinking(index: index, text: previous + Array(text.utf8))
                    events.append(.thinkingDelta(index: index, text))
                } else {
                    close(into: &events)
                    let index = take()
                    open = .thinking(index: index, text: Array(text.utf8))
                    events.append(.start(index: index, block: .thinking("", signature: "")))
                    events.append(.thinkingDelta(index: index, text))
                }
            case .toolCallStart(_, let id, let name):
                close(into: &events)
                toolUseCount += 1
                open = .toolUse(id: id, name: name, .undetermined([]), index: nil)
            case .toolCallArguments(_, let fragment):
                guard case .toolUse(let id, let name, let arguments, let index) = open else { break }
                let bytes = Array(fragment.utf8)
                switch arguments {
                case .streaming:
                    if let index, !bytes.isEmpty { events.append(.inputJSONDelta(index: index, fragment)) }
                case .held(let previous):
                    open = .toolUse(id: id, name: name, .held(previous + bytes), index: nil)
                case .undetermined(let previous):
                    let all = previous + bytes
                    guard let first = all.first(where: { !ByteSearch.isWhitespace($0) }) else {
                        open = .toolUse(id: id, name: name, .undetermined(all), index: nil)
                        break
                    }
                    if first == UInt8(ascii: "{") {
                        let blockIndex = take()
                        events.append(.start(index: blockIndex, block: .toolUse(id: id, name: name, input: .object(JSONObject()))))
                        events.append(.inputJSONDelta(index: blockIndex, String(decoding: all, as: UTF8.self)))
                        open = .toolUse(id: id, name: name, .streaming, index: blockIndex)
                    } else {
                        open = .toolUse(id: id, name: name, .held(all), index: nil)
                    }
                }
            default: break
            }
        }
        return events
    }

    /// Closes the open block (end of the choice).
    mutating func finish() -> [MessagesBlockEvent] {
        var events: [MessagesBlockEvent] = []
        close(into: &events)
        return events
    }

    private mutating func take() -> Int {
        defer { nextIndex += 1 }
        return nextIndex
    }

    private mutating func close(into events: inout [MessagesBlockEvent]) {
        switch open {
        case .none: break
        case .text(let index): events.append(.stop(index: index))
        case .thinking(let index, let text):
            events.append(.signatureDelta(index: index, Self.signature(text)))
            events.append(.stop(index: index))
        case .toolUse(let id, let name, let arguments, let index):
            let empty = MessagesContentBlock.toolUse(id: id, name: name, input: .object(JSONObject()))
            switch arguments {
            case .streaming:
                if let index { events.append(.stop(index: index)) }
            case .undetermined:
                let blockIndex = take()
                events.append(.start(index: blockIndex, block: empty))
                events.append(.stop(index: blockIndex))
            case .held(let raw):
                // A JSON value that is not an object (or no JSON at all): the raw text, then `input: {}` (§5).
                if case .object? = try? JSONParser.parse(raw) {
                    // Cannot happen (objects start with `{`), kept for safety: forward as is.
                    let blockIndex = take()
                    events.append(.start(index: blockIndex, block: empty))
                    events.append(.inputJSONDelta(index: blockIndex, String(decoding: raw, as: UTF8.self)))
                    events.append(.stop(index: blockIndex))
                } else {
                    let textIndex = take()
                    events.append(.start(index: textIndex, block: .text("")))
                    events.append(.textDelta(index: textIndex, String(decoding: raw, as: UTF8.self)))
                    events.append(.stop(index: textIndex))
                    let blockIndex = take()
                    events.append(.start(index: blockIndex, block: empty))
                    events.append(.stop(index: blockIndex))
                }
            }
        }
        open = .none
    }

    /// `"lingserve:" + hex(sha256(thinking))[:32]` (§3.7): opaque, non-empty, stable for the same text.
    static func signature(_ thinking: [UInt8]) -> String {
        "lingserve:" + String(SHA256.hexDigest(thinking).prefix(32))
    }
}

/// Folds block events into the final `content` (non-streaming). A tool_use whose streamed input does not parse as
/// an object (cut off by max_tokens) gets `input: {}` and its raw text as a text block before it (§5).
struct MessagesBlockAccumulator {
    private enum Block {
        case text([UInt8])
        case thinking([UInt8], signature: String)
        case toolUse(id: String, name: String, json: [UInt8])
    }

    private var blocks: [Block] = []

    mutating func add(_ events: [MessagesBlockEvent]) {
        for event in events {
            switch event {
            case .start(_, let block):
                switch block {
                case .text: blocks.append(.text([]))
                case .thinking: blocks.append(.thinking([], signature: ""))
                case .toolUse(let id, let name, _): blocks.append(.toolUse(id: id, name: name, json: []))
                }
            case .textDelta(_, let text):
                if case .text(let previous)? = blocks.last { blocks[blocks.count - 1] = .text(previous + Array(text.utf8)) }
            case .thinkingDelta(_, let text):
                if case .thinking(let previous, let signature)? = blocks.last {
                    blocks[blocks.count - 1] = .thinking(previous + Array(text.utf8), signature: signature)
                }
            case .signatureDelta(_, let signature):
                if case .thinking(let text, _)? = blocks.last { blocks[blocks.count - 1] = .thinking(text, signature: signature) }
            case .inputJSONDelta(_, let fragment):
                if case .toolUse(let id, let name, let json)? = blocks.last {
                    blocks[blocks.count - 1] = .toolUse(id: id, name: name, json: json + Array(fragment.utf8))
                }
            case .stop: break
            }
        }
    }

    var content: [MessagesContentBlock] {
        var content: [MessagesContentBlock] = []
        for block in blocks {
            switch block {
            case .text(let bytes): content.append(.text(String(decoding: bytes, as: UTF8.self)))
            case .thinking(let bytes, let signature): content.append(.thinking(String(decoding: bytes, as: UTF8.self), signature: signature))
            case .toolUse(let id, let name, let json):
                if json.isEmpty {
                    content.append(.toolUse(id: id, name: name, input: .object(JSONObject())))
                } else if let value = try? JSONParser.parse(json), case .object = value {
                    content.append(.toolUse(id: id, name: name, input: value))
                } else {
                    content.append(.text(String(decoding: json, as: UTF8.self)))
                    content.append(.toolUse(id: id, name: name, input: .object(JSONObject())))
                }
            }
        }
        return content
    }
}
