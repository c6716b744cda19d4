#if canImport(Glibc)
import Glibc
import JSON
#endif

/// Which prompts a run sends (`--dataset-name`).
public enum DatasetName: String, CaseIterable, Sendable {
    case random, sharegpt, jsonl, custom, prefix, multiturn
}

/// Dataset options, with vLLM's flag names and defaults.
public struct WorkloadOptions: Sendable {
    public var dataset: DatasetName = .random
    public var datasetPath: String?
    public var promptCount = 1000
    public var randomInputLength = 1024
    public var randomOutputLength = 128
    public var randomRangeRatio = 0.0
    public var randomPrefixLength = 0
    public var sharegptOutputLength: Int?
    public var customOutputLength = 256
    public var prefixRepetitionPrefixLength = 256
    public var prefixRepetitionSuffixLength = 256
    public var prefixRepetitionPrefixCount = 10
    public var prefixRepetitionOutputLength = 128
    public var multiturnTurnCount = 4
    public var seed: UInt64 = 0

    public init() {}
}

/// Builds the conversations of a run. Random text comes from the server's tokenizer when it has one (exact
/// lengths); otherwise from a word list with about one token per word (lengths approximate, and `warnings` says so).
public struct WorkloadBuilder {
    public let options: WorkloadOptions
    public let tokenizer: ServerTokenizer?
    public private(set) var warnings: [String] = []
    private var generator: SeededGenerator
    /// Token ids drawn for random prompts: clear of the special tokens at both ends of common vocabularies, and
    /// never above the largest id the server's tokenizer produced for `vocabularyProbe` (small vocabularies).
    static let randomTokenRange = 1000..<30000
    /// Varied text whose tokenization shows how large the server's vocabulary is.
    static let vocabularyProbe = """
        The quick brown fox jumps over the lazy dog. import numpy as np; def main(argv): return {"key": [1, 2, 3]}
        Benchmarking servers requires prompts with realistic tokens, punctuation, numbers like 31415 and names.
        """
    private var tokenRange: Range<Int>?

    /// The id range random prompts draw from, adapted once to the server's vocabulary.
    private mutating func drawRange(_ tokenizer: ServerTokenizer) throws -> Range<Int> {
        if let tokenRange { return tokenRange }
        let largest = try tokenizer.tokenize(Self.vocabularyProbe).max() ?? 0
        var range = Self.randomTokenRange
        if largest < range.upperBound {
            range = min(range.lowerBound, largest / 6)..<max(largest, 2)
        }
        tokenRange = range
        return range
    }

    public init(options: WorkloadOptions, tokenizer: ServerTokenizer?) {
        self.options = options
        self.tokenizer = tokenizer
        self.generator = SeededGenerator(seed: options.seed)
        if tokenizer == nil {
            warnings.append(
                "the server has no /tokenize and /detokenize routes: prompt lengths are estimated (about one token "
                    + "per word) and input token totals are approximate")
        }
    }

    public mutating func build() throws -> [Conversation] {
        switch options.dataset {
        case .random: return try buildRandom()
        case .sharegpt: return try buildShareGPT(multiturn: false)
        case .jsonl, .custom: return try buildJSONLines()
        case .prefix: return try buildPrefixRepetition()
        case .multiturn:
            return options.datasetPath != nil ? try buildShareGPT(multiturn: true) : try buildSyntheticMultiturn()
        }
    }

    // MARK: random

    /// vLLM's range: uniform integers in [⌊n(1−r)⌋, ⌈n(1+r)⌉].
    mutating func sampleLength(_ n: Int, ratio: Double) -> Int {
        let low = max(1, Int((Double(n) * (1 - ratio)).rounded(.down)))
        let high = max(low, Int((Double(n) * (1 + ratio)).rounded(.up)))
        return low + Int(generator.next() % UInt64(high - low + 1))
    }

    mutating func buildRandom() throws -> [Conversation] {
        let prefix = options.randomPrefixLength > 0 ? try randomText(tokenCount: options.randomPrefixLength) : nil
        var conversations: [Conversation] = []
        conversations.reserveCapacity(options.promptCount)
        for _ in 0..<options.promptCount {
            let inputLength = sampleLength(options.randomInputLength, ratio: options.randomRangeRatio)
            let outputLength = sampleLength(options.randomOutputLength, ratio: options.randomRangeRatio)
            let body = try randomText(tokenCount: inputLength)
            var turn = PromptTurn(text: body.text, promptLength: body.tokenCount, outputLength: outputLength)
            if let prefix {
                turn.text = prefix.text + body.text
                turn.promptLength = try tokenizer?.count(turn.text) ?? (prefix.tokenCount + body.tokenCount)
            }
            conversations.append(Conversation(turns: [turn]))
        }
        return conversations
    }

