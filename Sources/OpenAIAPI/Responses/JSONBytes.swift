/// Direct byte writers for the hot streaming path (one chunk per token and choice). They produce exactly what
/// `JSONValue.compactJSON()` produces for the same values; tests pin both to the same strings.
enum JSONBytes {
    static func append(_ literal: StaticString, to output: inout [UInt8]) {
        literal.withUTF8Buffer { output.append(contentsOf: $0) }
    }

    /// A JSON string with the escapes of the JSON module (`\"`, `\\`, `\b`, `\f`, `\n`, `\r`, `\t`, `\u00XX` for
    /// other controls); non-ASCII UTF-8 is copied as is.
    static func appendString(_ text: String, to output: inout [UInt8]) {
        output.append(0x22)
        for byte in text.utf8 {
            switch byte {
            case 0x22: output += [0x5C, 0x22]
            case 0x5C: output += [0x5C, 0x5C]
            case 0x08: output += [0x5C, 0x62]
            case 0x0C: output += [0x5C, 0x66]
            case 0x0A: output += [0x5C, 0x6E]
            case 0x0D: output += [0x5C, 0x72]
            case 0x09: output += [0x5C, 0x74]
            case 0x00..<0x20:
                let hex: [UInt8] = Array("0123456789abcdef".utf8)
                output += [0x5C, 0x75, 0x30, 0x30, hex[Int(byte >> 4)], hex[Int(byte & 0x0F)]]
            default: output.append(byte)
            }
        }
        output.append(0x22)
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
        JSONBytes.appendString(header.id, to: &output)
        JSONBytes.append(#","object":"chat.completion.chunk","created":"#, to: &output)
        JSONBytes.appendInt(header.created, to: &output)
        JSONBytes.append(#","model":"#, to: &output)
        JSONBytes.appendString(header.model, to: &output)
        JSONBytes.append(#","system_fingerprint":"#, to: &output)
        JSONBytes.appendString(header.systemFingerprint, to: &output)
        JSONBytes.append(#","choices":[{"index":"#, to: &output)
        JSONBytes.appendInt(index, to: &output)
        switch delta {
        case .empty: JSONBytes.append(#","delta":{}"#, to: &output)
        case .role: JSONBytes.append(#","delta":{"role":"assistant","content":""}"#, to: &output)
        case .content(let text):
            JSONBytes.append(#","delta":{"content":"#, to: &output)
            JSONBytes.appendString(text, to: &output)
            output.append(0x7D)
        case .reasoning(let text):
            JSONBytes.append(#","delta":{"reasoning_content":"#, to: &output)
            JSONBytes.appendString(text, to: &output)
            output.append(0x7D)
        case .toolCallStart, .toolCallArguments: return nil
        }
        JSONBytes.append(#","logprobs":null,"finish_reason":"#, to: &output)
        if let finishReason {
            JSONBytes.appendString(finishReason.rawValue, to: &output)
        } else {
            JSONBytes.append("null", to: &output)
        }
        JSONBytes.append("}]", to: &output)
        if includeUsage { JSONBytes.append(#","usage":null"#, to: &output) }
        output.append(0x7D)
        return output
    }
}
