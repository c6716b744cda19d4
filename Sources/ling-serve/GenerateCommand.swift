import ArgumentParser
import ChatTemplates
import Engine
import Dispatch
import Foundation
import ProgressDisplay
import JSON
import Synchronization
import Models
import Tensors
import Tokenizers

/// `ling-serve generate`: decoding from token ids, text or a one-message chat, with the KV cache and the sampler.
struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Generate tokens from a prompt with a local Ling 2.0 checkpoint.")

    @Option(help: "Checkpoint folder (config.json, safetensors, generation_config.json).")
    var model: String
    @OptionGroup var hub: HubOptions

    @Option(help: "Prompt text, encoded with the model's tokenizer (no template).")
    var prompt: String?

    @Option(help: "A user message rendered with the model's chat template (add_generation_prompt), then encoded.")
    var chat: String?

    @Option(name: .customLong("token-ids"), help: "Prompt token ids, comma separated: 1,2,3.")
    var tokenIds: String?

    @Option(name: .customLong("max-tokens"), help: "Maximum tokens to generate.")
    var maxTokens: Int

    @Option(help: "Sampling temperature; 0 (the default) is greedy, ties to the lowest id.")
    var temperature: Double?

    @Option(name: .customLong("top-p"), help: "Nucleus sampling mass, (0, 1].")
    var topP: Double?

    @Option(name: .customLong("top-k"), help: "Top-k sampling (0 = off).")
    var topK: Int?

    @Option(help: "Random seed: the same seed gives the same output.")
    var seed: UInt64?

    @Flag(name: .customLong("ignore-eos"), help: "Do not stop at the generation_config eos ids.")
    var ignoreEOS = false

    @Flag(help: "Print {\"token_ids\": [...], \"text\": \"...\", \"finish_reason\": \"stop\"|\"length\"}.")
    var json = false

    @Option(help: "Compute threads (default: one per physical core); the same threads are the expert-parallel workers.")
    var threads: Int?

    @OptionGroup var expertOptions: ExpertParallelOptions
    @OptionGroup var computeOptions: ComputeOptions

    @Option(help: "Speculative decoding: off (default) or mtp (the checkpoint's MTP layer drafts).")
    var speculative: String = "off"

    @Option(name: .customLong("speculative-tokens"), help: "Draft tokens per step with --speculative mtp, 1 to 4.")
    var speculativeTokens: Int = 3

    mutating func validate() throws {
        model = try hub.resolve(model)
        guard maxTokens >= 0 else { throw ValidationError("--max-tokens must be >= 0") }
        if let temperature, !(temperature >= 0 && temperature.isFinite) { throw ValidationError("--temperature must be >= 0") }
        if let topP, !(topP > 0 && topP <= 1) { throw ValidationError("--top-p must be in (0, 1]") }
        if let topK, topK < 0 { throw ValidationError("--top-k must be >= 0") }
        let given = [prompt != nil, chat != nil, tokenIds != nil].filter { $0 }.count
        guard given == 1 else { throw ValidationError("pass exactly one of --prompt TEXT, --chat TEXT or --token-ids 1,2,3") }
        if let threads, threads < 1 { throw ValidationError("--threads must be >= 1") }
        guard ["off", "mtp"].contains(speculative) else { throw ValidationError("--speculative must be off or mtp") }
        guard (1...4).contains(speculativeTokens) else { throw ValidationError("--speculative-tokens must be in 1...4") }
    }

    func run() throws {
        // The tokenizer is optional for --token-ids (random checkpoints may lack one), required for text input.
        let tokenizer = try? ModelFiles.tokenizer(self.model)
        let ids: [Int]
        if let tokenIds {
            ids = try parseTokenIds(tokenIds)
        } else {
            guard let tokenizer else {
                throw ValidationError("\(self.model) has no readable tokenizer.json: pass --token-ids instead")
            }
            if let chat {
                let template = try ModelFiles.chatTemplate(self.model)
                let message = JSONValue.object(JSONObject([("role", .string("user")), ("content", .string(chat))]))
                ids = tokenizer.encode(try template.render(messages: [message], addGenerationPrompt: true))
            } else {
                ids = tokenizer.encode(prompt ?? "")
            }
            guard !ids.isEmpty else { throw ValidationError("the prompt encodes to no tokens") }
        }
        let model = try loadModel(directory: self.model, setup: try expertOptions.setup(threads: threads),
                                  compute: computeOptions.setting).model
        if speculative == "mtp" {
            guard model.hasMTP else {
                throw ValidationError("--speculative mtp: \(self.model) has no MTP layer (num_nextn_predict_layers is 0 or absent)")
            }
            try runSpeculative(model: model, ids: ids, tokenizer: tokenizer)
            return
        }
        let vocabularySize = model.config.vocabSize
        if let bad = ids.first(where: { $0 < 0 || $0 >= vocabularySize }) {
            throw ValidationError("token id \(bad) is outside the vocabulary (0..<\(vocabularySize))")
        }
        let contextLength = ids.count + maxTokens
        let blockSize = 16
        let blockCount = max(1, (contextLength + blockSize - 1) / blockSize)
        let kv = try model.makeKVStorage(blockCount: blockCount, blockSize: blockSize)
        let table = (0..<blockCount).map { Int32($0) }
        let eos = Set(model.generationConfig.eosTokenIds)
        let parameters = SamplingParameters(
            temperature: Float(temperature ?? 0), topP: Float(topP ?? 1), topK: topK ?? 0, seed: seed)
        var sampler = Sampler(vocabularySize: vocabularySize)
        var random = seed.map { RandomSource(seed: $0) } ?? RandomSource.fromSystem()
        var history = TokenHistory(promptTokenIds: ids)
        var decoder = tokenizer.map { IncrementalDecoder(tokenizer: $0, skipSpecialTokens: true) }
        var generated: [Int] = []
        var finishReason = "length"
        if maxTokens > 0 {
            var out = try model.forward(.single(tokens: ids.map { Int32($0) }, startPosition: 0, blockTable: table), kv: kv)
            while true {
                let next = out.logits.withUnsafeMutableBufferPointer { logits in
                    sampler.sample(
                        logits: UnsafeMutableBufferPointer(rebasing: logits[0..<vocabularySize]), parameters: parameters,
                        history: history, random: &random)
                }
                generated.append(next)
                history.appendGenerated(next)
                let stops = !ignoreEOS && eos.contains(next)
                if !json {
                    if decoder != nil {
                        if !stops, let piece = decoder?.append(next) { print(piece, terminator: "") }
                    } else {
                        print(next, terminator: " ")
                    }
                    FileHandle.standardOutput.synchronizeFile()
                }
                if stops {
                    finishReason = "stop"
                    break
                }
                if generated.count >= maxTokens { break }
                out = try model.forward(.single(tokens: [Int32(next)], startPosition: ids.count + generated.count - 1,
                                                blockTable: table), kv: kv)
            }
        }
        let text = tokenizer?.decode(finishReason == "stop" ? Array(generated.dropLast()) : generated, skipSpecialTokens: true) ?? ""
        if json {
            printJSONResult(generated: generated, text: text, finishReason: finishReason)
        } else {
            if let rest = decoder?.finish() { print(rest, terminator: "") }
            print("")
        }
    }
}

