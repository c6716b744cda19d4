import JSON
import OpenAIAPI
import Synchronization

@testable import APIServer

/// Ids 0..<256 are single bytes; ids >= 256 are entries of `vocabulary` (multi-byte pieces and specials).
struct FakeCodec: TextCodec {
    static let vocabulary = ["<|role_end|>", "<|endoftext|>", "<tool_call>", "</tool_call>", "<think>", "</think>"]
    static let eos = 256
    let maxTokenId = 157_152

    var eosTokenIds: Set<Int> { [256, 257] }
    var toolCallStartTokenId: Int? { 258 }
    var toolCallEndTokenId: Int? { 259 }

    func encode(_ text: String, addSpecialTokens: Bool) -> [Int] { text.utf8.map { Int($0) } }

    func tokenBytes(_ tokenId: Int) -> [UInt8] {
        if tokenId < 256 { return [UInt8(tokenId)] }
        let index = tokenId - 256
        return index < Self.vocabulary.count ? Array(Self.vocabulary[index].utf8) : []
    }

    func decode(_ tokenIds: [Int]) -> String { String(decoding: tokenIds.flatMap(tokenBytes), as: UTF8.self) }

    func makeIncrementalDecoder() -> any IncrementalDecoder { FakeDecoder(codec: self) }

    /// Ids for a text: specials from the vocabulary when they appear, bytes otherwise.
    static func ids(_ text: String) -> [Int] {
        var ids: [Int] = []
        var rest = Substring(text)
        outer: while !rest.isEmpty {
            for (index, special) in vocabulary.enumerated() where rest.hasPrefix(special) {
                ids.append(256 + index)
                rest = rest.dropFirst(special.count)
                continue outer
            }
            let character = rest.removeFirst()
            ids += String(character).utf8.map { Int($0) }
        }
        return ids
    }
}

/// Releases bytes only at complete UTF-8 characters.
struct FakeDecoder: IncrementalDecoder {
    let codec: FakeCodec
    var pending: [UInt8] = []

    mutating func append(_ tokenId: Int) -> [UInt8] {
        pending += codec.tokenBytes(tokenId)
        var end = pending.count
        // Back off over an incomplete trailing sequence.
        var back = 0
        while back < min(4, end) && (pending[end - 1 - back] & 0xC0) == 0x80 { back += 1 }
        if back < end {
            let lead = pending[end - 1 - back]
            let need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1
            if need > back + 1 { end -= back + 1 }
        }
        let released = Array(pending[..<end])
        pending.removeFirst(end)
        return released
    }

    mutating func finish() -> [UInt8] {
        defer { pending = [] }
        return pending.isEmpty ? [] : Array("\u{FFFD}".utf8)
    }
}

struct FakeRenderer: PromptRenderer {
    func render(messages: [JSONValue], tools: JSONValue?, addGenerationPrompt: Bool) throws -> String {
        var text = ""
        if let tools { text += "TOOLS:" + tools.compactJSON() + "\n" }
        for message in messages { text += (message["role"]?.stringValue ?? "?") + ":" + (message["content"]?.stringValue ?? "") + "\n" }
        return text + (addGenerationPrompt ? "assistant:" : "")
    }
}

/// Plays scripted events per submitted request; records submissions, cancels and stops.
final class FakeBackend: GenerationBackend {
    struct State {
        var submitted: [GenerationRequest] = []
        var cancelled: [GenerationRequestID] = []
        var stopped: [(GenerationRequestID, Int)] = []
        var continuations: [GenerationRequestID: AsyncStream<GenerationEvent>.Continuation] = [:]
    }

    let state = Mutex(State())
    let script: @Sendable (GenerationRequest) -> [GenerationEvent]
    let admission: AdmissionResult?
    /// Keep the stream open after the script (to test cancellation).
    let holdOpen: Bool

    init(admission: AdmissionResult? = nil, holdOpen: Bool = false, script: @escaping @Sendable (GenerationRequest) -> [GenerationEvent]) {
        self.script = script
        self.admission = admission
        self.holdOpen = holdOpen
    }

    var submitted: [GenerationRequest] { state.withLock { $0.submitted } }
    var cancelled: [GenerationRequestID] { state.withLock { $0.cancelled } }
    var stoppedChoices: [Int] { state.withLock { $0.stopped.map(\.1) } }

    func submit(_ request: GenerationRequest) -> AdmissionResult {
        state.withLock { $0.submitted.append(request) }
        if let admission { return admission }
        let (stream, continuation) = AsyncStream<GenerationEvent>.makeStream()
        for event in script(request) { continuation.yield(event) }
        if holdOpen {
            state.withLock { $0.continuations[request.id] = continuation }
        } else {
            continuation.finish()
        }
        return .accepted(stream)
    }

    func cancel(requestID: GenerationRequestID) {
        let continuation = state.withLock { state -> AsyncStream<GenerationEvent>.Continuation? in
            state.cancelled.append(requestID)
            return state.continuations.removeValue(forKey: requestID)
        }
        continuation?.yield(.step(choiceIndex: 0, tokens: [], finish: .cancelled))
        continuation?.finish()
    }

    func stopChoice(requestID: GenerationRequestID, choiceIndex: Int) {
        state.withLock { $0.stopped.append((requestID, choiceIndex)) }
    }
}

