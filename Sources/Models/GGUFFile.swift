import Foundation
import Tensors

/// A metadata value of a GGUF file.
public enum GGUFValue: Sendable, Equatable {
    case unsigned(UInt64)
    case signed(Int64)
    case float(Double)
    case bool(Bool)
    case string(String)
    case array([GGUFValue])

    public var int: Int? {
        switch self {
        case .unsigned(let v): Int(exactly: v)
        case .signed(let v): Int(exactly: v)
        default: nil
        }
    }

    public var double: Double? {
        switch self {
        case .float(let v): v
        case .unsigned(let v): Double(v)
        case .signed(let v): Double(v)
        default: nil
        }
    }

    public var string: String? { if case .string(let s) = self { s } else { nil } }
    public var array: [GGUFValue]? { if case .array(let a) = self { a } else { nil } }
    public var bool: Bool? { if case .bool(let b) = self { b } else { nil } }
}

/// Storage type of a GGUF tensor (ggml_type). Only the types LingServe reads are named; any other id is kept as
/// `.other(id)` so the header parses and a model that needs such a tensor fails naming tensor and type.
public enum GGUFTensorType: Sendable, Equatable, CustomStringConvertible {
    case f32, f16, q4_0, q5_0, q5_1, q8_0, q4K, q5K, q6K, bf16
    case other(UInt32)

    public init(id: UInt32) {
        switch id {
        case 0: self = .f32
        case 1: self = .f16
        case 2: self = .q4_0
        case 6: self = .q5_0
        case 7: self = .q5_1
        case 8: self = .q8_0
        case 12: self = .q4K
        case 13: self = .q5K
        case 14: self = .q6K
        case 30: self = .bf16
        default: self = .other(id)
        }
    }

    /// The ggml_type id stored in the file.
    public var id: UInt32 {
        switch self {
        case .f32: 0
        case .f16: 1
        case .q4_0: 2
        case .q5_0: 6
        case .q5_1: 7
        case .q8_0: 8
        case .q4K: 12
        case .q5K: 13
        case .q6K: 14
        case .bf16: 30
        case .other(let id): id
        }
    }

    /// Elements per block and bytes per block (ggml's type traits).
    public var block: (elements: Int, bytes: Int)? {
        switch self {
        case .f32: (1, 4)
        case .f16, .bf16: (1, 2)
        case .q4_0: (32, 18)
        case .q5_0: (32, 22)
        case .q5_1: (32, 24)
        case .q8_0: (32, 34)
        case .q4K: (256, 144)
        case .q5K: (256, 176)
        case .q6K: (256, 210)
        case .other(let id): Self.otherBlocks[id]
        }
    }

    /// Block layouts of the ggml types LingServe does not compute with, so their sizes still validate.
    private static let otherBlocks: [UInt32: (Int, Int)] = [
        3: (32, 20), 9: (32, 36), 10: (256, 84), 11: (256, 110), 15: (256, 292),
        16: (256, 66), 17: (256, 74), 18: (256, 98), 19: (256, 50), 20: (32, 18), 21: (256, 110), 22: (256, 82),
        23: (256, 136), 24: (1, 1), 25: (1, 2), 26: (1, 4), 27: (1, 8), 28: (1, 8), 29: (256, 56),
    ]

    public var description: String {
        switch self {
        case .f32: "F32"
        case .f16: "F16"
        case .bf16: "BF16"
        case .q4_0: "Q4_0"
        case .q5_0: "Q5_0"
        case .q5_1: "Q5_1"
        case .q8_0: "Q8_0"
        case .q4K: "Q4_K"
        case .q5K: "Q5_K"
        case .q6K: "Q6_K"
        case .other(let id): Self.otherNames[id] ?? "ggml type \(id)"
        }
    }

    private static let otherNames: [UInt32: String] = [
        3: "Q4_1", 9: "Q8_1", 10: "Q2_K", 11: "Q3_K", 15: "Q8_K", 16: "IQ2_XXS", 17: "IQ2_XS",
        18: "IQ3_XXS", 19: "IQ1_S", 20: "IQ4_NL", 21: "IQ3_S", 22: "IQ2_S", 23: "IQ4_XS", 24: "I8", 25: "I16",
        26: "I32", 27: "I64", 28: "F64", 29: "IQ1_M",
    ]
}

/// One tensor of a GGUF file, located in its mapping. `shape` is in torch order (outermost first), the reverse of
/// GGUF's `ne` (innermost first): a [rows, columns] matrix is stored with ne = [columns, rows].
public struct GGUFTensor: @unchecked Sendable {
    public let name: String
    public let type: GGUFTensorType
    public let shape: [Int]
    public let data: UnsafeRawPointer
    public let byteCount: Int
    public let file: String
}

