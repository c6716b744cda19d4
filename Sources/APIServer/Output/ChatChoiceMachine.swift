import OpenAIAPI
import Tokenizers

/// One token as the output machines see it: the text its decoder released and its logprob entry.
public struct GeneratedPiece: Sendable, Equatable {
    /// UTF-8 bytes released by the incremental decoder for this token (complete characters only).
    public var text: [UInt8]
    /// nil unless logprobs were requested; never set for stop tokens.
    public var logprob: LogprobEntry?
    /// An EOS or `stop_token_ids` token: counted in usage, its text never returned.
    public var isStopToken: Bool

    public init(text: [UInt8], logprob: LogprobEntry? = nil, isStopToken: Bool = false) {
        self.text = text
        self.logprob = logprob
        self.isStopToken = isStopToken
    }
}

/// How a chat choice's output is post-processed.
public struct ChatOutputOptions: Sendable, Equatable {
    public var stop: [String]
    /// Parse `<tool_call>` blocks (tools given and `tool_choice` not `none`).
    public var parseToolCalls: Bool
    public var parallelToolCalls: Bool
    /// A named `tool_choice`: `finish_reason` stays `stop` (§6.7).
    public var namedToolChoice: Bool
    public var logprobs: Bool

    public init(
        stop: [String] = [], parseToolCalls: Bool = false, parallelToolCalls: Bool = true,
        namedToolChoice: Bool = false, logprobs: Bool = false
    ) {
        self.stop = stop
        self.parseToolCalls = parseToolCalls
        self.parallelToolCalls = parallelToolCalls
        self.namedToolChoice = namedToolChoice
        self.logprobs = logprobs
    }
}

/// One streamed chunk of one choice, before framing.
public struct ChatStreamItem: Sendable, Equatable {
    public var delta: ChatDelta
    /// nil when logprobs were not requested (and on the role chunk).
    public var logprobs: [LogprobEntry]?
    public var finishReason: FinishReason?

    public init(delta: ChatDelta, logprobs: [LogprobEntry]? = nil, finishReason: FinishReason? = nil) {
        self.delta = delta
        self.logprobs = logprobs
        self.finishReason = finishReason
    }
}

/// The per-choice output state machine of a chat completion (§6.5-§6.7, §6.10, §6.11): stop strings, reasoning
/// split, tool-call parsing, coalescing per engine step, role and finish chunks. Streaming sends its items;
/// non-streaming folds the same items with `ChatChoiceAccumulator`, so both modes agree by construction.
public struct ChatChoiceMachine {
    public let index: Int
    private let options: ChatOutputOptions
    private let makeCallID: @Sendable () -> String
    private var stopMatcher: StopStringMatcher
    private var reasoning = ReasoningSplitter()
    private var tools: ToolCallStreamParser?
    private var reasoningCounter = ReasoningTokenCounter()
    private var started = false
    private var pendingLogprobs: [LogprobEntry] = []
    private var callIDs: [String] = []

    public private(set) var completionTokenCount = 0
    public private(set) var isFinished = false
    /// The API ended this choice (stop string, single tool call): the server must `stopChoice` it.
    public private(set) var wantsEngineStop = false
    public var reasoningTokenCount: Int { reasoningCounter.count(total: completionTokenCount) }
    public var sawReasoning: Bool { reasoning.sawReasoning }
    public private(set) var finishReason: FinishReason?
    /// The stop string that ended this choice, if one did.
    public var matchedStop: String? { stopMatcher.matchedStop }
    /// Tool calls parsed so far.
    public var toolCallCount: Int { tools?.callCount ?? 0 }

    public init(
        index: Int, options: ChatOutputOptions,
        makeCallID: @escaping @Sendable () -> String = { ResponseID.make(prefix: "call_") }
    ) {
        self.index = index
        self.options = options
        self.makeCallID = makeCallID
        stopMatcher = StopStringMatcher(stopStrings: options.stop)
        tools = options.parseToolCalls ? ToolCallStreamParser(parallel: options.parallelToolCalls) : nil
    }