    /// Text of exactly `tokenCount` tokens under the server's tokenizer: random ids, detokenized, re-tokenized and
    /// trimmed or topped up until the round trip is stable (a few rounds at most).
    mutating func randomText(tokenCount: Int) throws -> (text: String, tokenCount: Int) {
        guard let tokenizer else {
            var words: [String] = []
            words.reserveCapacity(tokenCount)
            for _ in 0..<tokenCount { words.append(Self.words[Int(generator.next() % UInt64(Self.words.count))]) }
            return (words.joined(separator: " "), tokenCount)
        }
        let range = try drawRange(tokenizer)
        var ids = (0..<tokenCount).map { _ in range.lowerBound + Int(generator.next() % UInt64(range.count)) }
        for _ in 0..<6 {
            let text = try tokenizer.detokenize(ids)
            let actual = try tokenizer.tokenize(text)
            if actual.count == tokenCount { return (text, tokenCount) }
            if actual.count > tokenCount {
                ids = Array(actual.prefix(tokenCount))
            } else {
                ids = actual
                while ids.count < tokenCount { ids.append(range.lowerBound + Int(generator.next() % UInt64(range.count))) }
            }
        }
        let text = try tokenizer.detokenize(ids)
        return (text, try tokenizer.count(text))
    }

    // MARK: prefix repetition

    mutating func buildPrefixRepetition() throws -> [Conversation] {
        let prefixCount = max(1, options.prefixRepetitionPrefixCount)
        var prefixes: [(text: String, tokenCount: Int)] = []
        for _ in 0..<prefixCount { prefixes.append(try randomText(tokenCount: options.prefixRepetitionPrefixLength)) }
        var conversations: [Conversation] = []
        for i in 0..<options.promptCount {
            let prefix = prefixes[i % prefixCount]
            let suffix = try randomText(tokenCount: options.prefixRepetitionSuffixLength)
            let text = prefix.text + suffix.text
            let length = try tokenizer?.count(text) ?? (prefix.tokenCount + suffix.tokenCount)
            conversations.append(
                Conversation(turns: [
                    PromptTurn(text: text, promptLength: length, outputLength: options.prefixRepetitionOutputLength)
                ]))
        }
        shuffle(&conversations)
        return conversations
    }

    // MARK: synthetic multi-turn

    mutating func buildSyntheticMultiturn() throws -> [Conversation] {
        var conversations: [Conversation] = []
        for _ in 0..<options.promptCount {
            var turns: [PromptTurn] = []
            for _ in 0..<max(1, options.multiturnTurnCount) {
                let inputLength = sampleLength(options.randomInputLength, ratio: options.randomRangeRatio)
                let outputLength = sampleLength(options.randomOutputLength, ratio: options.randomRangeRatio)
                let body = try randomText(tokenCount: inputLength)
                turns.append(PromptTurn(text: body.text, promptLength: body.tokenCount, outputLength: outputLength))
            }
            conversations.append(Conversation(turns: turns))
        }
        return conversations
    }

    // MARK: files