/// A memory-mapped GGUF file (v2 or v3, little-endian) with a validated header:
/// `"GGUF" u32 version, u64 tensorCount, u64 kvCount, kv pairs, tensor infos, padding to general.alignment, data`.
/// Every count, length, offset and shape is checked against the file before use; nothing is copied but the
/// metadata. Errors name the file and the field (`ModelError`).
public final class GGUFFile: @unchecked Sendable {
    public let path: String
    public let mapping: MappedFile
    public let version: UInt32
    public let metadata: [String: GGUFValue]
    /// Metadata keys in file order.
    public let metadataKeys: [String]
    public let tensors: [String: GGUFTensor]
    /// Tensor names in file order.
    public let tensorNames: [String]
    public let alignment: Int

    static let maximumDimensions = 4
    static let maximumArrayDepth = 8

    public init(path: String) throws(ModelError) {
        self.path = path
        do { mapping = try MappedFile(path: path) } catch { throw ModelError("\(path): cannot open: \(error.reason)") }
        var reader = GGUFReader(base: mapping.base, count: mapping.byteCount, path: path)
        let magic = try reader.u32("magic")
        guard magic == 0x4655_4747 else {
            throw ModelError("\(path): not a GGUF file (magic 0x\(String(magic, radix: 16)), expected \"GGUF\")")
        }
        version = try reader.u32("version")
        guard version == 2 || version == 3 else {
            throw ModelError("\(path): field version: unsupported GGUF version \(version) (2 and 3 are supported)")
        }
        let tensorCount = try reader.count("tensor_count", minimumBytesEach: 24)
        let kvCount = try reader.count("metadata_kv_count", minimumBytesEach: 13)
        var metadata: [String: GGUFValue] = [:]
        var keys: [String] = []
        for index in 0..<kvCount {
            let key = try reader.string("metadata key #\(index)")
            guard metadata[key] == nil else { throw ModelError("\(path): metadata key \(key) appears twice") }
            let type = try reader.u32("metadata \(key) type")
            metadata[key] = try reader.value(type: type, field: "metadata \(key)", depth: 0)
            keys.append(key)
        }
        var alignment = 32
        if let value = metadata["general.alignment"] {
            guard let a = value.int, a > 0, a <= 1 << 20, a & (a - 1) == 0 else {
                throw ModelError("\(path): metadata general.alignment must be a power of two (got \(value))")
            }
            alignment = a
        }
        struct Info { let name: String; let type: GGUFTensorType; let shape: [Int]; let offset: Int; let bytes: Int }
        var infos: [Info] = []
        var seen: Set<String> = []
        for index in 0..<tensorCount {
            let name = try reader.string("tensor #\(index) name")
            guard seen.insert(name).inserted else { throw ModelError("\(path): tensor \(name) appears twice") }
            let dimensionCount = Int(try reader.u32("tensor \(name) n_dims"))
            guard dimensionCount >= 1, dimensionCount <= Self.maximumDimensions else {
                throw ModelError("\(path): tensor \(name): n_dims \(dimensionCount) out of range 1...\(Self.maximumDimensions)")
            }
            var ne: [Int] = []
            var elements = 1
            for d in 0..<dimensionCount {
                let raw = try reader.u64("tensor \(name) ne[\(d)]")
                guard let dimension = Int(exactly: raw), dimension >= 0 else {
                    throw ModelError("\(path): tensor \(name): ne[\(d)] = \(raw) out of range")
                }
                let (product, overflow) = elements.multipliedReportingOverflow(by: dimension)
                guard !overflow, product <= Int(Int32.max) * 1024 else {
                    throw ModelError("\(path): tensor \(name): shape overflows")
                }
                elements = product
                ne.append(dimension)
            }
            let type = GGUFTensorType(id: try reader.u32("tensor \(name) type"))
            guard let block = type.block else {
                throw ModelError("\(path): tensor \(name): unknown tensor type \(type)")
            }
            guard ne[0] % block.elements == 0 else {
                throw ModelError("\(path): tensor \(name): ne[0] = \(ne[0]) is not a multiple of the \(type) block (\(block.elements))")
            }
            let offsetRaw = try reader.u64("tensor \(name) offset")
            guard let offset = Int(exactly: offsetRaw), offset % alignment == 0 else {
                throw ModelError("\(path): tensor \(name): offset \(offsetRaw) is not a multiple of the alignment \(alignment)")
            }
            infos.append(Info(name: name, type: type, shape: ne.reversed(), offset: offset,
                              bytes: elements / block.elements * block.bytes))
        }
        let headerEnd = reader.position
        let dataStart = (headerEnd + alignment - 1) / alignment * alignment
        guard dataStart <= mapping.byteCount || tensorCount == 0 else {
            throw ModelError("\(path): truncated file: data section would start at \(dataStart), file has \(mapping.byteCount) bytes")
        }
        var tensors: [String: GGUFTensor] = [:]
        for info in infos {
            let (end, overflow) = info.offset.addingReportingOverflow(info.bytes)
            guard !overflow, dataStart + end <= mapping.byteCount, let base = mapping.base else {
                throw ModelError("\(path): tensor \(info.name): offset \(info.offset) + \(info.bytes) bytes runs past the end "
                    + "of the file (data section is \(max(0, mapping.byteCount - dataStart)) bytes; truncated file?)")
            }
            tensors[info.name] = GGUFTensor(name: info.name, type: info.type, shape: info.shape,
                                            data: base + dataStart + info.offset, byteCount: info.bytes, file: path)
        }
        self.metadata = metadata
        self.metadataKeys = keys
        self.tensors = tensors
        self.tensorNames = infos.map(\.name)
        self.alignment = alignment
    }
}

