import Foundation
import JSON

/// Streams a `.safetensors` file to disk: the header (names, dtypes, shapes, offsets) is written first, then each
/// tensor's bytes in declaration order through `fill`, so a multi-GiB file never has to be held in memory.
public struct SafetensorsWriter {
    public struct Tensor: Sendable {
        public var name: String
        /// safetensors dtype string: "F32", "BF16", "F16", "F8_E4M3".
        public var dtype: String
        public var shape: [Int]

        public init(name: String, dtype: String, shape: [Int]) {
            self.name = name
            self.dtype = dtype
            self.shape = shape
        }

        public var byteCount: Int { shape.reduce(1, *) * (SafetensorsFile.elementSize(dtype) ?? 0) }
    }

    /// Appends bytes to the file being written.
    public final class Sink {
        fileprivate let file: UnsafeMutablePointer<FILE>
        fileprivate var written = 0
        fileprivate init(file: UnsafeMutablePointer<FILE>) { self.file = file }

        public func write(_ bytes: UnsafeRawBufferPointer) throws(ModelError) {
            guard let base = bytes.baseAddress, bytes.count > 0 else { return }
            guard fwrite(base, 1, bytes.count, file) == bytes.count else { throw ModelError("write failed: \(String(cString: strerror(errno)))") }
            written += bytes.count
        }

        public func write<T>(_ values: [T]) throws(ModelError) {
            let ok = values.withUnsafeBytes { bytes in
                guard let base = bytes.baseAddress, bytes.count > 0 else { return true }
                return fwrite(base, 1, bytes.count, file) == bytes.count
            }
            guard ok else { throw ModelError("write failed: \(String(cString: strerror(errno)))") }
            written += values.count * MemoryLayout<T>.stride
        }
    }

    /// Writes `tensors` to `path`; `fill(index, sink)` must write exactly tensors[index].byteCount bytes.
    public static func write(path: String, tensors: [Tensor], metadata: [String: String] = ["format": "pt"],
                             fill: (Int, Sink) throws(ModelError) -> Void) throws(ModelError) {
        var header = "{"
        if !metadata.isEmpty {
            header += "\"__metadata__\":{" + metadata.sorted { $0.key < $1.key }.map { jsonQuoted($0.key) + ":" + jsonQuoted($0.value) }
                .joined(separator: ",") + "},"
        }
        var offset = 0
        var entries: [String] = []
        for tensor in tensors {
            let end = offset + tensor.byteCount
            entries.append(jsonQuoted(tensor.name) + ":{\"dtype\":\"\(tensor.dtype)\",\"shape\":[" + tensor.shape.map(String.init)
                .joined(separator: ",") + "],\"data_offsets\":[\(offset),\(end)]}")
            offset = end
        }
        header += entries.joined(separator: ",") + "}"
        var headerBytes = Array(header.utf8)
        while headerBytes.count % 8 != 0 { headerBytes.append(0x20) }
        guard let file = fopen(path, "wb") else { throw ModelError("\(path): cannot create: \(String(cString: strerror(errno)))") }
        defer { fclose(file) }
        let sink = Sink(file: file)
        try sink.write([UInt64(headerBytes.count).littleEndian])
        try sink.write(headerBytes)
        for (index, tensor) in tensors.enumerated() {
            let before = sink.written
            try fill(index, sink)
            guard sink.written - before == tensor.byteCount else {
                throw ModelError("\(path): tensor \(tensor.name): wrote \(sink.written - before) bytes, expected \(tensor.byteCount)")
            }
        }
        guard fflush(file) == 0 else { throw ModelError("\(path): flush failed") }
    }
}
