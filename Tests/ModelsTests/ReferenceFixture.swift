import Foundation
import KVCache
import Models

/// A reference checkpoint copied from ../shared/reference into Fixtures/, with its reference.json.
struct ReferenceFixture {
    let name: String
    let directory: String
    let json: [String: Any]

    static let names = ["stress-f32", "release-bf16"]

    static func load(_ name: String) throws -> ReferenceFixture {
        guard let url = Bundle.module.url(forResource: "Fixtures/" + name, withExtension: nil) else {
            throw ModelError("fixture \(name) not found")
        }
        let data = try Data(contentsOf: url.appendingPathComponent("reference.json"))
        let json = try JSONSerialization.jsonObject(with: data) as? [String: Any] ?? [:]
        return ReferenceFixture(name: name, directory: url.path, json: json)
    }

    var prompts: [[String: Any]] { json["prompts"] as? [[String: Any]] ?? [] }
    var allPositions: [String: Any] { json["all_positions"] as? [String: Any] ?? [:] }
    var debug: [String: Any] { json["debug_short_prompt_f64"] as? [String: Any] ?? [:] }
}

func ints(_ value: Any?) -> [Int] { (value as? [Any] ?? []).compactMap { ($0 as? NSNumber)?.intValue } }
func floats(_ value: Any?) -> [Float] { (value as? [Any] ?? []).compactMap { ($0 as? NSNumber)?.floatValue } }
func floatRows(_ value: Any?) -> [[Float]] { (value as? [Any] ?? []).map { floats($0) } }

func maxAbsDifference(_ a: some Collection<Float>, _ b: some Collection<Float>) -> Float {
    guard a.count == b.count else { return .infinity }
    return zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1)) }
}

/// Greedy argmax, ties to the lowest id.
func argmax(_ row: some Collection<Float>) -> Int {
    var best = 0
    var bestValue = -Float.infinity
    for (i, v) in row.enumerated() where v > bestValue {
        best = i
        bestValue = v
    }
    return best
}

/// A single-sequence helper over a fresh KV storage with contiguous blocks.
struct Session {
    let model: LingModel
    let kv: KVStorage
    let table: [Int32]

    init(model: LingModel, capacity: Int = 512, blockSize: Int = 16) throws {
        self.model = model
        let blocks = (capacity + blockSize - 1) / blockSize
        kv = try model.makeKVStorage(blockCount: blocks, blockSize: blockSize)
        table = (0..<blocks).map { Int32($0) }
    }

    func run(_ tokens: [Int], start: Int = 0, all: Bool = false, hidden: Bool = false) throws -> ForwardOutput {
        try model.forward(.single(tokens: tokens.map { Int32($0) }, startPosition: start, blockTable: table, allLogits: all,
                                  returnsHidden: hidden), kv: kv)
    }

    /// MTP rows t = 0..<tokens.count-1: embedding of tokens[t+1] with hidden row t, at position t.
    func mtp(tokens: [Int], hidden: [Float]) throws -> ForwardOutput {
        let rows = tokens.count - 1
        let h = Array(hidden.prefix(rows * model.config.hiddenSize))
        return try model.forwardMTP(.single(tokens: tokens.dropFirst().map { Int32($0) }, startPosition: 0, blockTable: table,
                                            allLogits: true), hidden: h, kv: kv)
    }
}