    /// Feeds one engine step for this choice; returns the chunks to send, in order.
    public mutating func step(_ pieces: [GeneratedPiece], finish: GenerationFinishReason?) -> [ChatStreamItem] {
        guard !isFinished else { return [] }
        if finish == .cancelled {
            isFinished = true
            return []
        }
        var items: [ChatStreamItem] = []
        var events: [OutputEvent] = []
        var endedHere = false
        for piece in pieces {
            completionTokenCount += 1
            if piece.isStopToken { break }
            reasoningCounter.observe(piece.text, tokenCount: completionTokenCount)
            if options.logprobs, let entry = piece.logprob { pendingLogprobs.append(entry) }
            route(stopMatcher.feed(bytes: piece.text).bytes, into: &events)
            if stopMatcher.isStopped || tools?.wantsStop == true {
                endedHere = true
                wantsEngineStop = true
                break
            }
        }
        let finishing = endedHere || finish != nil
        if !started && (!pieces.isEmpty || finishing) {
            started = true
            items.append(ChatStreamItem(delta: .role))
        }
        if finishing {
            route(stopMatcher.finishBytes(), into: &events)
            for segment in reasoning.finish() { route(segment: segment, into: &events) }
            if var parser = tools {
                events += parser.finish().map(OutputEvent.text)
                tools = parser
            }
        }
        let firstBodyItem = items.count
        items += coalesce(events)
        if options.logprobs {
            for position in firstBodyItem..<items.count { items[position].logprobs = [] }
            if items.count > firstBodyItem {
                items[firstBodyItem].logprobs = pendingLogprobs
                pendingLogprobs = []
            }
        }
        guard finishing else { return items }
        isFinished = true
        let reason: FinishReason
        if finish == .length && !endedHere {
            reason = .length
        } else if (tools?.callCount ?? 0) > 0 && !options.namedToolChoice {
            reason = .toolCalls
        } else {
            reason = .stop
        }
        finishReason = reason
        if items.count == firstBodyItem {
            items.append(ChatStreamItem(delta: .empty, logprobs: options.logprobs ? pendingLogprobs : nil))
            pendingLogprobs = []
        }
        items[items.count - 1].finishReason = reason
        return items
    }

    /// Reasoning bypasses the tool parser; content goes through it when tools are active.
    private enum OutputEvent {
        case reasoning([UInt8])
        case text(ToolCallStreamParser.Event)
    }

    private mutating func route(_ released: [UInt8], into events: inout [OutputEvent]) {
        guard !released.isEmpty else { return }
        for segment in reasoning.feed(released) { route(segment: segment, into: &events) }
    }

    private mutating func route(segment: ReasoningSplitter.Segment, into events: inout [OutputEvent]) {
        switch segment {
        case .reasoning(let bytes): events.append(.reasoning(bytes))
        case .content(let bytes):
            if var parser = tools {
                events += parser.feed(bytes).map(OutputEvent.text)
                tools = parser
            } else {
                events.append(.text(.content(bytes)))
            }
        }
    }

    /// Merges runs of the same kind into one chunk: content with content, reasoning with reasoning, fragments of
    /// the same call. A call start is always its own chunk (`"arguments": ""`).
    private mutating func coalesce(_ events: [OutputEvent]) -> [ChatStreamItem] {
        enum Run { case content([UInt8]), reasoning([UInt8]), arguments(Int, [UInt8]) }
        var runs: [Run] = []
        var items: [ChatStreamItem] = []
        func flush(_ runs: inout [Run], into items: inout [ChatStreamItem]) {
            for run in runs {
                switch run {
                case .content(let bytes): items.append(ChatStreamItem(delta: .content(String(decoding: bytes, as: UTF8.self))))
                case .reasoning(let bytes):
                    items.append(ChatStreamItem(delta: .reasoning(String(decoding: bytes, as: UTF8.self))))
                case .arguments(let call, let bytes):
                    items.append(ChatStreamItem(delta: .toolCallArguments(
                        index: call, fragment: String(decoding: bytes, as: UTF8.self))))
                }
            }
            runs = []
        }
        for event in events {
            switch event {
            case .text(.content(let bytes)) where !bytes.isEmpty:
                if case .content(let previous)? = runs.last {
                    runs[runs.count - 1] = .content(previous + bytes)
                } else {
                    runs.append(.content(bytes))
                }
            case .reasoning(let bytes) where !bytes.isEmpty:
                if case .reasoning(let previous)? = runs.last {
                    runs[runs.count - 1] = .reasoning(previous + bytes)
                } else {
                    runs.append(.reasoning(bytes))
                }
            case .text(.arguments(let call, let bytes)) where !bytes.isEmpty:
                if case .arguments(call, let previous)? = runs.last {
                    runs[runs.count - 1] = .arguments(call, previous + bytes)
                } else {
                    runs.append(.arguments(call, bytes))
                }
            case .text(.callStart(let call, let name)):
                flush(&runs, into: &items)
                let id = makeCallID()
                callIDs.append(id)
                items.append(ChatStreamItem(delta: .toolCallStart(index: call, id: id, name: name)))
            default: break
            }
        }
        flush(&runs, into: &items)
        return items
    }
}

