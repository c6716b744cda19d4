import JSON

/// Turns the SSE events of one streamed response into a `RequestOutput`, with vLLM's definitions:
/// TTFT at the first event with non-empty `choices` (whatever its delta), ITL between consecutive such events,
/// E2EL at the last one; the usage chunk and `[DONE]` carry no timing. Output tokens come from
/// `usage.completion_tokens`; without usage they are the count of events that carried text.
public struct StreamRecorder: Sendable {
    public private(set) var output = RequestOutput()
    private var lastChoiceTime = 0.0
    private var contentEventCount = 0
    public private(set) var sawDone = false

    public init(startTime: Double, promptLength: Int, expectedOutputLength: Int) {
        output.startTime = startTime
        output.promptLength = promptLength
        output.expectedOutputLength = expectedOutputLength
    }

    /// One event's data, received at monotonic time `timestamp`.
    public mutating func handleEvent(_ data: UnsafeBufferPointer<UInt8>, timestamp: Double) {
        if data.count == 6, data[0] == UInt8(ascii: "["), data[1] == UInt8(ascii: "D") {  // "[DONE]"
            sawDone = true
            return
        }
        let value: JSONValue
        do {
            value = try JSONParser.parse(data)
        } catch {
            fail(.streamError, "unparsable event: \(String(decoding: data.prefix(200), as: UTF8.self))")
            return
        }
        if let choices = value["choices"]?.arrayValue, let choice = choices.first {
            if output.ttft == 0.0 && lastChoiceTime == 0.0 {
                output.ttft = timestamp - output.startTime
            } else {
                output.itl.append(timestamp - lastChoiceTime)
            }
            lastChoiceTime = timestamp
            output.latency = timestamp - output.startTime
            var text = ""
            if let delta = choice["delta"] {
                if let content = delta["content"]?.stringValue { text += content }
                if let reasoning = delta["reasoning_content"]?.stringValue { text += reasoning }
                if let reasoning = delta["reasoning"]?.stringValue { text += reasoning }
                if let calls = delta["tool_calls"]?.arrayValue {
                    for call in calls { text += call["function"]?["arguments"]?.stringValue ?? "" }
                }
            } else if let completionText = choice["text"]?.stringValue {
                text = completionText
            }
            if !text.isEmpty {
                contentEventCount += 1
                output.generatedText += text
            }
        } else if let error = value["error"], !error.isNull {
            let message = error["message"]?.stringValue ?? error.compactJSON()
            fail(.streamError, message)
        }
        if let usage = value["usage"], let completionTokens = usage["completion_tokens"]?.intValue {
            output.outputTokenCount = completionTokens
            output.outputTokensFromUsage = true
            output.serverPromptTokenCount = usage["prompt_tokens"]?.intValue
            output.cachedTokenCount = usage["prompt_tokens_details"]?["cached_tokens"]?.intValue
        }
    }

    public mutating func fail(_ kind: RequestErrorKind, _ message: String) {
        if output.errorKind == nil {
            output.errorKind = kind
            output.error = message
        }
    }

    /// Closes the record once the transfer ended cleanly.
    public mutating func finish() -> RequestOutput {
        if output.errorKind == nil && lastChoiceTime == 0.0 {
            fail(.noOutput, "the stream carried no choices")
        }
        if !output.outputTokensFromUsage { output.outputTokenCount = contentEventCount }
        output.success = output.errorKind == nil
        return output
    }
}
