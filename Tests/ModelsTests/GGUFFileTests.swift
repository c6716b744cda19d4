import Foundation
import Models
import Testing
import TestSupport

/// Builds GGUF bytes field by field (little-endian), for tests that need exact or deliberately broken files.
struct GGUFBytes {
    var data = Data()

    mutating func u8(_ v: UInt8) { data.append(v) }
    mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { data.append(contentsOf: $0) } }
    mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { data.append(contentsOf: $0) } }
    mutating func f32(_ v: Float) { u32(v.bitPattern) }
    mutating func string(_ s: String) {
        u64(UInt64(s.utf8.count))
        data.append(contentsOf: Array(s.utf8))
    }
    mutating func pad(to alignment: Int) {
        while data.count % alignment != 0 { data.append(0) }
    }

    enum KV {
        case u32(UInt32)
        case f32(Float)
        case string(String)
        case strings([String])
        case i32s([Int32])
        case bool(Bool)
    }

    mutating func kv(_ key: String, _ value: KV) {
        string(key)
        switch value {
        case .u32(let v): u32(4); u32(v)
        case .f32(let v): u32(6); f32(v)
        case .string(let s): u32(8); string(s)
        case .bool(let b): u32(7); u8(b ? 1 : 0)
        case .strings(let list):
            u32(9); u32(8); u64(UInt64(list.count))
            for s in list { string(s) }
        case .i32s(let list):
            u32(9); u32(5); u64(UInt64(list.count))
            for v in list { u32(UInt32(bitPattern: v)) }
        }
    }

    struct Tensor {
        var name: String
        var ne: [UInt64]
        var type: UInt32
        var bytes: Data
    }

    /// A whole v3 file: header, metadata, tensor infos, data aligned to 32.
    static func file(version: UInt32 = 3, metadata: [(String, KV)], tensors: [Tensor]) -> Data {
        var b = GGUFBytes()
        b.data.append(contentsOf: Array("GGUF".utf8))
        b.u32(version)
        b.u64(UInt64(tensors.count))
        b.u64(UInt64(metadata.count))
        for (key, value) in metadata { b.kv(key, value) }
        var offset: UInt64 = 0
        for tensor in tensors {
            b.string(tensor.name)
            b.u32(UInt32(tensor.ne.count))
            for d in tensor.ne { b.u64(d) }
            b.u32(tensor.type)
            b.u64(offset)
            offset += UInt64((tensor.bytes.count + 31) / 32 * 32)
        }
        b.pad(to: 32)
        for tensor in tensors {
            b.data.append(tensor.bytes)
            b.pad(to: 32)
        }
        return b.data
    }
}

@Suite("GGUF file parser")
struct GGUFFileTests {
    static func sample() -> Data {
        var f32 = Data()
        for i in 0..<(4 * 3) { withUnsafeBytes(of: Float(i).bitPattern.littleEndian) { f32.append(contentsOf: $0) } }
        let q8 = Data(repeating: 7, count: 2 * 34)  // [2, 32] Q8_0: two blocks
        return GGUFBytes.file(metadata: [
            ("general.architecture", .string("bailingmoe2")),
            ("bailingmoe2.block_count", .u32(2)),
            ("bailingmoe2.rope.freq_base", .f32(600000)),
            ("tokenizer.ggml.tokens", .strings(["a", "b", "ab", "<|endoftext|>"])),
            ("tokenizer.ggml.token_type", .i32s([1, 1, 1, 3])),
            ("some.flag", .bool(true)),
        ], tensors: [
            .init(name: "w.f32", ne: [4, 3], type: 0, bytes: f32),
            .init(name: "w.q8", ne: [32, 2], type: 8, bytes: q8),
        ])
    }

    func write(_ data: Data, _ label: String) throws -> String {
        let path = NSTemporaryDirectory() + "lingserve-gguf-\(label)-\(getpid()).gguf"
        try data.write(to: URL(fileURLWithPath: path))
        return path
    }

    func parseError(_ data: Data, _ label: String) throws -> String? {
        let path = try write(data, label)
        defer { unlink(path) }
        do {
            _ = try GGUFFile(path: path)
            return nil
        } catch {
            return error.description
        }
    }

