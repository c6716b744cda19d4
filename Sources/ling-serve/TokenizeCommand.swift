import ArgumentParser
import Foundation
import Tokenizers

/// `ling-serve tokenize`: prints the ids of a text as `{"ids": [...]}`.
struct TokenizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenize", abstract: "Print the token ids of a text as JSON: {\"ids\": [...]}.")

    @Option(help: "Model directory or Hugging Face repository (ORG/NAME[@REVISION]) holding tokenizer.json (and tokenizer_config.json).")
    var model: String
    @OptionGroup var hub: HubOptions

    @Option(help: "The text to tokenize.")
    var text: String

    @Flag(help: "Apply the post-processor's special tokens (e.g. a BOS), like add_special_tokens=True.")
    var addSpecialTokens = false

    mutating func validate() throws { model = try hub.resolve(model) }

    func run() throws {
        let tokenizer = try ModelFiles.tokenizer(model)
        let ids = tokenizer.encode(text, addSpecialTokens: addSpecialTokens)
        print("{\"ids\": [\(ids.map(String.init).joined(separator: ", "))]}")
    }
}

/// `ling-serve tokenizer-bench`: encode throughput on a text file (hidden; scripts/tokenizer/bench.sh uses it).
struct TokenizerBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenizer-bench", abstract: "Measure tokenizer encode throughput (MB/s) on a file.",
        shouldDisplay: false)

    @Option(help: "Model directory or Hugging Face repository (ORG/NAME[@REVISION]) holding tokenizer.json.")
    var model: String
    @OptionGroup var hub: HubOptions

    @Option(help: "UTF-8 text file to encode (as one string, single-threaded).")
    var file: String

    @Option(help: "Timed repetitions; the best is reported.")
    var repeats = 3

    /// Lines joined into documents of at least `chunkSize` bytes (bench_python.py cuts identically).
    static func documents(_ data: Data, chunkSize: Int = 8192) -> [String] {
        let bytes = [UInt8](data)
        var result: [String] = []
        var start = 0
        var index = 0
        while index < bytes.count {
            if bytes[index] == 0x0A && index + 1 - start >= chunkSize {
                result.append(String(decoding: bytes[start...index], as: UTF8.self))
                start = index + 1
            }
            index += 1
        }
        if start < bytes.count { result.append(String(decoding: bytes[start...], as: UTF8.self)) }
        return result
    }

    mutating func validate() throws { model = try hub.resolve(model) }

    func run() throws {
        let tokenizer = try ModelFiles.tokenizer(model)
        guard let data = FileManager.default.contents(atPath: file) else {
            throw ValidationError("cannot read \(file)")
        }
        let text = String(decoding: data, as: UTF8.self)
        let megabytes = Double(data.count) / 1_000_000
        for (mode, inputs) in [("whole", [text]), ("documents", Self.documents(data))] {
            var best = Double.infinity
            var tokenCount = 0
            for _ in 0..<max(1, repeats) {
                let start = DispatchTime.now().uptimeNanoseconds
                tokenCount = 0
                for input in inputs { tokenCount += tokenizer.encodeIds(input).count }
                let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
                best = min(best, seconds)
            }
            print(
                "{\"implementation\": \"ling-serve\", \"mode\": \"\(mode)\", \"inputs\": \(inputs.count), "
                    + "\"bytes\": \(data.count), \"tokens\": \(tokenCount), \"seconds\": \(String(format: "%.4f", best)), "
                    + "\"mb_per_s\": \(String(format: "%.2f", megabytes / best))}")
        }
    }
}
