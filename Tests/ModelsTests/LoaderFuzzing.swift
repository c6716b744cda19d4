import Foundation
import JSON
import Models
import Testing
import TestSupport

/// Mutated safetensors files, config.json and generation_config.json: each loads or fails with a `ModelError` that
/// names the file; no trap in a conversion, a multiplication or an allocation sized by the file. Tokenizer.json has
/// its twin in TokenizersTests. (The suite's name avoids "FuzzTests": it needs no process of its own.)
@Suite("Model file loaders under mutation")
struct LoaderFuzzing {
    /// A small valid safetensors file: three tensors (one empty) and metadata.
    static func safetensorsSample() -> (header: JSONValue, data: [UInt8]) {
        let header: JSONValue = [
            "__metadata__": ["format": "pt"],
            "a": ["dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]],
            "b": ["dtype": "BF16", "shape": [4], "data_offsets": [24, 32]],
            "c": ["dtype": "U8", "shape": [0, 5], "data_offsets": [32, 32]],
        ]
        return (header, (0..<32).map { UInt8($0) })
    }

    static func safetensorsFile(header: [UInt8], data: [UInt8]) -> [UInt8] {
        var file: [UInt8] = []
        withUnsafeBytes(of: UInt64(header.count).littleEndian) { file.append(contentsOf: $0) }
        return file + header + data
    }

    @Test("4,000 mutated safetensors files open or fail cleanly")
    func safetensors() throws {
        let (header, data) = Self.safetensorsSample()
        let path = NSTemporaryDirectory() + "lingserve-safetensors-fuzz-\(getpid()).safetensors"
        defer { unlink(path) }
        var generator = SplitMix(state: 0x5AFE_7E45)
        let extremes: [UInt64] = [0, 1, 2, 0x7fff_ffff, 0xffff_ffff, 1 << 32, 1 << 62, 1 << 63, UInt64.max, UInt64.max - 7]
        var opened = 0
        var failed = 0
        for round in 0..<4_000 {
            var file: [UInt8]
            switch round % 4 {
            case 0, 1:
                file = Self.safetensorsFile(header: JSONMutation.mutate(header, using: &generator), data: data)
            case 2:
                file = JSONMutation.mutateBytes(
                    Self.safetensorsFile(header: Array(header.compactJSON().utf8), data: data), using: &generator)
            default:
                // The header length itself: any 64-bit value, over a valid header.
                file = Self.safetensorsFile(header: Array(header.compactJSON().utf8), data: data)
                var length = extremes[generator.below(extremes.count)] &+ UInt64(generator.below(3))
                withUnsafeBytes(of: &length) { file.replaceSubrange(0..<8, with: $0) }
            }
            try Data(file).write(to: URL(fileURLWithPath: path))
            do {
                let file = try SafetensorsFile(path: path)
                guard let base = file.mapping.base else { throw ModelError("\(path): no mapping") }
                for entry in file.entries.values {
                    let end = entry.data - base + entry.byteCount
                    #expect(end <= file.mapping.byteCount, "\(entry.name) ends at \(end)")
                    if entry.byteCount > 0 { _ = entry.data.load(fromByteOffset: entry.byteCount - 1, as: UInt8.self) }
                }
                opened += 1
            } catch {
                #expect(error is ModelError && "\(error)".contains(path), "\(error)")
                failed += 1
            }
        }
        #expect(opened + failed == 4_000)
        #expect(failed > 1_000 && opened > 100, "opened \(opened), failed \(failed)")
    }

    @Test("4,000 mutated config.json and generation_config.json decode or fail cleanly")
    func configs() throws {
        let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/release-bf16")
        let config = try JSONParser.parse([UInt8](try Data(contentsOf: directory.appendingPathComponent("config.json"))))
        let generation = try JSONParser.parse(
            [UInt8](try Data(contentsOf: directory.appendingPathComponent("generation_config.json"))))
        #expect(throws: Never.self) { try ModelConfig.decode(Data(config.compactJSON().utf8), path: "fuzz/config.json") }
        var generator = SplitMix(state: 0xC0F1_6000)
        var decoded = 0
        var failed = 0
        for round in 0..<4_000 {
            let isGeneration = round % 4 == 3
            let bytes = JSONMutation.mutate(isGeneration ? generation : config, using: &generator)
            let path = isGeneration ? "fuzz/generation_config.json" : "fuzz/config.json"
            do {
                if isGeneration {
                    let read = try GenerationConfig.decode(Data(bytes), path: path)
                    _ = Set(read.eosTokenIds)
                } else {
                    let read = try ModelConfig.decode(Data(bytes), path: path)
                    // The derived sizes the loader and the forward pass use must be computable.
                    _ = (read.qkvSize, read.sharedExpertIntermediateSize, read.rotaryDimension, read.queryGroupSize)
                    _ = read.vocabSize * read.hiddenSize + read.expertCount * read.moeIntermediateSize * read.hiddenSize * 3
                }
                decoded += 1
            } catch {
                #expect(error.description.contains(path), "\(error.description)")
                failed += 1
            }
        }
        #expect(decoded + failed == 4_000)
        #expect(failed > 1_000 && decoded > 100, "decoded \(decoded), failed \(failed)")
    }
}
