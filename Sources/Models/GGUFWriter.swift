import Foundation

/// Streams a GGUF v3 file (little-endian) to disk, the counterpart of `GGUFFile`:
/// ```
/// "GGUF" u32 3 | u64 tensorCount | u64 kvCount | kv pairs | tensor infos (name, n_dims, ne[], type, offset)
/// | zero padding to `alignment` | tensor data, each tensor padded to `alignment`
/// ```
/// Every offset is known before the first data byte (sizes follow from type and shape), so the header is written
/// first and each tensor's bytes then go out in order through `fill`: the writer never holds more than the header
/// and whatever one `fill` call buffers.
public enum GGUFWriter {
    /// A typed metadata value (GGUF keeps the width of each integer, so `GGUFValue` is not precise enough).
    public enum Value: Sendable, Equatable {
        case u32(UInt32)
        case i32(Int32)
        case f32(Float)
        case bool(Bool)
        case string(String)
        case strings([String])
        case i32s([Int32])
    }

    /// One tensor's header entry. `ne` is GGUF order, innermost first: a [rows, columns] matrix is [columns, rows].
    public struct Tensor: Sendable, Equatable {
        public var name: String
        public var ne: [Int]
        public var type: GGUFTensorType

        public init(name: String, ne: [Int], type: GGUFTensorType) {
            self.name = name
            self.ne = ne
            self.type = type
        }

        /// Bytes of data; nil when ne[0] is not a multiple of the type's block or the type is unknown.
        public var byteCount: Int? {
            guard let first = ne.first, let rowBytes = GGMLQuantizer.rowByteCount(type, count: first) else { return nil }
            var total = rowBytes
            for d in ne.dropFirst() {
                let (product, overflow) = total.multipliedReportingOverflow(by: d)
                guard !overflow else { return nil }
                total = product
            }
            return total
        }
    }

    /// Appends tensor bytes to the file being written and counts them.
    public final class Sink {
        fileprivate let file: UnsafeMutablePointer<FILE>
        fileprivate let path: String
        public fileprivate(set) var written = 0

        fileprivate init(file: UnsafeMutablePointer<FILE>, path: String) {
            self.file = file
            self.path = path
        }

        public func write(_ bytes: UnsafeRawBufferPointer) throws(ModelError) {
            guard let base = bytes.baseAddress, bytes.count > 0 else { return }
            guard fwrite(base, 1, bytes.count, file) == bytes.count else {
                throw ModelError("\(path): write failed: \(String(cString: strerror(errno)))")
            }
            written += bytes.count
        }

        public func write(_ bytes: [UInt8]) throws(ModelError) {
            let ok = bytes.withUnsafeBytes { raw in
                raw.count == 0 || raw.baseAddress.map { fwrite($0, 1, raw.count, file) == raw.count } == true
            }
            guard ok else { throw ModelError("\(path): write failed: \(String(cString: strerror(errno)))") }
            written += bytes.count
        }
    }

    /// The header bytes (magic through the padding before the data), and each tensor's data offset.
    public static func header(metadata: [(String, Value)], tensors: [Tensor],
                              alignment: Int = 32) throws(ModelError) -> (bytes: [UInt8], offsets: [Int]) {
        precondition(alignment > 0 && alignment & (alignment - 1) == 0, "alignment must be a power of two")
        var b = Bytes()
        b.raw(Array("GGUF".utf8))
        b.u32(3)
        b.u64(UInt64(tensors.count))
        b.u64(UInt64(metadata.count))
        var seen = Set<String>()
        for (key, value) in metadata {
            guard seen.insert(key).inserted else { throw ModelError("GGUF metadata key \(key) given twice") }
            b.string(key)
            switch value {
            case .u32(let v): b.u32(4); b.u32(v)
            case .i32(let v): b.u32(5); b.u32(UInt32(bitPattern: v))
            case .f32(let v): b.u32(6); b.u32(v.bitPattern)
            case .bool(let v): b.u32(7); b.raw([v ? 1 : 0])
            case .string(let s): b.u32(8); b.string(s)
            case .strings(let list):
                b.u32(9); b.u32(8); b.u64(UInt64(list.count))
                for s in list { b.string(s) }
            case .i32s(let list):
                b.u32(9); b.u32(5); b.u64(UInt64(list.count))
                for v in list { b.u32(UInt32(bitPattern: v)) }
            }
        }
        var offsets: [Int] = []
        var offset = 0
        seen = []
        for tensor in tensors {
            guard seen.insert(tensor.name).inserted else { throw ModelError("GGUF tensor \(tensor.name) given twice") }
            guard (1...GGUFFile.maximumDimensions).contains(tensor.ne.count), tensor.ne.allSatisfy({ $0 >= 0 }),
                  let bytes = tensor.byteCount else {
                throw ModelError("GGUF tensor \(tensor.name): ne \(tensor.ne) cannot be stored as \(tensor.type)")
            }
            b.string(tensor.name)
            b.u32(UInt32(tensor.ne.count))
            for d in tensor.ne { b.u64(UInt64(d)) }
            b.u32(tensor.type.id)
            b.u64(UInt64(offset))
            offsets.append(offset)
            offset += (bytes + alignment - 1) / alignment * alignment
        }
        while b.data.count % alignment != 0 { b.data.append(0) }
        return (b.data, offsets)
    }

    /// Writes `path`: the header, then `fill(index, sink)` for each tensor in order, which must write exactly
    /// `tensors[index].byteCount` bytes (checked); the padding after each tensor (the last included, as ggml's own
    /// writer does) is added here.
    public static func write(path: String, metadata: [(String, Value)], tensors: [Tensor], alignment: Int = 32,
                             fill: (Int, Sink) throws(ModelError) -> Void) throws(ModelError) {
        let header = try header(metadata: metadata, tensors: tensors, alignment: alignment)
        guard let file = fopen(path, "wb") else { throw ModelError("\(path): cannot create: \(String(cString: strerror(errno)))") }
        var closed = false
        defer { if !closed { fclose(file) } }
        let sink = Sink(file: file, path: path)
        try sink.write(header.bytes)
        let padding = [UInt8](repeating: 0, count: alignment)
        for (index, tensor) in tensors.enumerated() {
            let before = sink.written
            try fill(index, sink)
            let bytes = tensor.byteCount ?? 0
            guard sink.written - before == bytes else {
                throw ModelError("\(path): tensor \(tensor.name): wrote \(sink.written - before) bytes, expected \(bytes)")
            }
            let pad = (alignment - bytes % alignment) % alignment
            if pad > 0 { try sink.write(Array(padding.prefix(pad))) }
        }
        guard fflush(file) == 0 else { throw ModelError("\(path): flush failed: \(String(cString: strerror(errno)))") }
        closed = true
        guard fclose(file) == 0 else { throw ModelError("\(path): close failed: \(String(cString: strerror(errno)))") }
    }

    /// Little-endian field encoder for the header.
    private struct Bytes {
        var data: [UInt8] = []
        mutating func raw(_ bytes: [UInt8]) { data.append(contentsOf: bytes) }
        mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { data.append(contentsOf: $0) } }
        mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { data.append(contentsOf: $0) } }
        mutating func string(_ s: String) {
            u64(UInt64(s.utf8.count))
            data.append(contentsOf: s.utf8)
        }
    }
}
