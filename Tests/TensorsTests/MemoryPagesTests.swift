import Foundation
import Testing
@testable import Tensors

@Suite struct MemoryPagesTests {
    @Test func zeroedRegionsAreHugePageAlignedZeroAndWritable() throws {
        for byteCount in [1, 4095, MemoryPages.hugePageSize, 3 * MemoryPages.hugePageSize + 17] {
            let region = try #require(MemoryPages.allocateZeroed(byteCount: byteCount))
            #expect(UInt(bitPattern: region) % UInt(MemoryPages.hugePageSize) == 0)
            let bytes = region.assumingMemoryBound(to: UInt8.self)
            #expect(bytes[0] == 0 && bytes[byteCount - 1] == 0 && bytes[byteCount / 2] == 0)
            bytes[0] = 1
            bytes[byteCount - 1] = 2
            #expect(bytes[0] == (byteCount == 1 ? 2 : 1) && bytes[byteCount - 1] == 2)
            MemoryPages.release(region, byteCount: byteCount)
        }
        #expect(MemoryPages.allocateZeroed(byteCount: 0) == nil)
        #expect(MemoryPages.allocateZeroed(byteCount: -1) == nil)
        #expect(MemoryPages.allocateZeroed(byteCount: Int.max) == nil)
    }

    @Test func smapsHeaderLinesGiveTheirRangeAndFieldLinesNone() {
        #expect(MemoryPages.mappingRange("7f692e600000-7f6a07f32000 r--p 00000000 fe:00 5431298   /m.safetensors\n")
            == 0x7f69_2e60_0000..<0x7f6a_07f3_2000)
        #expect(MemoryPages.mappingRange("Rss:             3521800 kB\n") == nil)
        #expect(MemoryPages.mappingRange("FilePmdMapped:   3416064 kB\n") == nil)
        #expect(MemoryPages.mappingRange("VmFlags: rd mr mw me sd hg\n") == nil)
        #expect(MemoryPages.mappingRange("ffff-1000 r--p\n") == nil)  // empty or reversed
        #expect(MemoryPages.mappingRange("") == nil)
    }

    @Test func residentRegionsReportTheirShareOfHugePages() throws {
        #if os(Linux)
        let byteCount = 4 * MemoryPages.hugePageSize
        let region = try #require(MemoryPages.allocateZeroed(byteCount: byteCount))
        defer { MemoryPages.release(region, byteCount: byteCount) }
        region.initializeMemory(as: UInt8.self, repeating: 7, count: byteCount)
        let report = try #require(MemoryPages.hugePageShare(containing: region))
        #expect(report.residentBytes >= byteCount)
        // Whether the kernel grants 2 MiB pages is its choice (THP may be off); the share is a fraction either way.
        #expect(report.share >= 0 && report.share <= 1)
        #endif
    }
}
