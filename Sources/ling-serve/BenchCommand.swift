import ArgumentParser
import Foundation
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

    @Option(name: .customLong("prompt-tokens"), help: "Prompt length for the prefill measurement.")
    var promptTokens = 512

    @Option(name: .customLong("decode-tokens"), help: "Tokens decoded one at a time after the prompt.")
    var decodeTokens = 64

    @Option(help: "Compute threads (default: all online CPUs).")
    var threads: Int?

    @Flag(help: "Print the figures as one JSON object.")
    var json = false

    func validate() throws {
        guard promptTokens >= 1 else { throw ValidationError("--prompt-tokens must be >= 1") }
        guard decodeTokens >= 1 else { throw ValidationError("--decode-tokens must be >= 1") }
        if let threads, threads < 1 { throw ValidationError("--threads must be >= 1") }
    }

    func run() throws {
        let model = try loadModel(directory: self.model, threads: threads)
        let threadCount = model.pool.threadCount
        let config = model.config
        let blockSize = 16
        let blockCount = (promptTokens + decodeTokens + blockSize - 1) / blockSize
        let kv = try model.makeKVStorage(blockCount: blockCount, blockSize: blockSize)
        let table = (0..<blockCount).map { Int32($0) }
        // Deterministic pseudo-random prompt over the BPE range.
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        let prompt: [Int32] = (0..<promptTokens).map { _ in
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            return Int32(state % UInt64(min(config.vocabSize, 150_000)))
        }
        // Warm-up: fault in the pages a prefill and a few decode steps touch.
        _ = try model.forward(.single(tokens: prompt, startPosition: 0, blockTable: table), kv: kv)

        let prefillStart = DispatchTime.now().uptimeNanoseconds
        var out = try model.forward(.single(tokens: prompt, startPosition: 0, blockTable: table), kv: kv)
        let prefillSeconds = Double(DispatchTime.now().uptimeNanoseconds - prefillStart) / 1e9

        var next = Int32(greedyArgmax(out.row(0)))
        let decodeStart = DispatchTime.now().uptimeNanoseconds
        for step in 0..<decodeTokens {
            out = try model.forward(.single(tokens: [next], startPosition: promptTokens + step, blockTable: table), kv: kv)
            next = Int32(greedyArgmax(out.row(0)))
        }
        let decodeSeconds = Double(DispatchTime.now().uptimeNanoseconds - decodeStart) / 1e9

        // FLOPs of the prefill: matmuls per token, causal attention (QK^T and PV), one lm_head row.
        let attentionFlops = 2.0 * 2.0 * Double(config.headCount * config.headSize) * Double(promptTokens) * Double(promptTokens + 1) / 2
            * Double(config.layerCount)
        let prefillFlops = Double(promptTokens) * model.matmulFlopsPerToken + attentionFlops + model.lmHeadFlops
        let kvBytesPerToken = Double(2 * config.layerCount * config.kvHeadCount * config.headSize * 4)
            * Double(promptTokens + decodeTokens / 2)
        let bytesPerToken = Double(model.weightBytesPerDecodedToken) + kvBytesPerToken

        let bandwidth = MachineLimits.memoryReadBandwidth(threadCount: threadCount)
        let sgemm = MachineLimits.sgemmFlops(threadCount: threadCount)

        let prefillTokensPerSecond = Double(promptTokens) / prefillSeconds
        let prefillFlopsPerSecond = prefillFlops / prefillSeconds
        let decodeTokensPerSecond = Double(decodeTokens) / decodeSeconds
        let decodeBytesPerSecond = bytesPerToken * decodeTokensPerSecond
        let rss = residentBytes()
        let fileBytes = model.checkpoint.byteCount
        if json {
            print("""
                {"threads": \(threadCount), "isa": "\(InstructionSet.active)", "prompt_tokens": \(promptTokens), \
                "decode_tokens": \(decodeTokens), "prefill_seconds": \(prefillSeconds), \
                "prefill_tokens_per_second": \(prefillTokensPerSecond), "prefill_flops_per_second": \(prefillFlopsPerSecond), \
                "sgemm_flops_per_second": \(sgemm), "prefill_fraction_of_sgemm": \(prefillFlopsPerSecond / sgemm), \
                "decode_tokens_per_second": \(decodeTokensPerSecond), "decode_ms_per_token": \(1000 / decodeTokensPerSecond), \
                "decode_bytes_per_token": \(bytesPerToken), "memory_bandwidth_bytes_per_second": \(bandwidth), \
                "decode_fraction_of_bandwidth": \(decodeBytesPerSecond / bandwidth), "rss_bytes": \(rss), \
                "checkpoint_bytes": \(fileBytes)}
                """)
            return
        }
        print(String(format: "model: %@ (%.2f GiB, %d layers, %d experts, top-%d), %d threads, %@ kernels", self.model,
                     Double(fileBytes) / Double(1 << 30), config.layerCount, config.expertCount, config.expertsPerToken,
                     threadCount, InstructionSet.active.description))
        print(String(format: "prefill: %d tokens in %.3f s = %.1f tokens/s, %.1f GFLOP/s = %.0f%% of sgemm (%.1f GFLOP/s)",
                     promptTokens, prefillSeconds, prefillTokensPerSecond, prefillFlopsPerSecond / 1e9,
                     100 * prefillFlopsPerSecond / sgemm, sgemm / 1e9))
        print(String(format: "decode: %d tokens, %.2f ms/token = %.2f tokens/s, %.1f MB read/token = %.1f GB/s = %.0f%% of bandwidth (%.1f GB/s)",
                     decodeTokens, 1000 / decodeTokensPerSecond, decodeTokensPerSecond, bytesPerToken / 1e6,
                     decodeBytesPerSecond / 1e9, 100 * decodeBytesPerSecond / bandwidth, bandwidth / 1e9))
        print(String(format: "rss: %.2f GiB (checkpoint files %.2f GiB, mapped in place)", Double(rss) / Double(1 << 30),
                     Double(fileBytes) / Double(1 << 30)))
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
