/// Why a request failed, for the "errors by kind" table.
public enum RequestErrorKind: Sendable, Equatable, Hashable {
    case httpStatus(Int)
    case connection
    case timeout
    case streamError  // an `{"error": …}` event inside a 200 stream
    case noOutput  // the stream ended without any choices-carrying event

    public var label: String {
        switch self {
        case .httpStatus(let status): return "HTTP \(status)"
        case .connection: return "connection error"
        case .timeout: return "timeout"
        case .streamError: return "in-stream error"
        case .noOutput: return "empty stream"
        }
    }
}

/// One measured request, with vLLM's `RequestFuncOutput` fields. Times in seconds.
public struct RequestOutput: Sendable {
    public var success = false
    /// Prompt tokens as the workload measured them (vLLM's `prompt_len`).
    public var promptLength = 0
    /// `usage.completion_tokens`, or the number of content-carrying events when the server sent no usage.
    public var outputTokenCount = 0
    public var outputTokensFromUsage = false
    /// Requested maximum (`max_completion_tokens` / `max_tokens`).
    public var expectedOutputLength = 0
    public var ttft = 0.0
    /// Gaps between consecutive choices-carrying events.
    public var itl: [Double] = []
    /// Send → last choices-carrying event.
    public var latency = 0.0
    /// Monotonic send time.
    public var startTime = 0.0
    /// Time spent waiting for a concurrency slot (send time − scheduled arrival).
    public var queueTime = 0.0
    public var generatedText = ""
    public var error = ""
    public var errorKind: RequestErrorKind?
    public var serverPromptTokenCount: Int?
    public var cachedTokenCount: Int?

    public init() {}
}
