import JSON

/// The sampling and stopping fields shared by chat completions and completions (§6.2). nil = "not given", so the
/// operator's defaults apply later.
public struct SamplingOptions: Sendable, Equatable {
    public var temperature: Double?
    public var topP: Double?
    /// nil when off (`-1`, `0` or not given).
    public var topK: Int?
    public var minP: Double?
    public var repetitionPenalty: Double?
    public var presencePenalty: Double = 0
    public var frequencyPenalty: Double = 0
    /// Token id -> bias in [-100, 100], in the order the client sent them.
    public var logitBias: [(tokenId: Int, bias: Double)] = []
    /// Any 64-bit integer, signed or unsigned, kept as its bit pattern.
    public var seed: UInt64?
    public var n: Int = 1
    public var stop: [String] = []
    public var stopTokenIds: [Int] = []
    public var ignoreEOS = false

    public init() {}

    public static func == (lhs: SamplingOptions, rhs: SamplingOptions) -> Bool {
        lhs.temperature == rhs.temperature && lhs.topP == rhs.topP && lhs.topK == rhs.topK && lhs.minP == rhs.minP
            && lhs.repetitionPenalty == rhs.repetitionPenalty && lhs.presencePenalty == rhs.presencePenalty
            && lhs.frequencyPenalty == rhs.frequencyPenalty && lhs.seed == rhs.seed && lhs.n == rhs.n
            && lhs.stop == rhs.stop && lhs.stopTokenIds == rhs.stopTokenIds && lhs.ignoreEOS == rhs.ignoreEOS
            && lhs.logitBias.map(\.tokenId) == rhs.logitBias.map(\.tokenId)
            && lhs.logitBias.map(\.bias) == rhs.logitBias.map(\.bias)
    }

    public init(from reader: FieldReader, limits: RequestLimits) throws(APIError) {
        temperature = try reader.double("temperature", in: 0...2)
        topP = try reader.double("top_p", in: 0...1, lowerExclusive: true)
        // -1 and 0 mean off (vLLM's and llama.cpp's spellings); above the vocabulary it keeps every token.
        if let k = try reader.int("top_k", in: -1...RequestLimits.maxRequestedTokenCount) { topK = k >= 1 ? k : nil }
        minP = try reader.double("min_p", in: 0...1)
        repetitionPenalty = try reader.double("repetition_penalty", in: 0...2, lowerExclusive: true)
        presencePenalty = try reader.double("presence_penalty", in: -2...2) ?? 0
        frequencyPenalty = try reader.double("frequency_penalty", in: -2...2) ?? 0
        logitBias = try Self.readLogitBias(reader, limits: limits)
        seed = try Self.readSeed(reader)
        if let count = try reader.int("n", in: 1...limits.maxN) { n = count }
        stop = try Self.readStop(reader, limits: limits)
        if let ids = try reader.array("stop_token_ids") {
            stopTokenIds = try TokenIdReader.read(ids, param: "stop_token_ids", limits: limits)
        }
        ignoreEOS = try reader.bool("ignore_eos") ?? false
    }

    private static func readLogitBias(_ reader: FieldReader, limits: RequestLimits) throws(APIError) -> [(Int, Double)] {
        guard let bias = try reader.object("logit_bias") else { return [] }
        guard bias.object.count <= limits.maxLogitBiasCount else {
            throw .invalidValue(param: "logit_bias", "logit_bias has \(bias.object.count) entries, at most "
                + "\(limits.maxLogitBiasCount) are allowed")
        }
        var result: [(Int, Double)] = []
        for member in bias.object {
            guard let id = Int(member.key), member.key.allSatisfy(\.isASCII), (0...limits.maxTokenId).contains(id)
            else {
                throw .invalidValue(param: "logit_bias", "logit_bias key '\(member.key)' is not a token id "
                    + "between 0 and \(limits.maxTokenId)")
            }
            guard case .number(let number) = member.value else {
                throw .invalidType(param: "logit_bias", expected: "an object of numbers")
            }
            let value = number.doubleValue
            guard value >= -100 && value <= 100 else {
                throw .invalidValue(param: "logit_bias", "logit_bias values must be between -100 and 100, got "
                    + "\(FieldReader.format(value)) for token \(id)")
            }
            result.append((id, value))
        }
        return result
    }

    private static func readSeed(_ reader: FieldReader) throws(APIError) -> UInt64? {
        guard let value = reader.value("seed") else { return nil }
        switch value {
        case .number(.int(let integer)): return UInt64(bitPattern: integer)
        case .number(.bigInt(let text)):
            guard let unsigned = UInt64(text) else {
                throw .invalidValue(param: "seed", "seed must be a 64-bit integer, got \(text)")
            }
            return unsigned
        case .number(.double(let double)) where double.rounded() == double && abs(double) < 9.2e18:
            return UInt64(bitPattern: Int64(double))
        case .number(.double(let double)) where double.rounded() == double || !double.isFinite:
            throw .invalidValue(param: "seed", "seed must be a 64-bit integer, got \(FieldReader.format(double))")
        default: throw .invalidType(param: "seed", expected: "an integer")
        }
    }

    private static func readStop(_ reader: FieldReader, limits: RequestLimits) throws(APIError) -> [String] {
        guard let value = reader.value("stop") else { return [] }
        var strings: [String]
        switch value {
        case .string(let text): strings = [text]
        case .array(let elements):
            strings = []
            for (index, element) in elements.enumerated() {
                guard case .string(let text) = element else {
                    throw .invalidType(param: "stop[\(index)]", expected: "a string")
                }
                strings.append(text)
            }
        default: throw .invalidType(param: "stop", expected: "a string or an array of strings")
        }
        guard (1...limits.maxStopCount).contains(strings.count) else {
            throw .invalidValue(param: "stop", "stop must hold 1 to \(limits.maxStopCount) strings, got \(strings.count)")
        }
        for text in strings where text.isEmpty || text.utf8.count > limits.maxStopBytes {
            throw .invalidValue(param: "stop", "stop strings must be non-empty and at most \(limits.maxStopBytes) bytes")
        }
        return strings
    }
}

/// Token id arrays (`stop_token_ids`, `tokens`, prompts as ids).
public enum TokenIdReader {
    public static func read(_ elements: [JSONValue], param: String, limits: RequestLimits) throws(APIError) -> [Int] {
        var ids: [Int] = []
        ids.reserveCapacity(elements.count)
        for (index, element) in elements.enumerated() {
            let elementParam = "\(param)[\(index)]"
            guard case .number(.int(let id)) = element else {
                if case .number = element {
                    throw .invalidValue(param: param, "\(elementParam) is not a token id between 0 and \(limits.maxTokenId)")
                }
                throw .invalidType(param: param, expected: "an array of integer token ids")
            }
            guard id >= 0 && id <= Int64(limits.maxTokenId) else {
                throw .invalidValue(param: param, "\(elementParam) = \(id) is not a token id between 0 and \(limits.maxTokenId)")
            }
            ids.append(Int(id))
        }
        return ids
    }
}
