import ArgumentParser
import Foundation
import Models

/// `ling-serve logits`: full-vocabulary logits of a token sequence (and the MTP layer's), as JSON on stdout.
struct LogitsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logits",
        abstract: "Print {\"logits\": [[...]], \"mtp_logits\": [[...]]} for a token sequence.",
        discussion: """
            logits: one row per position (the last one only, unless --all-positions). mtp_logits (with --mtp): row t \
            is the MTP layer fed with the final-normed hidden state of position t and the embedding of token t+1, \
            for t = 0..<T-1 (with --all-positions) or only t = T-2 (the draft for the token after the last one).
            """)

    @Option(help: "Checkpoint folder.")
    var model: String
    @OptionGroup var hub: HubOptions

    @Option(name: .customLong("token-ids"), help: "Token ids, comma separated: 1,2,3.")
    var tokenIds: String

    @Flag(name: .customLong("all-positions"), help: "Print a row for every position.")
    var allPositions = false

    @Flag(help: "Also run the MTP layer and print mtp_logits.")
    var mtp = false

    @Option(help: "Compute threads (default: one per physical core); the same threads are the expert-parallel workers.")
    var threads: Int?

    @OptionGroup var expertOptions: ExpertParallelOptions
    @OptionGroup var computeOptions: ComputeOptions

    mutating func validate() throws { model = try hub.resolve(model) }

    func run() throws {
        let ids = try parseTokenIds(tokenIds)
        let model = try loadModel(directory: self.model, setup: try expertOptions.setup(threads: threads),
                                  compute: computeOptions.setting).model
        let blockSize = 16
        let blockCount = max(1, (ids.count + blockSize - 1) / blockSize)
        let kv = try model.makeKVStorage(blockCount: blockCount, blockSize: blockSize)
        let table = (0..<blockCount).map { Int32($0) }
        let out = try model.forward(.single(tokens: ids.map { Int32($0) }, startPosition: 0, blockTable: table,
                                            allLogits: allPositions, returnsHidden: mtp), kv: kv)
        var text = "{\"logits\": "
        appendRows(&text, out)
        if mtp {
            guard model.hasMTP else { throw ModelError("\(self.model): this checkpoint has no MTP layer") }
            text += ", \"mtp_logits\": "
            if ids.count >= 2 {
                var batch = ForwardBatch.single(tokens: ids.dropFirst().map { Int32($0) }, startPosition: 0, blockTable: table,
                                                allLogits: true)
                if !allPositions { batch.logitRows = [Int32(ids.count - 2)] }
                let hidden = Array(out.hidden.prefix((ids.count - 1) * model.config.hiddenSize))
                appendRows(&text, try model.forwardMTP(batch, hidden: hidden, kv: kv))
            } else {
                text += "[]"
            }
        }
        text += "}"
        print(text)
    }

    private func appendRows(_ text: inout String, _ out: ForwardOutput) {
        text += "["
        for r in 0..<out.rowCount {
            if r > 0 { text += ", " }
            text += "["
            var first = true
            for value in out.row(r) {
                if !first { text += ", " }
                first = false
                text += value.isFinite ? value.description : "null"
            }
            text += "]"
        }
        text += "]"
    }
}