    @Test("metadata and tensors of a valid file")
    func valid() throws {
        let path = try write(Self.sample(), "valid")
        defer { unlink(path) }
        let file = try GGUFFile(path: path)
        #expect(file.version == 3)
        #expect(file.metadata["general.architecture"]?.string == "bailingmoe2")
        #expect(file.metadata["bailingmoe2.block_count"]?.int == 2)
        #expect(file.metadata["bailingmoe2.rope.freq_base"]?.double == 600000)
        #expect(file.metadata["tokenizer.ggml.tokens"]?.array?.compactMap(\.string) == ["a", "b", "ab", "<|endoftext|>"])
        #expect(file.metadata["tokenizer.ggml.token_type"]?.array?.compactMap(\.int) == [1, 1, 1, 3])
        #expect(file.metadata["some.flag"]?.bool == true)
        #expect(file.tensorNames == ["w.f32", "w.q8"])
        let f32 = try #require(file.tensors["w.f32"])
        #expect(f32.shape == [3, 4] && f32.type == .f32 && f32.byteCount == 48)
        #expect(f32.data.loadUnaligned(fromByteOffset: 4 * 5, as: Float.self) == 5)
        let q8 = try #require(file.tensors["w.q8"])
        #expect(q8.shape == [2, 32] && q8.type == .q8_0 && q8.byteCount == 68)
        #expect(Int(bitPattern: q8.data) % 32 == Int(bitPattern: f32.data) % 32)
    }

    @Test("version 2 parses; versions 1 and 4 are refused naming the field")
    func versions() throws {
        var v2 = Self.sample()
        v2[4] = 2
        #expect(try parseError(v2, "v2") == nil)
        for version: UInt8 in [1, 4] {
            var data = Self.sample()
            data[4] = version
            let message = try parseError(data, "v\(version)") ?? ""
            #expect(message.contains("version") && message.contains("\(version)") && message.contains(".gguf"), "\(message)")
        }
    }

    @Test("bad magic, truncation, huge counts, long strings, duplicates, misaligned offsets, unknown types")
    func malformed() throws {
        var magic = Self.sample()
        magic[0] = UInt8(ascii: "X")
        #expect(try parseError(magic, "magic")?.contains("not a GGUF file") == true)

        let whole = Self.sample()
        for cut in [3, 10, 30, 100, whole.count - 40, whole.count - 1] {
            guard let message = try parseError(whole.prefix(cut), "cut") else {
                // A file may end right after its last tensor's data: only trailing alignment padding may go.
                #expect(cut >= whole.count - 32 && whole.suffix(from: cut).allSatisfy { $0 == 0 }, "cut \(cut) parsed")
                continue
            }
            #expect(message.contains("truncated") || message.contains("past the end") || message.contains("bytes left"), "cut \(cut): \(message)")
        }

        var hugeCount = GGUFBytes()
        hugeCount.data.append(contentsOf: Array("GGUF".utf8))
        hugeCount.u32(3); hugeCount.u64(UInt64.max); hugeCount.u64(0)
        #expect(try parseError(hugeCount.data, "count")?.contains("tensor_count") == true)

        var longString = GGUFBytes()
        longString.data.append(contentsOf: Array("GGUF".utf8))
        longString.u32(3); longString.u64(0); longString.u64(1); longString.u64(1 << 40)
        #expect(try parseError(longString.data, "string")?.contains("bytes left") == true)

        let duplicateKey = GGUFBytes.file(metadata: [("a", .u32(1)), ("a", .u32(2))], tensors: [])
        #expect(try parseError(duplicateKey, "dupkey")?.contains("metadata key a appears twice") == true)

        let t = GGUFBytes.Tensor(name: "t", ne: [4], type: 0, bytes: Data(count: 16))
        let duplicateTensor = GGUFBytes.file(metadata: [], tensors: [t, t])
        #expect(try parseError(duplicateTensor, "duptensor")?.contains("tensor t appears twice") == true)

        let badAlignment = GGUFBytes.file(metadata: [("general.alignment", .u32(3))], tensors: [t])
        #expect(try parseError(badAlignment, "align")?.contains("general.alignment") == true)

        var misaligned = GGUFBytes.file(metadata: [], tensors: [t, .init(name: "u", ne: [4], type: 0, bytes: Data(count: 16))])
        // the second tensor's offset (32) is the last u64 before the padding: make it 33
        if let range = misaligned.range(of: Data([32, 0, 0, 0, 0, 0, 0, 0])) { misaligned[range.lowerBound] = 33 }
        #expect(try parseError(misaligned, "misaligned")?.contains("alignment") == true)

        let badBlock = GGUFBytes.file(metadata: [], tensors: [.init(name: "q", ne: [16], type: 8, bytes: Data(count: 34))])
        #expect(try parseError(badBlock, "block")?.contains("multiple of the Q8_0 block") == true)

        let unknown = GGUFBytes.file(metadata: [], tensors: [.init(name: "z", ne: [4], type: 99, bytes: Data(count: 16))])
        #expect(try parseError(unknown, "unknown")?.contains("tensor z: unknown tensor type") == true)

        let dims = GGUFBytes.file(metadata: [], tensors: [.init(name: "d", ne: [1, 1, 1, 1, 1], type: 0, bytes: Data(count: 4))])
        #expect(try parseError(dims, "dims")?.contains("n_dims") == true)

        var badValueType = GGUFBytes()
        badValueType.data.append(contentsOf: Array("GGUF".utf8))
        badValueType.u32(3); badValueType.u64(0); badValueType.u64(1); badValueType.string("k"); badValueType.u32(77)
        #expect(try parseError(badValueType.data, "vtype")?.contains("metadata k: unknown value type 77") == true)
    }

