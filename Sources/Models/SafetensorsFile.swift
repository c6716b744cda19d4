import Foundation
import JSON
import Tensors

/// One tensor entry of a safetensors header, located in its mapped file.
public struct TensorEntry: @unchecked Sendable {
    public let name: String
    /// The safetensors dtype string ("BF16", "F32", "F8_E4M3", ...).
    public let dtypeName: String
    /// nil for a dtype the engine cannot compute with (allowed in the header, rejected if the model needs it).
    public let dtype: WeightDType?
    public let shape: [Int]
    /// Start of the tensor's bytes in the mapping.
    public let data: UnsafeRawPointer
    public let byteCount: Int
    /// The file holding it (for messages).
    public let file: String
}

/// A memory-mapped `.safetensors` file with a validated header:
/// `[u64 little-endian N][N bytes of JSON header][data]`; each entry has dtype, shape and `data_offsets` relative to
/// the data section. Every entry is checked against the file size and its dtype x shape; nothing is copied.
public final class SafetensorsFile: @unchecked Sendable {
    public let path: String
    public let mapping: MappedFile
    public let entries: [String: TensorEntry]
    public let metadata: [String: String]

    /// Headers larger than this are rejected (the largest real ones are a few MB).
    static let maximumHeaderSize = 256 << 20

    public init(path: String) throws(ModelError) {
        self.path = path
        do { mapping = try MappedFile(path: path) } catch { throw ModelError("\(path): cannot open: \(error.reason)") }
        guard let base = mapping.base, mapping.byteCount >= 8 else {
            throw ModelError("\(path): truncated file (\(mapping.byteCount) bytes, shorter than the 8-byte header length)")
        }
        // Checked as UInt64 first: a length past Int.max must be an error, not a trap in the conversion.
        let declaredHeaderSize = UInt64(littleEndian: base.loadUnaligned(as: UInt64.self))
        guard declaredHeaderSize >= 2, declaredHeaderSize <= UInt64(Self.maximumHeaderSize) else {
            throw ModelError("\(path): bad header length \(declaredHeaderSize)")
        }
        let headerSize = Int(declaredHeaderSize)
        guard 8 + headerSize <= mapping.byteCount else {
            throw ModelError("\(path): truncated file: header says \(headerSize) bytes of JSON but the file has \(mapping.byteCount) bytes")
        }
        let headerBytes = UnsafeBufferPointer(start: (base + 8).assumingMemoryBound(to: UInt8.self), count: headerSize)
        let header: JSONObject
        do {
            guard case .object(let object) = try JSONParser.parse(headerBytes) else {
                throw ModelError("\(path): header is not a JSON object")
            }
            header = object
        } catch let error as JSONError {
            throw ModelError("\(path): header is not valid JSON (\(error.description) at byte \(error.offset))")
        } catch {
            throw error as? ModelError ?? ModelError("\(path): \(error)")
        }
        let dataStart = 8 + headerSize
        let dataSize = mapping.byteCount - dataStart
        var entries: [String: TensorEntry] = [:]
        var metadata: [String: String] = [:]
        for member in header {
            let name = member.key
            if name == "__metadata__" {
                if case .object(let dictionary) = member.value {
                    for item in dictionary { metadata[item.key] = item.value.stringValue ?? item.value.compactJSON() }
                }
                continue
            }
            guard case .object(let info) = member.value else { throw ModelError("\(path): tensor \(name): entry is not an object") }
            guard let dtypeName = info["dtype"]?.stringValue else { throw ModelError("\(path): tensor \(name): missing dtype") }
            guard let shapeValues = info["shape"]?.arrayValue, let offsets = info["data_offsets"]?.arrayValue, offsets.count == 2 else {
                throw ModelError("\(path): tensor \(name): missing or malformed shape / data_offsets")
            }
            var shape: [Int] = []
            for item in shapeValues {
                guard let dimension = Self.nonNegativeInteger(item) else {
                    throw ModelError("\(path): tensor \(name): bad shape \(JSONValue.array(shapeValues))")
                }
                shape.append(dimension)
            }
            guard let begin = Self.nonNegativeInteger(offsets[0]), let end = Self.nonNegativeInteger(offsets[1]), end >= begin else {
                throw ModelError("\(path): tensor \(name): bad data_offsets \(JSONValue.array(offsets))")
            }
            guard end <= dataSize else {
                throw ModelError("\(path): tensor \(name): data_offsets [\(begin), \(end)] run past the end of the file "
                    + "(data section is \(dataSize) bytes; truncated file?)")
            }
            guard let elementSize = Self.elementSize(dtypeName) else {
                throw ModelError("\(path): tensor \(name): unknown dtype \(dtypeName)")
            }
            var byteCount = elementSize
            for dimension in shape {
                let (product, overflow) = byteCount.multipliedReportingOverflow(by: dimension)
                guard !overflow else { throw ModelError("\(path): tensor \(name): shape \(shape) overflows") }
                byteCount = product
            }
            guard byteCount == end - begin else {
                throw ModelError("\(path): tensor \(name): \(dtypeName) \(shape) needs \(byteCount) bytes "
                    + "but data_offsets span \(end - begin)")
            }
            entries[name] = TensorEntry(name: name, dtypeName: dtypeName, dtype: Self.weightDType(dtypeName), shape: shape,
                                        data: base + dataStart + begin, byteCount: end - begin, file: path)
        }
        self.entries = entries
        self.metadata = metadata
    }