extension GenerateCommand {
    /// The speculative path: the same sampler and random stream, run by the engine with the MTP drafter (one
    /// request), so greedy output equals the plain path's token for token.
    func runSpeculative(model: LingModel, ids: [Int], tokenizer: Tokenizer?) throws {
        let vocabularySize = model.config.vocabSize
        if let bad = ids.first(where: { $0 < 0 || $0 >= vocabularySize }) {
            throw ValidationError("token id \(bad) is outside the vocabulary (0..<\(vocabularySize))")
        }
        let blockSize = 16
        let blockCount = max(1, (ids.count + maxTokens + speculativeTokens + blockSize) / blockSize + 1)
        let engine = try Engine(
            configuration: EngineConfiguration(
                scheduler: SchedulerConfiguration(
                    maxRunningSequenceCount: 1, maxModelLength: blockCount * blockSize, enablePrefixCaching: false),
                speculativeTokenCount: speculativeTokens),
            makeModel: { try LingStepModel(model: model, kvBlockCount: blockCount, kvBlockSize: blockSize, drafting: true) })
        defer { engine.shutdown() }
        let parameters = SamplingParameters(
            temperature: Float(temperature ?? 0), topP: Float(topP ?? 1), topK: topK ?? 0, seed: seed)
        let eos = Set(model.generationConfig.eosTokenIds)
        let events = Mutex<[EngineEvent]>([])
        let done = DispatchSemaphore(value: 0)
        engine.submit(
            EngineRequest(
                promptTokenIds: ids, sampling: parameters, maxNewTokenCount: maxTokens, stopTokenIds: eos,
                ignoreEOS: ignoreEOS)
        ) { event in
            events.withLock { $0.append(event) }
            switch event {
            case .tokens(_, let finish) where finish != nil: done.signal()
            case .finished, .failed: done.signal()
            default: break
            }
        }
        if maxTokens > 0 { done.wait() }
        var generated: [Int] = []
        var finishReason = "length"
        for event in events.withLock({ $0 }) {
            switch event {
            case .tokens(let tokens, let finish):
                generated += tokens.map(\.id)
                if finish == .stop { finishReason = "stop" }
            case .failed(let message): throw ValidationError(message)
            default: break
            }
        }
        let text = tokenizer?.decode(finishReason == "stop" ? Array(generated.dropLast()) : generated, skipSpecialTokens: true) ?? ""
        if json {
            printJSONResult(generated: generated, text: text, finishReason: finishReason)
        } else {
            print(tokenizer == nil ? generated.map(String.init).joined(separator: " ") : text)
        }
        let metrics = engine.metrics
        if metrics.specDraftCount > 0 {
            FileHandle.standardError.write(Data(String(
                format: "speculative decoding: %d verifications, mean acceptance length %.2f, %d of %d drafts accepted\n",
                metrics.specDraftCount, metrics.meanAcceptanceLength, metrics.specAcceptedTokenCount,
                metrics.specDraftTokenCount).utf8))
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

/// Loads a checkpoint with its expert-parallel workers (pinned compute threads, the calling thread being worker 0),
/// reporting progress on stderr (a redrawn line on a terminal, plain lines otherwise).
func loadModel(directory: String, setup: ExpertParallelSetup,
               compute: ComputeSetting) throws -> (model: LingModel, experts: ExpertParallelExecutor) {
    let start = Date()
    let reporter = ProgressReporter(label: "loading \(directory): mapping", unit: .files)
    let model: LingModel
    do {
        model = try LingModel(directory: directory, workerCPUs: setup.cpus, compute: compute) { done, total in
            reporter.update(done: Int64(done), total: Int64(total))
        }
    } catch {
        reporter.finish("loading \(directory): failed")
        throw error
    }
    let gib = Double(model.checkpointBytes) / Double(1 << 30)
    reporter.finish(String(format: "loaded %@: %.2f GiB, %d layers%@, weights %@ in %.2f s", directory, gib,
                           model.config.layerCount, model.hasMTP ? " + MTP" : "", model.weightFormat,
                           Date().timeIntervalSince(start)))
    let experts = model.useExpertParallel(strategy: setup.placement, rebalanceInterval: setup.rebalanceTokens)
    return (model, experts)
}

extension GenerateCommand {
    /// `{"token_ids": [...], "text": "...", "finish_reason": "stop"|"length"}` (the JSON shape).
    func printJSONResult(generated: [Int], text: String, finishReason: String) {
        let result = JSONObject([
            ("token_ids", .array(generated.map { .int($0) })), ("text", .string(text)),
            ("finish_reason", .string(finishReason)),
        ])
        print(JSONValue.object(result).pythonDumps())
    }
}
