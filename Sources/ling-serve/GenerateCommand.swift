import ArgumentParser
import Foundation
import Models

/// `ling-serve generate`: greedy decoding from token ids (or text once the tokenizer lands), with the KV cache.
struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Generate tokens from a prompt with a local Ling 2.0 checkpoint (greedy for now).")

    @Option(help: "Checkpoint folder (config.json, safetensors, generation_config.json).")
    var model: String

    @Option(help: "Prompt text (needs the tokenizer).")
    var prompt: String?

    @Option(name: .customLong("token-ids"), help: "Prompt token ids, comma separated: 1,2,3.")
    var tokenIds: String?

    @Option(name: .customLong("max-tokens"), help: "Maximum tokens to generate.")
    var maxTokens: Int

    @Option(help: "Sampling temperature; only 0 (greedy) is available in this build.")
    var temperature: Double?

    @Option(name: .customLong("top-p"), help: "Nucleus sampling mass (ignored by greedy decoding).")
    var topP: Double?

    @Option(name: .customLong("top-k"), help: "Top-k sampling (ignored by greedy decoding).")
    var topK: Int?

    @Option(help: "Random seed (ignored by greedy decoding).")
    var seed: UInt64?

    @Flag(name: .customLong("ignore-eos"), help: "Do not stop at the generation_config eos ids.")
    var ignoreEOS = false

    @Flag(help: "Print {\"token_ids\": [...], \"text\": \"...\", \"finish_reason\": \"stop\"|\"length\"}.")
    var json = false

    @Option(help: "Compute threads (default: all online CPUs).")
    var threads: Int?

    func validate() throws {
        guard maxTokens >= 0 else { throw ValidationError("--max-tokens must be >= 0") }
        if let temperature, temperature > 0 {
            throw ValidationError("--temperature \(temperature): sampling is not available in this build yet; "
                + "use --temperature 0 (greedy)")
        }
        if let temperature, temperature < 0 { throw ValidationError("--temperature must be >= 0") }
        if let topP, !(topP > 0 && topP <= 1) { throw ValidationError("--top-p must be in (0, 1]") }
        if let topK, topK < 0 { throw ValidationError("--top-k must be >= 0") }
        if prompt != nil && tokenIds != nil { throw ValidationError("pass either --prompt or --token-ids, not both") }
        if prompt != nil {
            throw ValidationError("--prompt needs the tokenizer, which is not available in this build yet; pass --token-ids")
        }
        guard tokenIds != nil else { throw ValidationError("pass --token-ids 1,2,3 (or --prompt TEXT)") }
        if let threads, threads < 1 { throw ValidationError("--threads must be >= 1") }
    }

    func run() throws {
        let ids = try parseTokenIds(tokenIds ?? "")
        let model = try loadModel(directory: self.model, threads: threads)
        let contextLength = ids.count + maxTokens
        let blockSize = 16
        let blockCount = max(1, (contextLength + blockSize - 1) / blockSize)
        let kv = try model.makeKVStorage(blockCount: blockCount, blockSize: blockSize)
        let table = (0..<blockCount).map { Int32($0) }
        let eos = Set(model.generationConfig.eosTokenIds)
        var generated: [Int] = []
        var finishReason = "length"
        if maxTokens > 0 {
            var out = try model.forward(.single(tokens: ids.map { Int32($0) }, startPosition: 0, blockTable: table), kv: kv)
            while true {
                let next = greedyArgmax(out.row(0))
                generated.append(next)
                if !json { print(next, terminator: generated.count < maxTokens ? " " : "\n") }
                if !json { FileHandle.standardOutput.synchronizeFile() }
                if !ignoreEOS && eos.contains(next) {
                    finishReason = "stop"
                    break
                }
                if generated.count >= maxTokens { break }
                out = try model.forward(.single(tokens: [Int32(next)], startPosition: ids.count + generated.count - 1,
                                                blockTable: table), kv: kv)
            }
        }
        if json {
            print("{\"token_ids\": [" + generated.map(String.init).joined(separator: ", ") + "], \"text\": \"\", "
                + "\"finish_reason\": \"\(finishReason)\"}")
        } else if finishReason == "stop" {
            print("")
        }
    }
}

/// Greedy argmax over one logit row: the highest logit, ties to the lowest id.
func greedyArgmax(_ row: ArraySlice<Float>) -> Int {
    var best = row.startIndex
    var bestValue = -Float.infinity
    for i in row.indices where row[i] > bestValue {
        best = i
        bestValue = row[i]
    }
    return best - row.startIndex
}

/// "1,2,3" -> [1, 2, 3]
func parseTokenIds(_ text: String) throws -> [Int] {
    let parts = text.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
    var ids: [Int] = []
    for part in parts {
        guard let id = Int(part), id >= 0 else { throw ValidationError("--token-ids: \"\(part)\" is not a token id") }
        ids.append(id)
    }
    guard !ids.isEmpty else { throw ValidationError("--token-ids is empty") }
    return ids
}

/// Loads a checkpoint, drawing a progress line on stderr when it is a terminal.
func loadModel(directory: String, threads: Int?) throws -> LingModel {
    let threadCount = threads ?? max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
    let showProgress = isatty(STDERR_FILENO) != 0
    let start = Date()
    let model = try LingModel(directory: directory, threadCount: threadCount) { done, total in
        if showProgress {
            FileHandle.standardError.write(Data("\rloading \(directory): \(done)/\(total) files mapped".utf8))
        }
    }
    if showProgress {
        let gib = Double(model.checkpoint.byteCount) / Double(1 << 30)
        FileHandle.standardError.write(Data(String(format: "\rloaded %@: %.2f GiB, %d layers%@ in %.2f s\n", directory, gib,
                                                   model.config.layerCount, model.hasMTP ? " + MTP" : "",
                                                   Date().timeIntervalSince(start)).utf8))
    }
    return model
}
