import ArgumentParser
import Foundation
import KVCache
import Models
import Tensors

/// `ling-serve bench`: prefill and decode speed of a checkpoint, each against this machine's measured limit.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure prefill and decode speed against the machine's sgemm and memory-bandwidth limits.",
        discussion: """
            Decode limit: tokens/s = measured memory read bandwidth / bytes of weights one token reads (attention, \
            dense layers, router, shared expert, the routed experts of each MoE layer, lm_head). Prefill limit: \
            measured OpenBLAS sgemm FLOP/s against the FLOPs of the pass (matmuls + attention).
            """)

    @Option(help: "Checkpoint folder.")
    var model: String
    @OptionGroup var hub: HubOptions

    @Option(name: .customLong("prompt-tokens"), help: "Prompt length for the prefill measurement.")
    var promptTokens = 512

    @Option(name: .customLong("decode-tokens"), help: "Tokens decoded one at a time after the prompt.")
    var decodeTokens = 64

    @Option(name: .customLong("warmup-tokens"),
            help: "Prompt tokens of the unmeasured warm-up prefill that faults in the weights (default: --prompt-tokens; 0: none). A few hundred touch every expert; long-prompt runs need not pay for the full prompt twice.")
    var warmupTokens: Int?

    @Option(help: "Concurrent sequences: prefill is one pass over all their prompts, decode steps one token of each.")
    var streams = 1

    @Option(help: "Compute threads (default: one per physical core); the same threads are the expert-parallel workers.")
    var threads: Int?

    @OptionGroup var expertOptions: ExpertParallelOptions
    @OptionGroup var computeOptions: ComputeOptions

    @Flag(name: .customLong("skip-limits"), help: "Do not measure the machine's bandwidth and sgemm limits (faster A/B runs).")
    var skipLimits = false

    @Flag(help: "Also print each part's share of the measured prefill pass and of the decode step (wall time per part).")
    var profile = false

    @Flag(help: "Print the figures as one JSON object.")
    var json = false

    mutating func validate() throws {
        model = try hub.resolve(model)
        guard promptTokens >= 1 else { throw ValidationError("--prompt-tokens must be >= 1") }
        guard decodeTokens >= 1 else { throw ValidationError("--decode-tokens must be >= 1") }
        guard streams >= 1 else { throw ValidationError("--streams must be >= 1") }
        if let warmupTokens, !(0...promptTokens).contains(warmupTokens) {
            throw ValidationError("--warmup-tokens must be in 0...--prompt-tokens")
        }
        if let threads, threads < 1 { throw ValidationError("--threads must be >= 1") }
    }

    func run() throws {
        let (model, experts) = try loadModel(directory: self.model, setup: try expertOptions.setup(threads: threads),
                                  compute: computeOptions.setting)
        let threadCount = model.pool.threadCount
        let config = model.config
        let blockSize = 16
        let blocksPerStream = (promptTokens + decodeTokens + blockSize - 1) / blockSize
        let kv = try model.makeKVStorage(blockCount: blocksPerStream * streams, blockSize: blockSize)
        let tables = (0..<streams).map { s in (0..<blocksPerStream).map { Int32(s * blocksPerStream + $0) } }
        // Deterministic pseudo-random prompts over the BPE range.
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        let prompts: [[Int32]] = (0..<streams).map { _ in
            (0..<promptTokens).map { _ in
                state ^= state << 13
                state ^= state >> 7
                state ^= state << 17
                return Int32(state % UInt64(min(config.vocabSize, 150_000)))
            }
        }
        func batch(_ tokens: [[Int32]], start: Int) -> ForwardBatch {
            var ids: [Int32] = [], positions: [Int32] = [], owners: [Int32] = [], rows: [Int32] = []
            for (s, chunk) in tokens.enumerated() {
                for (offset, token) in chunk.enumerated() {
                    ids.append(token)
                    positions.append(Int32(start + offset))
                    owners.append(Int32(s))
                }
                rows.append(Int32(ids.count - 1))
            }
            let sequences = tables.map { SequenceSlots(blockTable: $0, contextLength: start + tokens[0].count) }
            return ForwardBatch(tokenIds: ids, positions: positions, sequenceIndices: owners, sequences: sequences, logitRows: rows)
        }
        // Warm-up: fault in the pages a prefill touches (the measured prefill then overwrites its KV positions).
        let warmup = warmupTokens ?? promptTokens
        if warmup > 0 {
            _ = try model.forward(batch(prompts.map { Array($0.prefix(warmup)) }, start: 0), kv: kv)
        }

        let beforePrefill = experts.workerStats
        let prefillProfile = profile ? ForwardProfile() : nil
        model.profile = prefillProfile
        let prefillStart = DispatchTime.now().uptimeNanoseconds
        var out = try model.forward(batch(prompts, start: 0), kv: kv)
        let prefillSeconds = Double(DispatchTime.now().uptimeNanoseconds - prefillStart) / 1e9
        let afterPrefill = experts.workerStats

        var next = (0..<streams).map { [Int32(greedyArgmax(out.row($0)))] }
        let decodeProfile = profile ? ForwardProfile() : nil
        model.profile = decodeProfile
        let decodeStart = DispatchTime.now().uptimeNanoseconds
        for step in 0..<decodeTokens {
            out = try model.forward(batch(next, start: promptTokens + step), kv: kv)
            next = (0..<streams).map { [Int32(greedyArgmax(out.row($0)))] }
        }
        let decodeSeconds = Double(DispatchTime.now().uptimeNanoseconds - decodeStart) / 1e9
        model.profile = nil
        let afterDecode = experts.workerStats

        // FLOPs of the prefill: matmuls per token, causal attention (QK^T and PV), one lm_head row per stream.
        let attentionFlops = 2.0 * 2.0 * Double(config.headCount * config.headSize) * Double(promptTokens) * Double(promptTokens + 1) / 2
            * Double(config.layerCount) * Double(streams)
        let prefillFlops = Double(promptTokens * streams) * model.matmulFlopsPerToken + attentionFlops + Double(streams) * model.lmHeadFlops
        let kvBytesPerToken = Double(KVStorage.bytesPerBlock(
            layerCount: config.layerCount, blockSize: 1, kvHeadCount: config.kvHeadCount, headSize: config.headSize,
            precision: .f32)) * Double(promptTokens + decodeTokens / 2)
        let bytesPerToken = Double(model.weightBytesPerDecodedToken) + kvBytesPerToken

        let bandwidth = skipLimits ? Double.nan : MachineLimits.memoryReadBandwidth(threadCount: threadCount)
        let sgemm = skipLimits ? Double.nan : MachineLimits.sgemmFlops(threadCount: threadCount)

        let prefillTokensPerSecond = Double(promptTokens * streams) / prefillSeconds
        let prefillFlopsPerSecond = prefillFlops / prefillSeconds
        let decodeTokensPerSecond = Double(decodeTokens * streams) / decodeSeconds
        let decodeBytesPerSecond = bytesPerToken * Double(decodeTokens) / decodeSeconds
        let prefillWorkers = WorkerPhase(before: beforePrefill, after: afterPrefill, wallSeconds: prefillSeconds)
        let decodeWorkers = WorkerPhase(before: afterPrefill, after: afterDecode, wallSeconds: decodeSeconds)
        let rss = residentBytes()
        let fileBytes = model.checkpointBytes
        func number(_ value: Double) -> String { value.isFinite ? "\(value)" : "null" }
        if json {
            print("""
                {"threads": \(threadCount), "expert_parallel": \(experts.workerCount), \
                "expert_placement": "\(experts.strategy.rawValue)", "pinned_workers": \(afterDecode.filter(\.pinned).count), \
                "streams": \(streams), "isa": "\(InstructionSet.active)", "prompt_tokens": \(promptTokens), \
                "decode_tokens": \(decodeTokens), "prefill_seconds": \(prefillSeconds), \
                "prefill_tokens_per_second": \(prefillTokensPerSecond), "prefill_flops_per_second": \(prefillFlopsPerSecond), \
                "sgemm_flops_per_second": \(number(sgemm)), "prefill_fraction_of_sgemm": \(number(prefillFlopsPerSecond / sgemm)), \
                "decode_tokens_per_second": \(decodeTokensPerSecond), "decode_ms_per_step": \(1000 * decodeSeconds / Double(decodeTokens)), \
                "decode_bytes_per_token": \(bytesPerToken), "memory_bandwidth_bytes_per_second": \(number(bandwidth)), \
                "decode_fraction_of_bandwidth": \(number(streams == 1 ? decodeBytesPerSecond / bandwidth : .nan)), \
                "prefill_expert_workers": \(prefillWorkers.json), "decode_expert_workers": \(decodeWorkers.json), \
                "rss_bytes": \(rss), "checkpoint_bytes": \(fileBytes), \
                "weights_huge_page_share": \(number(model.weightHugePageShare?.share ?? .nan))}
                """)
            return
        }
        print(String(format: "model: %@ (%.2f GiB, %d layers, %d experts, top-%d), %d expert-parallel workers (%d pinned, %@ placement), %d streams, %@ kernels, %@ compute",
                     self.model, Double(fileBytes) / Double(1 << 30), config.layerCount, config.expertCount, config.expertsPerToken,
                     threadCount, afterDecode.filter(\.pinned).count, experts.strategy.rawValue, streams, InstructionSet.active.description, model.computeDType.description))
        // Limits are left out of the lines when --skip-limits asked not to measure them. A step of several streams
        // reads the union of their experts, which depends on the routing: the per-token byte count and its
        // bandwidth fraction hold for one stream only.
        var prefillLine = String(format: "prefill: %d x %d tokens in %.3f s = %.1f tokens/s, %.1f GFLOP/s",
                                 streams, promptTokens, prefillSeconds, prefillTokensPerSecond, prefillFlopsPerSecond / 1e9)
        if sgemm.isFinite {
            prefillLine += String(format: " = %.0f%% of sgemm (%.1f GFLOP/s)", 100 * prefillFlopsPerSecond / sgemm, sgemm / 1e9)
            // sgemm is the f32 limit; VDPBF16PS does twice the products of an f32 FMA per instruction.
            if model.computeDType == .bf16 && Kernels.bf16Tiles(for: .bf16, inSize: config.hiddenSize) {
                prefillLine += " (bf16 compute: AMX tiles, whose limit is 16x sgemm's per core)"
            } else if model.computeDType == .bf16 && Kernels.bf16DotProducts(for: .bf16) {
                prefillLine += " (bf16 compute: AVX512-BF16 dot products, whose limit is 2x sgemm)"
            }
        }
        print(prefillLine)
        var decodeLine = String(format: "decode: %d steps of %d tokens, %.2f ms/step = %.2f tokens/s",
                                decodeTokens, streams, 1000 * decodeSeconds / Double(decodeTokens), decodeTokensPerSecond)
        if streams == 1 {
            decodeLine += String(format: ", %.1f MB weights+KV read/step = %.1f GB/s", bytesPerToken / 1e6, decodeBytesPerSecond / 1e9)
            if bandwidth.isFinite {
                decodeLine += String(format: " = %.0f%% of bandwidth (%.1f GB/s)", 100 * decodeBytesPerSecond / bandwidth, bandwidth / 1e9)
            }
        }
        print(decodeLine)
        if let prefillProfile { printProfile(prefillProfile, of: "prefill pass") }
        if let decodeProfile { printProfile(decodeProfile, of: "decode step") }
        print("expert workers, prefill: " + prefillWorkers.text)
        print("expert workers, decode:  " + decodeWorkers.text)
        let hugePages = model.weightHugePageShare.map { String(format: ", %.0f%% of the resident weights on 2 MiB pages", 100 * $0.share) } ?? ""
        print(String(format: "rss: %.2f GiB (checkpoint files %.2f GiB, mapped in place", Double(rss) / Double(1 << 30),
                     Double(fileBytes) / Double(1 << 30)) + hugePages + ")")
    }

    /// Each part's wall time per pass and its share of the parts' sum.
    private func printProfile(_ profile: ForwardProfile, of pass: String) {
        guard profile.passCount > 0 else { return }
        let passes = Double(profile.passCount)
        let total = profile.seconds.reduce(0, +)
        print(String(format: "\(pass) by part (ms/pass, share of the %.2f ms the parts add up to):", 1000 * total / passes))
        for part in ForwardProfile.Part.allCases where profile.seconds[part.rawValue] > 0 {
            let s = profile.seconds[part.rawValue]
            let name = part.name.padding(toLength: 42, withPad: " ", startingAt: 0)
            print("  " + name + String(format: " %8.3f ms  %5.1f%%", 1000 * s / passes, 100 * s / total))
        }
    }

    /// Per-worker expert-phase busy and idle time over one measured phase.
    struct WorkerPhase {
        let busy: [Double]
        let idle: [Double]
        let rows: [Int]   // routed + shared-expert rows
        let wallSeconds: Double

        init(before: [ExpertWorkerStats], after: [ExpertWorkerStats], wallSeconds: Double) {
            busy = zip(before, after).map { $1.busySeconds - $0.busySeconds }
            idle = zip(before, after).map { $1.idleSeconds - $0.idleSeconds }
            rows = zip(before, after).map { $1.rowCount + $1.sharedRowCount - $0.rowCount - $0.sharedRowCount }
            self.wallSeconds = wallSeconds
        }

        var text: String {
            (0..<busy.count).map { w in
                String(format: "w%d busy %.3f s idle %.3f s (busy/idle %.2f, %d rows)", w, busy[w], idle[w],
                       busy[w] / max(idle[w], 1e-9), rows[w])
            }.joined(separator: "; ") + String(format: "; expert phases %.0f%% of the wall time",
                                                  100 * (busy.first.map { $0 + idle[0] } ?? 0) / wallSeconds)
        }

        var json: String {
            "[" + (0..<busy.count).map { w in
                "{\"busy_seconds\": \(busy[w]), \"idle_seconds\": \(idle[w]), \"rows\": \(rows[w])}"
            }.joined(separator: ", ") + "]"
        }
    }

    /// VmRSS of this process in bytes (0 if /proc is unavailable).
    private func residentBytes() -> Int {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
        for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            let kb = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).compactMap { Int($0) }.first ?? 0
            return kb * 1024
        }
        return 0
    }
}
