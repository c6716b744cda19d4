#if canImport(Glibc)
import Glibc
#endif

/// Whole-file reads and writes for datasets and result files.
public enum FileIO {
    public static func read(_ path: String) throws -> [UInt8] {
        guard let file = fopen(path, "rb") else { throw BenchError("cannot open '\(path)': \(String(cString: strerror(errno)))") }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = chunk.withUnsafeMutableBytes { fread($0.baseAddress, 1, $0.count, file) }
            if count <= 0 { break }
            bytes.append(contentsOf: chunk[0..<count])
        }
        return bytes
    }

    public static func write(_ text: String, to path: String) throws {
        guard let file = fopen(path, "wb") else { throw BenchError("cannot write '\(path)': \(String(cString: strerror(errno)))") }
        defer { fclose(file) }
        let bytes = Array(text.utf8)
        let written = bytes.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, file) }
        guard written == bytes.count else { throw BenchError("short write to '\(path)'") }
    }

    public static func makeDirectory(_ path: String) {
        _ = mkdir(path, 0o755)
    }

    public static var stdoutIsTerminal: Bool { isatty(1) != 0 }
}
