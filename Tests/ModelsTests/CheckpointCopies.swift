import Foundation
import Models
import Tensors

/// Writes modified copies of a fixture checkpoint into a temporary folder (sharded, FP8, corrupted).
struct CheckpointCopy {
    let directory: String

    init(_ label: String) throws {
        directory = NSTemporaryDirectory() + "lingserve-models-tests-\(label)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    func remove() { try? FileManager.default.removeItem(atPath: directory) }

    func copyConfigs(from source: String, editConfig: ((inout [String: Any]) -> Void)? = nil) throws {
        for name in ["generation_config.json"] {
            try FileManager.default.copyItem(atPath: source + "/" + name, toPath: directory + "/" + name)
        }
        let data = try Data(contentsOf: URL(fileURLWithPath: source + "/config.json"))
        var config = try JSONSerialization.jsonObject(with: data) as? [String: Any] ?? [:]
        editConfig?(&config)
        try JSONSerialization.data(withJSONObject: config, options: [.sortedKeys]).write(to: URL(fileURLWithPath: directory + "/config.json"))
    }

    /// One output tensor: name, dtype, shape and its bytes.
    struct Item {
        var name: String
        var dtype: String
        var shape: [Int]
        var bytes: [UInt8]
    }

    /// Source tensors in name order as Items (raw bytes).
    static func items(of source: String) throws -> [Item] {
        let file = try SafetensorsFile(path: source + "/model.safetensors")
        return file.entries.values.sorted { $0.name < $1.name }.map { entry in
            Item(name: entry.name, dtype: entry.dtypeName, shape: entry.shape,
                 bytes: Array(UnsafeRawBufferPointer(start: entry.data, count: entry.byteCount)))
        }
    }

    /// The fixture's tensors with every decoder linear (not the embedding, router or lm_head) quantised to FP8 E4M3
    /// with block x block scales (plus `_scale_inv` tensors), and the same tensors with those linears replaced by
    /// their exact f32 dequantisation (the twin).
    static func fp8Items(of source: String, block: Int) throws -> (quantised: [Item], dequantised: [Item]) {
        var quantised: [Item] = []
        var dequantised: [Item] = []
        for item in try items(of: source) {
            let isLinear = item.shape.count == 2 && item.name.hasPrefix("model.layers.") && !item.name.hasSuffix("mlp.gate.weight")
            guard isLinear else {
                quantised.append(item)
                dequantised.append(item)
                continue
            }
            let (rows, columns) = (item.shape[0], item.shape[1])
            let values = item.asFloats
            let blockRows = (rows + block - 1) / block
            let blockColumns = (columns + block - 1) / block
            var scales = [Float](repeating: 0, count: blockRows * blockColumns)
            for r in 0..<rows { for c in 0..<columns {
                let b = (r / block) * blockColumns + c / block
                scales[b] = max(scales[b], abs(values[r * columns + c]))
            } }
            scales = scales.map { $0 > 0 ? $0 / 448 : 1 }
            var codes = [UInt8](repeating: 0, count: rows * columns)
            var twin = [Float](repeating: 0, count: rows * columns)
            for r in 0..<rows { for c in 0..<columns {
                let scale = scales[(r / block) * blockColumns + c / block]
                let code = FP8.encode(values[r * columns + c] / scale)
                codes[r * columns + c] = code
                twin[r * columns + c] = FP8.decode(code) * scale
            } }
            quantised.append(.init(name: item.name, dtype: "F8_E4M3", shape: item.shape, bytes: codes))
            quantised.append(.f32(item.name + "_scale_inv", [blockRows, blockColumns], scales))
            dequantised.append(.f32(item.name, item.shape, twin))
        }
        return (quantised, dequantised)
    }

    /// Writes `items` into `shardCount` files (with an index when > 1).
    func write(_ items: [Item], shardCount: Int = 1) throws {
        if shardCount == 1 {
            try write(items, file: "model.safetensors")
            return
        }
        var weightMap: [String: String] = [:]
        for shard in 0..<shardCount {
            let name = String(format: "model-%05d-of-%05d.safetensors", shard + 1, shardCount)
            let part = items.enumerated().filter { $0.offset % shardCount == shard }.map(\.element)
            try write(part, file: name)
            for item in part { weightMap[item.name] = name }
        }
        let index: [String: Any] = ["metadata": ["total_size": items.reduce(0) { $0 + $1.bytes.count }], "weight_map": weightMap]
        try JSONSerialization.data(withJSONObject: index, options: [.sortedKeys])
            .write(to: URL(fileURLWithPath: directory + "/model.safetensors.index.json"))
    }

    private func write(_ items: [Item], file: String) throws {
        try SafetensorsWriter.write(path: directory + "/" + file,
                                    tensors: items.map { SafetensorsWriter.Tensor(name: $0.name, dtype: $0.dtype, shape: $0.shape) }) {
            index, sink throws(ModelError) in
            try sink.write(items[index].bytes)
        }
    }
}

/// FP8 E4M3 (fn variant: bias 7, max 448, no infinities) by nearest value, ties to even code.
enum FP8 {
    static let positiveValues: [Float] = (0..<127).map { decode(UInt8($0)) }   // codes 0x00..0x7E ascending

    static func decode(_ code: UInt8) -> Float {
        let sign: Float = code & 0x80 != 0 ? -1 : 1
        let exponent = Int((code >> 3) & 0xF)
        let mantissa = Float(code & 0x7)
        if exponent == 0 { return sign * mantissa / 8 * powf(2, -6) }
        return sign * (1 + mantissa / 8) * powf(2, Float(exponent - 7))
    }

    static func encode(_ value: Float) -> UInt8 {
        let magnitude = min(abs(value), 448)
        var low = 0
        var high = positiveValues.count - 1
        while low < high {
            let mid = (low + high) / 2
            if positiveValues[mid] < magnitude { low = mid + 1 } else { high = mid }
        }
        var code = low
        if low > 0 {
            let below = positiveValues[low - 1]
            let above = positiveValues[low]
            if magnitude - below < above - magnitude || (magnitude - below == above - magnitude && (low - 1) % 2 == 0) {
                code = low - 1
            }
        }
        return UInt8(code) | (value < 0 && code != 0 ? 0x80 : 0)
    }
}

extension CheckpointCopy.Item {
    var asFloats: [Float] {
        let count = shape.reduce(1, *)
        return bytes.withUnsafeBytes { raw in
            [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
                let dtype: WeightDType = dtype == "F32" ? .f32 : dtype == "BF16" ? .bf16 : .f16
                Kernels.toF32(buffer.baseAddress!, raw.baseAddress!, dtype: dtype, count: count)
                initialized = count
            }
        }
    }

    static func f32(_ name: String, _ shape: [Int], _ values: [Float]) -> Self {
        Self(name: name, dtype: "F32", shape: shape, bytes: values.withUnsafeBytes { Array($0) })
    }
}