    func readFile(_ path: String) throws -> [UInt8] {
        guard let file = fopen(path, "rb") else { throw BenchError("--dataset-path: cannot open '\(path)'") }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = chunk.withUnsafeMutableBytes { fread($0.baseAddress, 1, $0.count, file) }
            if count <= 0 { break }
            bytes.append(contentsOf: chunk[0..<count])
        }
        return bytes
    }

    func tokenCount(_ text: String) throws -> Int {
        if let tokenizer { return try tokenizer.count(text) }
        return max(1, text.utf8.count / 4)
    }

    mutating func shuffle<T>(_ items: inout [T]) {
        guard items.count > 1 else { return }
        for i in stride(from: items.count - 1, to: 0, by: -1) {
            let j = Int(generator.next() % UInt64(i + 1))
            items.swapAt(i, j)
        }
    }

    /// ShareGPT: `[{"conversations": [{"from": "human", "value": …}, {"from": "gpt", "value": …}, …]}, …]`.
    /// Single-turn keeps vLLM's filter (prompt and output ≥ 4 tokens, prompt ≤ 1024, total ≤ 2048).
    mutating func buildShareGPT(multiturn: Bool) throws -> [Conversation] {
        guard let path = options.datasetPath else { throw BenchError("--dataset-name sharegpt needs --dataset-path") }
        let document = try JSONParser.parse(try readFile(path), limits: .pythonFiles)
        guard var entries = document.arrayValue else { throw BenchError("\(path): expected a JSON array of entries") }
        shuffle(&entries)
        var conversations: [Conversation] = []
        for entry in entries where conversations.count < options.promptCount {
            guard let messages = (entry["conversations"] ?? entry["conversation"])?.arrayValue, messages.count >= 2
            else { continue }
            var turns: [PromptTurn] = []
            var index = 0
            while index + 1 < messages.count {
                guard let prompt = messages[index]["value"]?.stringValue,
                    let completion = messages[index + 1]["value"]?.stringValue
                else { break }
                let promptLength = try tokenCount(prompt)
                let outputLength = try options.sharegptOutputLength ?? tokenCount(completion)
                turns.append(PromptTurn(text: prompt, promptLength: promptLength, outputLength: outputLength))
                index += 2
                if !multiturn || turns.count >= options.multiturnTurnCount { break }
            }
            guard let first = turns.first else { continue }
            if !multiturn {
                if first.promptLength < 4 || (options.sharegptOutputLength == nil && first.outputLength < 4) { continue }
                if first.promptLength > 1024 || first.promptLength + first.outputLength > 2048 { continue }
            }
            conversations.append(Conversation(turns: turns))
        }
        guard !conversations.isEmpty else { throw BenchError("\(path): no usable conversations") }
        return conversations
    }

    /// JSON lines, one `{"prompt": "…"}` per line (optional `output_tokens` or `max_tokens` per line); cycled
    /// when the file has fewer lines than `--num-prompts`.
    mutating func buildJSONLines() throws -> [Conversation] {
        guard let path = options.datasetPath else { throw BenchError("--dataset-name jsonl needs --dataset-path") }
        let bytes = try readFile(path)
        var items: [Conversation] = []
        var lineNumber = 0
        for line in bytes.split(separator: 0x0A, omittingEmptySubsequences: false) {
            lineNumber += 1
            if line.allSatisfy({ $0 == 0x20 || $0 == 0x0D || $0 == 0x09 }) { continue }
            let value: JSONValue
            do { value = try JSONParser.parse(Array(line), limits: .pythonFiles) } catch {
                throw BenchError("\(path):\(lineNumber): \(error)")
            }
            guard let prompt = value["prompt"]?.stringValue else {
                throw BenchError("\(path):\(lineNumber): missing string field 'prompt'")
            }
            let outputLength = value["output_tokens"]?.intValue ?? value["max_tokens"]?.intValue
                ?? options.customOutputLength
            items.append(
                Conversation(turns: [
                    PromptTurn(text: prompt, promptLength: try tokenCount(prompt), outputLength: outputLength)
                ]))
        }
        guard !items.isEmpty else { throw BenchError("\(path): no prompts") }
        shuffle(&items)
        return (0..<options.promptCount).map { items[$0 % items.count] }
    }

    static let words = [
        "time", "year", "people", "way", "day", "man", "thing", "woman", "life", "child", "world", "school", "state",
        "family", "student", "group", "country", "problem", "hand", "part", "place", "case", "week", "company",
        "system", "program", "question", "work", "government", "number", "night", "point", "home", "water", "room",
        "mother", "area", "money", "story", "fact", "month", "lot", "right", "study", "book", "eye", "job", "word",
        "business", "issue", "side", "kind", "head", "house", "service", "friend", "father", "power", "hour", "game",
        "line", "end", "member", "law", "car", "city", "community", "name", "president", "team", "minute", "idea",
        "kid", "body", "information", "back", "parent", "face", "others", "level", "office", "door", "health",
        "person", "art", "war", "history", "party", "result", "change", "morning", "reason", "research", "girl",
        "guy", "moment", "air", "teacher", "force", "education",
    ]
}
