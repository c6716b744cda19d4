import JSON

/// Direct byte writers for the hot streaming path (one chunk per token and choice). They produce exactly what
/// `JSONValue.compactJSON()` produces for the same values; tests pin both to the same strings.
enum JSONBytes {
    static func append(_ literal: StaticString, to output: inout [UInt8]) {
        literal.withUTF8Buffer { output.append(contentsOf: $0) }
    }

    static func appendInt(_ value: Int, to output: inout [UInt8]) {
        output.append(contentsOf: String(value).utf8)
    }
}

extension ChatResponseEncoding {
    /// The common chunk (role, text, reasoning or empty delta; no logprobs) written straight to bytes.
    static func fastChunk(
        header: ResponseHeader, index: Int, delta: ChatDelta, finishReason: FinishReason?, includeUsage: Bool
    ) -> [UInt8]? {
        var output: [UInt8] = []
        output.reserveCapacity(200 + header.model.utf8.count)
        JSONBytes.append(#"{"id":"#, to: &output)
        appendJSONQuoted(header.id, to: &output)
        JSONBytes.append(#","object":"chat.completion.chunk","created":"#, to: &output)
        JSONBytes.appendInt(header.created, to: &output)
        JSONBytes.append(#","model":"#, to: &output)
        appendJSONQuoted(header.model, to: &output)
        JSONBytes.append(#","system_fingerprint":"#, to: &output)
        appendJSONQuoted(header.systemFingerprint, to: &output)
        JSONBytes.append(#","choices":[{"index":"#, to: &output)
        JSONBytes.appendInt(index, to: &output)
        switch delta {
        case .empty: JSONBytes.append(#","delta":{}"#, to: &output)
        case .role: JSONBytes.append(#","delta":{"role":"assistant","content":""}"#, to: &output)
        case .content(let text):
            JSONBytes.append(#","delta":{"content":"#, to: &output)
            appendJSONQuoted(text, to: &output)
            output.append(0x7D)
        case .reasoning(let text):
            JSONBytes.append(#","delta":{"reasoning_content":"#, to: &output)
            appendJSONQuoted(text, to: &output)
            output.append(0x7D)
        case .toolCallStart, .toolCallArguments: return nil
        }
        JSONBytes.append(#","logprobs":null,"finish_reason":"#, to: &output)
        if let finishReason {
            appendJSONQuoted(finishReason.rawValue, to: &output)
        } else {
            JSONBytes.append("null", to: &output)
        }
        JSONBytes.append("}]", to: &output)
        if includeUsage { JSONBytes.append(#","usage":null"#, to: &output) }
        output.append(0x7D)
        return output
    }
}