/// Counts the tokens up to and including the one that completes `</think>` of a leading think block
/// (`completion_tokens_details.reasoning_tokens`), on the raw generated text.
struct ReasoningTokenCounter {
    private enum State { case undetermined, open, closed(Int), none }
    private var state = State.undetermined
    private var raw: [UInt8] = []
    private static let openTag = Array("<think>".utf8)
    private static let closeTag = Array("</think>".utf8)

    mutating func observe(_ text: [UInt8], tokenCount: Int) {
        switch state {
        case .closed, .none: return
        case .undetermined:
            raw += text
            let start = raw.firstIndex { !ByteSearch.isWhitespace($0) } ?? raw.count
            let rest = Array(raw[start...])
            if rest.count < Self.openTag.count {
                if Array(Self.openTag.prefix(rest.count)) != rest { state = .none }
                return
            }
            guard Array(rest.prefix(Self.openTag.count)) == Self.openTag else {
                state = .none
                return
            }
            raw = Array(rest.dropFirst(Self.openTag.count))
            state = .open
            if ByteSearch.firstIndex(of: Self.closeTag, in: raw) != nil { state = .closed(tokenCount) }
        case .open:
            let searchFrom = max(0, raw.count - Self.closeTag.count)
            raw += text
            if ByteSearch.firstIndex(of: Self.closeTag, in: raw, from: searchFrom) != nil { state = .closed(tokenCount) }
        }
    }

    func count(total: Int) -> Int {
        switch state {
        case .closed(let count): return count
        case .open: return total
        case .undetermined, .none: return 0
        }
    }
}

/// Folds a choice's stream items into the non-streaming message (§6.9).
public struct ChatChoiceAccumulator: Sendable {
    private var content: [UInt8] = []
    private var reasoning: [UInt8] = []
    private var calls: [ToolCallOutput] = []
    private var logprobs: [LogprobEntry] = []
    private var finishReason: FinishReason = .stop

    public init() {}

    public mutating func add(_ items: [ChatStreamItem]) {
        for item in items {
            switch item.delta {
            case .empty, .role: break
            case .content(let text): content += Array(text.utf8)
            case .reasoning(let text): reasoning += Array(text.utf8)
            case .toolCallStart(_, let id, let name): calls.append(ToolCallOutput(id: id, name: name, arguments: ""))
            case .toolCallArguments(let index, let fragment) where calls.indices.contains(index):
                calls[index].arguments += fragment
            case .toolCallArguments: break
            }
            if let entries = item.logprobs { logprobs += entries }
            if let reason = item.finishReason { finishReason = reason }
        }
    }

    /// - Parameter sawReasoning: whether a think block existed (then `reasoning_content` is present, maybe "").
    public func output(index: Int, sawReasoning: Bool, logprobsRequested: Bool) -> ChatChoiceOutput {
        let text = String(decoding: content, as: UTF8.self)
        return ChatChoiceOutput(
            index: index, content: calls.isEmpty || !text.isEmpty ? text : nil,
            reasoningContent: sawReasoning ? String(decoding: reasoning, as: UTF8.self) : nil, toolCalls: calls,
            logprobs: logprobsRequested ? logprobs : nil, finishReason: finishReason)
    }
}