/// Records what the server sends. `disconnectAfterWrites`: the client goes away after that many writes.
final class RecordingSink: ResponseSink {
    struct State {
        var status: Int?
        var headers: [(name: String, value: String)] = []
        var body: [UInt8] = []
        var events: [String] = []
        /// The `event:` line of each event ("" when it has none).
        var eventNames: [String] = []
        var streamed = false
        var finished = false
        var disconnectHandler: (@Sendable () -> Void)?
        var writes = 0
        var gone = false
    }

    let state = Mutex(State())
    let disconnectAfterWrites: Int?
    /// Disconnect as soon as the handler is registered (client left while queued).
    let disconnectOnRegister: Bool

    init(disconnectAfterWrites: Int? = nil, disconnectOnRegister: Bool = false) {
        self.disconnectAfterWrites = disconnectAfterWrites
        self.disconnectOnRegister = disconnectOnRegister
    }

    var status: Int? { state.withLock { $0.status } }
    var bodyText: String { state.withLock { String(decoding: $0.body, as: UTF8.self) } }
    var events: [String] { state.withLock { $0.events } }
    var eventNames: [String] { state.withLock { $0.eventNames } }
    var finished: Bool { state.withLock { $0.finished } }
    func header(_ name: String) -> String? {
        state.withLock { $0.headers.first { $0.name.lowercased() == name.lowercased() }?.value }
    }
    var json: JSONValue? { try? JSONParser.parse(state.withLock { $0.body }) }
    /// The `data:` payloads parsed as JSON (except `[DONE]`).
    var eventJSON: [JSONValue] { events.filter { $0 != "[DONE]" }.compactMap { try? JSONParser.parse($0) } }

    func respond(status: Int, headers: [(name: String, value: String)], body: [UInt8]) async {
        state.withLock {
            $0.status = status
            $0.headers = headers
            $0.body = body
        }
    }

    func startStream(status: Int, headers: [(name: String, value: String)]) async {
        state.withLock {
            $0.status = status
            $0.headers = headers
            $0.streamed = true
        }
    }

    func write(_ bytes: [UInt8]) async -> Bool {
        let (accepted, handler) = state.withLock { state -> (Bool, (@Sendable () -> Void)?) in
            if state.gone { return (false, nil) }
            if let limit = disconnectAfterWrites, state.writes >= limit {
                state.gone = true
                return (false, state.disconnectHandler)
            }
            state.writes += 1
            var text = String(decoding: bytes, as: UTF8.self)
            var name = ""
            if text.hasPrefix("event: "), let newline = text.firstIndex(of: "\n") {
                name = String(text[text.index(text.startIndex, offsetBy: 7)..<newline])
                text = String(text[text.index(after: newline)...])
            }
            state.eventNames.append(name)
            precondition(text.hasPrefix("data: ") && text.hasSuffix("\n\n"), "bad SSE framing: \(text)")
            text = String(text.dropFirst(6).dropLast(2))
            state.events.append(text)
            return (true, nil)
        }
        handler?()
        return accepted
    }

    func finishStream() async { state.withLock { $0.finished = true } }

    func onDisconnect(_ handler: @escaping @Sendable () -> Void) {
        state.withLock { $0.disconnectHandler = handler }
        if disconnectOnRegister {
            state.withLock { $0.gone = true }
            handler()
        }
    }
}

/// Scripted steps: each element is one engine step of one choice as text (specials by name).
func steps(_ choice: Int, _ texts: [String], finish: GenerationFinishReason, eos: Bool = true) -> [GenerationEvent] {
    var events: [GenerationEvent] = []
    for (position, text) in texts.enumerated() {
        var tokens = FakeCodec.ids(text).map { SampledToken(id: $0) }
        let last = position == texts.count - 1
        if last && eos && finish == .stopToken { tokens.append(SampledToken(id: FakeCodec.eos)) }
        events.append(.step(choiceIndex: choice, tokens: tokens, finish: last ? finish : nil))
    }
    return events
}

func makeServer(
    backend: FakeBackend, apiKeys: [String] = [], metricsWithoutAuth: Bool = false, maxModelLength: Int = 4096,
    configure: (inout APIServerConfiguration) -> Void = { _ in }
) -> APIServer {
    let counter = Atomic<Int>(0)
    var configuration = APIServerConfiguration(
        model: ModelCard(id: "Ling-mini-2.0", root: "Ling-mini-2.0", created: 1_732_270_000, maxModelLength: maxModelLength),
        systemFingerprint: "fp_test", apiKeys: apiKeys, metricsWithoutAuth: metricsWithoutAuth)
    configure(&configuration)
    return APIServer(
        configuration: configuration,
        backend: backend, codec: FakeCodec(), renderer: FakeRenderer(), clock: { 1_732_270_000.5 },
        makeID: { prefix in
            let value = counter.wrappingAdd(1, ordering: .relaxed).newValue
            return prefix + String(value)
        })
}

func post(_ path: String, _ body: String, headers: [(name: String, value: String)] = []) -> APIRequest {
    APIRequest(method: "POST", target: path, headers: [("Content-Type", "application/json")] + headers, body: Array(body.utf8))
}
