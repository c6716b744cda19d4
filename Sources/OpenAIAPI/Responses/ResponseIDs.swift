/// Response and tool-call ids: a prefix (`chatcmpl-`, `cmpl-`, `call_`) and 24 random alphanumerics (§1).
public enum ResponseID {
    static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789".utf8)

    public static func make(prefix: String, using generator: inout some RandomNumberGenerator) -> String {
        // Six bits of a 64-bit draw per character, the values past the alphabet rejected, so each of the 62 is
        // equally likely; about three draws per id. (One draw per character made every request pay some 25
        // getrandom calls, 13% of the server's time under wrk on /health.)
        var bytes = [UInt8]()
        bytes.reserveCapacity(24)
        var draws = 0
        while bytes.count < 24 {
            var bits = generator.next()
            draws += 1
            if draws > 64 {  // only a generator stuck on values past the alphabet gets here: take them modulo 62
                bytes.append(alphabet[Int(bits % UInt64(alphabet.count))])
                continue
            }
            for _ in 0..<10 where bytes.count < 24 {
                let value = Int(bits & 63)
                bits >>= 6
                if value < alphabet.count { bytes.append(alphabet[value]) }
            }
        }
        return prefix + String(decoding: bytes, as: UTF8.self)
    }

    public static func make(prefix: String) -> String {
        var generator = SystemRandomNumberGenerator()
        return make(prefix: prefix, using: &generator)
    }
}

/// The fields every response and chunk of one request repeats; `created` is fixed once per response.
public struct ResponseHeader: Sendable, Equatable {
    public var id: String
    public var created: Int
    public var model: String
    public var systemFingerprint: String

    public init(id: String, created: Int, model: String, systemFingerprint: String) {
        self.id = id
        self.created = created
        self.model = model
        self.systemFingerprint = systemFingerprint
    }
}

/// `usage` (§6.9); `completionTokens` sums all choices, `promptTokens` counts the prompt once.
public struct Usage: Sendable, Equatable {
    public var promptTokens: Int
    public var completionTokens: Int
    public var cachedTokens: Int
    public var reasoningTokens: Int

    public init(promptTokens: Int, completionTokens: Int, cachedTokens: Int = 0, reasoningTokens: Int = 0) {
        self.promptTokens = promptTokens
        self.completionTokens = completionTokens
        self.cachedTokens = cachedTokens
        self.reasoningTokens = reasoningTokens
    }
}

/// `finish_reason` values.
public enum FinishReason: String, Sendable, Equatable {
    case stop, length
    case toolCalls = "tool_calls"
}

/// One chat `logprobs.content` entry (§6.11).
public struct LogprobEntry: Sendable, Equatable {
    public struct Alternative: Sendable, Equatable {
        public var token: String
        public var logprob: Double
        public var bytes: [UInt8]
        public init(token: String, logprob: Double, bytes: [UInt8]) {
            self.token = token
            self.logprob = logprob
            self.bytes = bytes
        }
    }

    public var token: String
    public var logprob: Double
    public var bytes: [UInt8]
    /// Exactly `top_logprobs` entries, by descending logprob.
    public var topLogprobs: [Alternative]

    public init(token: String, logprob: Double, bytes: [UInt8], topLogprobs: [Alternative]) {
        self.token = token
        self.logprob = logprob
        self.bytes = bytes
        self.topLogprobs = topLogprobs
    }
}

/// A tool call in a response: `arguments` is JSON text (or the decoded string the model wrote).
public struct ToolCallOutput: Sendable, Equatable {
    public var id: String
    public var name: String
    public var arguments: String
    public init(id: String, name: String, arguments: String) {
        self.id = id
        self.name = name
        self.arguments = arguments
    }
}
