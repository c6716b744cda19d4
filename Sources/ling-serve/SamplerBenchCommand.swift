import ArgumentParser
import Dispatch
import Foundation
import Engine

/// `ling-serve sampler-bench`: what one call of the engine's sampler costs over a vocabulary-sized logit row, for
/// the parameter sets clients send. The server pays it once per generated token on the engine thread, between
/// forward passes, so it adds to every stream's time per output token.
struct SamplerBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sampler-bench",
        abstract: "Time one sampler call over a vocabulary-sized logit row, per parameter set.",
        discussion: """
            Logit rows are drawn in two shapes: "flat" (every logit from a narrow normal distribution, as random-weight \
            checkpoints give: top-p must keep most of the vocabulary) and "peaked" (a trained model's shape: a few \
            hundred plausible tokens, a long tail far below). Each figure is the median of --calls calls.
            """)

    @Option(help: "Vocabulary size (Ling 2.0: 157184).")
    var vocabulary = 157_184

    @Option(help: "Calls per parameter set.")
    var calls = 200

    @Flag(help: "Print the figures as one JSON object.")
    var json = false

    func validate() throws {
        guard vocabulary >= 2 && vocabulary <= 1 << 24 else { throw ValidationError("--vocabulary must be in 2...16777216") }
        guard calls >= 1 && calls <= 1_000_000 else { throw ValidationError("--calls must be in 1...1000000") }
    }

    struct Case {
        let name: String
        let parameters: SamplingParameters
        var logprobs: Int? = nil
        var penalties = false
    }

    func run() throws {
        let cases: [Case] = [
            Case(name: "greedy", parameters: .greedy),
            Case(name: "temperature 1", parameters: SamplingParameters(temperature: 1)),
            Case(name: "temperature 1, top_p 0.95", parameters: SamplingParameters(temperature: 1, topP: 0.95)),
            Case(name: "temperature 0.7, top_k 40", parameters: SamplingParameters(temperature: 0.7, topK: 40)),
            Case(name: "temperature 1, min_p 0.05", parameters: SamplingParameters(temperature: 1, minP: 0.05)),
            Case(name: "top_k 50, top_p 0.9, min_p 0.05", parameters: SamplingParameters(temperature: 0.8, topP: 0.9, topK: 50, minP: 0.05)),
            Case(name: "penalties (rep 1.1, pres 0.5, freq 0.5)",
                 parameters: SamplingParameters(temperature: 1, topP: 0.95, repetitionPenalty: 1.1, presencePenalty: 0.5,
                                                frequencyPenalty: 0.5), penalties: true),
            Case(name: "temperature 1, top_p 0.95, logprobs 5", parameters: SamplingParameters(temperature: 1, topP: 0.95), logprobs: 5),
        ]
        var sampler = Sampler(vocabularySize: vocabulary)
        var noise = RandomSource(seed: 7)
        func gaussian() -> Float {
            // Box-Muller from two uniforms in (0, 1].
            let u1 = max(noise.nextUnitFloat(), 1e-7), u2 = noise.nextUnitFloat()
            return (-2 * logf(u1)).squareRoot() * cosf(2 * Float.pi * u2)
        }
        let flat = (0..<vocabulary).map { _ in 0.05 * gaussian() }
        let peaked = (0..<vocabulary).map { id in (id % 509 == 0 ? 8 : -4) + 2 * gaussian() }
        // A history of 2,000 prompt tokens and 500 generated ones, for the penalties.
        var history = TokenHistory(promptTokenIds: (0..<2000).map { ($0 * 7919) % vocabulary })
        for i in 0..<500 { history.appendGenerated((i * 104_729) % vocabulary) }
        var row = [Float](repeating: 0, count: vocabulary)
        var results: [(String, String, Double)] = []
        for (shapeName, shape) in [("flat", flat), ("peaked", peaked)] {
            for item in cases {
                var random = RandomSource(seed: 1)
                var samples: [Double] = []
                samples.reserveCapacity(calls)
                var checksum = 0
                for _ in 0..<calls {
                    row.withUnsafeMutableBufferPointer { $0.update(fromContentsOf: shape) }
                    let start = DispatchTime.now().uptimeNanoseconds
                    let token = row.withUnsafeMutableBufferPointer { logits -> Int in
                        let raw = item.logprobs.map { _ in Array(logits) }
                        let token = sampler.sample(
                            logits: logits, parameters: item.parameters, history: item.penalties ? history : nil,
                            random: &random)
                        if let count = item.logprobs, let raw {
                            let result = raw.withUnsafeBufferPointer {
                                LogProbabilities.compute(logits: $0, chosen: token, topCount: count)
                            }
                            checksum &+= result.top.count
                        }
                        return token
                    }
                    samples.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e3)
                    checksum &+= token
                }
                samples.sort()
                results.append((shapeName, item.name, samples[samples.count / 2]))
                if checksum == Int.min { print("") }  // keeps the calls observable
            }
        }
        if json {
            let entries = results.map { "{\"logits\": \"\($0.0)\", \"parameters\": \"\($0.1)\", \"microseconds_per_call\": \($0.2)}" }
            print("{\"vocabulary\": \(vocabulary), \"calls\": \(calls), \"results\": [\(entries.joined(separator: ", "))]}")
            return
        }
        print("sampler over \(vocabulary) logits, median of \(calls) calls")
        for (shapeName, name, microseconds) in results {
            let padded = name.padding(toLength: 42, withPad: " ", startingAt: 0)
            print("  \(shapeName.padding(toLength: 7, withPad: " ", startingAt: 0)) \(padded) \(formatMicroseconds(microseconds))")
        }
    }

    private func formatMicroseconds(_ value: Double) -> String {
        let rounded = (value * 10).rounded() / 10
        return "\(rounded) us"
    }
}
