import ArgumentParser
import Foundation
import Models

/// `ling-serve dequantize`: rows of one tensor of a GGUF file as raw little-endian f32 (for checking the
/// dequantizers against gguf-py's in scripts/quantize-check.py).
struct DequantizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dequantize",
        abstract: "Write rows of a GGUF tensor, dequantized, as raw little-endian f32 (a debugging aid).")

    @Option(help: "GGUF file.")
    var gguf: String

    @Option(help: "Tensor name (GGUF name, e.g. blk.1.ffn_down_exps.weight).")
    var tensor: String

    @Option(help: "Rows to write, from the first (default: all; rows are the innermost dimension).")
    var rows: Int?

    @Option(help: "Output file.")
    var out: String

    func run() throws {
        let file = try GGUFFile(path: gguf)
        guard let t = file.tensors[tensor] else { throw ModelError("\(gguf): no tensor \(tensor)") }
        let (rowCount, rowLength) = t.rowShape
        let count = min(rows ?? rowCount, rowCount)
        guard let handle = fopen(out, "wb") else { throw ModelError("\(out): cannot create") }
        defer { fclose(handle) }
        var buffer = [Float](repeating: 0, count: rowLength * min(count, max(1, (1 << 22) / max(rowLength, 1))))
        let chunk = buffer.count / max(rowLength, 1)
        var first = 0
        while first < count {
            let n = min(chunk, count - first)
            try buffer.withUnsafeMutableBufferPointer { b throws(ModelError) in
                try t.dequantize(rows: first..<(first + n), into: UnsafeMutableBufferPointer(rebasing: b[0..<(n * rowLength)]))
                guard fwrite(b.baseAddress, 4, n * rowLength, handle) == n * rowLength else { throw ModelError("\(out): write failed") }
            }
            first += n
        }
    }
}