    /// Random mutations of a valid file (byte flips, 64-bit field overwrites with extreme values, truncations,
    /// insertions): each either parses or throws; no crash, no hang (the parse is bounded by the file size).
    @Test("10,000 mutated files parse or fail cleanly")
    func fuzz() throws {
        let original = Self.sample()
        var generator = SplitMix(state: 0x6767_7566)
        let path = NSTemporaryDirectory() + "lingserve-gguf-fuzz-\(getpid()).gguf"
        defer { unlink(path) }
        var parsed = 0
        var failed = 0
        let extremes: [UInt64] = [0, 1, 0xff, 0xffff_ffff, 1 << 32, 1 << 62, UInt64.max, UInt64.max - 7, 0x8000_0000_0000_0000]
        for _ in 0..<10_000 {
            var data = original
            for _ in 0..<(1 + Int(generator.next() % 4)) {
                switch generator.next() % 5 {
                case 0:
                    let i = Int(generator.next() % UInt64(data.count))
                    data[i] ^= UInt8(truncatingIfNeeded: 1 << (generator.next() % 8))
                case 1:
                    let i = Int(generator.next() % UInt64(data.count))
                    data[i] = UInt8(truncatingIfNeeded: generator.next())
                case 2 where data.count > 8:
                    let i = Int(generator.next() % UInt64(data.count - 8))
                    var value = extremes[Int(generator.next() % UInt64(extremes.count))].littleEndian
                    withUnsafeBytes(of: &value) { data.replaceSubrange(i..<(i + 8), with: $0) }
                case 3:
                    data = data.prefix(Int(generator.next() % UInt64(data.count + 1)))
                default:
                    let i = Int(generator.next() % UInt64(data.count + 1))
                    data.insert(contentsOf: [UInt8](repeating: UInt8(truncatingIfNeeded: generator.next()), count: 1 + Int(generator.next() % 9)), at: i)
                }
                if data.isEmpty { break }
            }
            try data.write(to: URL(fileURLWithPath: path))
            do {
                let file = try GGUFFile(path: path)
                for tensor in file.tensors.values where tensor.byteCount > 0 {
                    _ = tensor.data.load(fromByteOffset: tensor.byteCount - 1, as: UInt8.self)  // in bounds
                }
                parsed += 1
            } catch {
                #expect(error.description.contains(path), "\(error.description)")
                failed += 1
            }
        }
        #expect(parsed + failed == 10_000)
        #expect(failed > 1000 && parsed > 10)
    }
}