    /// A JSON integer >= 0 that fits in Int (integral floats such as `4.0` too, as Python's loader accepts them).
    static func nonNegativeInteger(_ value: JSONValue) -> Int? {
        switch value {
        case .number(.int(let integer)): return integer >= 0 ? Int(exactly: integer) : nil
        case .number(.double(let double)): return double >= 0 ? Int(exactly: double) : nil
        default: return nil
        }
    }

    static func elementSize(_ dtype: String) -> Int? {
        switch dtype {
        case "F64", "I64", "U64": 8
        case "F32", "I32", "U32": 4
        case "F16", "BF16", "I16", "U16": 2
        case "F8_E4M3", "F8_E5M2", "I8", "U8", "BOOL": 1
        default: nil
        }
    }

    static func weightDType(_ dtype: String) -> WeightDType? {
        switch dtype {
        case "F32": .f32
        case "BF16": .bf16
        case "F16": .f16
        case "F8_E4M3": .fp8E4M3
        default: nil
        }
    }
}

/// All tensors of a checkpoint folder: `model.safetensors`, or the shards listed in `model.safetensors.index.json`.
public final class SafetensorsCheckpoint: @unchecked Sendable {
    public let directory: String
    public let files: [SafetensorsFile]
    public let entries: [String: TensorEntry]

    /// Opens the folder's safetensors; `progress(done, total)` is called after each file.
    public init(directory: String, progress: (Int, Int) -> Void = { _, _ in }) throws(ModelError) {
        self.directory = directory
        let indexPath = directory + "/model.safetensors.index.json"
        var fileNames: [String]
        var weightMap: [String: String]? = nil
        if let data = FileManager.default.contents(atPath: indexPath) {
            let index: JSONValue
            do { index = try JSONParser.parse([UInt8](data)) } catch {
                throw ModelError("\(indexPath): invalid JSON (\(error.description) at byte \(error.offset))")
            }
            var map: [String: String] = [:]
            guard let members = index["weight_map"]?.objectValue else {
                throw ModelError("\(indexPath): missing \"weight_map\" object of tensor name -> file")
            }
            for member in members {
                guard let file = member.value.stringValue else {
                    throw ModelError("\(indexPath): missing \"weight_map\" object of tensor name -> file")
                }
                map[member.key] = file
            }
            weightMap = map
            fileNames = Array(Set(map.values)).sorted()
            for name in fileNames where name.contains("/") || name.hasPrefix(".") {
                throw ModelError("\(indexPath): shard name \"\(name)\" must be a plain file name")
            }
        } else if FileManager.default.fileExists(atPath: directory + "/model.safetensors") {
            fileNames = ["model.safetensors"]
        } else {
            throw ModelError("\(directory): no model.safetensors or model.safetensors.index.json")
        }
        var files: [SafetensorsFile] = []
        var entries: [String: TensorEntry] = [:]
        for (index, name) in fileNames.enumerated() {
            let file = try SafetensorsFile(path: directory + "/" + name)
            for (tensor, entry) in file.entries {
                if let other = entries[tensor] {
                    throw ModelError("tensor \(tensor) appears in both \(other.file) and \(file.path)")
                }
                if let weightMap, weightMap[tensor] != name {
                    throw ModelError("\(file.path): tensor \(tensor) is not listed for this shard in model.safetensors.index.json")
                }
                entries[tensor] = entry
            }
            files.append(file)
            progress(index + 1, fileNames.count)
        }
        if let weightMap {
            for (tensor, file) in weightMap.sorted(by: { $0.key < $1.key }) where entries[tensor] == nil {
                throw ModelError("\(directory)/\(file): tensor \(tensor) listed in model.safetensors.index.json is missing")
            }
        }
        self.files = files
        self.entries = entries
    }

    /// Total bytes of all mapped files.
    public var byteCount: Int { files.reduce(0) { $0 + $1.mapping.byteCount } }
}