/// Bounds-checked little-endian reads over the mapping; every failure names the field.
private struct GGUFReader {
    let base: UnsafeRawPointer?
    let count: Int
    let path: String
    var position = 0

    init(base: UnsafeRawPointer?, count: Int, path: String) {
        self.base = base
        self.count = count
        self.path = path
    }

    var remaining: Int { count - position }

    mutating func bytes(_ n: Int, _ field: String) throws(ModelError) -> UnsafeRawPointer {
        guard n >= 0, n <= remaining, let base else {
            throw ModelError("\(path): truncated file reading \(field) (needs \(n) bytes at offset \(position), file has \(count))")
        }
        defer { position += n }
        return base + position
    }

    mutating func u8(_ field: String) throws(ModelError) -> UInt8 { try bytes(1, field).load(as: UInt8.self) }
    mutating func u16(_ field: String) throws(ModelError) -> UInt16 { UInt16(littleEndian: try bytes(2, field).loadUnaligned(as: UInt16.self)) }
    mutating func u32(_ field: String) throws(ModelError) -> UInt32 { UInt32(littleEndian: try bytes(4, field).loadUnaligned(as: UInt32.self)) }
    mutating func u64(_ field: String) throws(ModelError) -> UInt64 { UInt64(littleEndian: try bytes(8, field).loadUnaligned(as: UInt64.self)) }

    /// A u64 count of items each at least `minimumBytesEach` long: larger than the rest of the file allows is an error.
    mutating func count(_ field: String, minimumBytesEach: Int) throws(ModelError) -> Int {
        let raw = try u64(field)
        guard let n = Int(exactly: raw), n <= remaining / max(minimumBytesEach, 1) else {
            throw ModelError("\(path): field \(field) = \(raw) is more than the \(remaining) bytes left in the file can hold")
        }
        return n
    }

    mutating func string(_ field: String) throws(ModelError) -> String {
        let raw = try u64(field + " length")
        guard let n = Int(exactly: raw), n <= remaining else {
            throw ModelError("\(path): \(field): string length \(raw) runs past the end of the file (\(remaining) bytes left)")
        }
        let pointer = try bytes(n, field)
        return String(decoding: UnsafeRawBufferPointer(start: pointer, count: n), as: UTF8.self)
    }

    mutating func value(type: UInt32, field: String, depth: Int) throws(ModelError) -> GGUFValue {
        switch type {
        case 0: return .unsigned(UInt64(try u8(field)))
        case 1: return .signed(Int64(Int8(bitPattern: try u8(field))))
        case 2: return .unsigned(UInt64(try u16(field)))
        case 3: return .signed(Int64(Int16(bitPattern: try u16(field))))
        case 4: return .unsigned(UInt64(try u32(field)))
        case 5: return .signed(Int64(Int32(bitPattern: try u32(field))))
        case 6: return .float(Double(Float(bitPattern: try u32(field))))
        case 7:
            let b = try u8(field)
            guard b <= 1 else { throw ModelError("\(path): \(field): bool value \(b) is not 0 or 1") }
            return .bool(b == 1)
        case 8: return .string(try string(field))
        case 9:
            guard depth < GGUFFile.maximumArrayDepth else { throw ModelError("\(path): \(field): arrays nested too deeply") }
            let elementType = try u32(field + " element type")
            let minimum: Int
            switch elementType {
            case 0, 1, 7: minimum = 1
            case 2, 3: minimum = 2
            case 4, 5, 6: minimum = 4
            case 8, 10, 11, 12: minimum = 8
            case 9: minimum = 12
            default: throw ModelError("\(path): \(field): unknown array element type \(elementType)")
            }
            let n = try count(field + " array length", minimumBytesEach: minimum)
            var items: [GGUFValue] = []
            items.reserveCapacity(n)
            for index in 0..<n {
                items.append(try value(type: elementType, field: "\(field)[\(index)]", depth: depth + 1))
            }
            return .array(items)
        case 10: return .unsigned(try u64(field))
        case 11: return .signed(Int64(bitPattern: try u64(field)))
        case 12: return .float(Double(bitPattern: try u64(field)))
        default: throw ModelError("\(path): \(field): unknown value type \(type)")
        }
    }
}
