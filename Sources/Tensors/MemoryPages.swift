#if canImport(Glibc)
import Glibc
#endif

/// Page-level memory handling: first touch of mapped weights from the thread that will use them, anonymous regions
/// on 2 MiB pages, and how much of a region the kernel maps with 2 MiB entries.
///
/// Why 2 MiB pages: decode streams about a gigabyte of weights per step (hundreds of GiB on the big models); on 4 KiB
/// pages every 4 KiB costs a TLB miss and a restart of the hardware prefetcher, which do not stop at 2 MiB pages.
/// Measured on mini4-bf16 (Zen 4, 2 threads, alternated runs): decode 29-39 ms a step with the weights on 4 KiB
/// pages (MADV_NOHUGEPAGE) against 24-26 ms on 2 MiB pages.
public enum MemoryPages {
    public static let pageSize = max(4096, Int(sysconf(Int32(_SC_PAGESIZE))))
    public static let hugePageSize = 2 << 20

    /// Reads one byte per page of [base, base + byteCount), so the pages are faulted in by this thread (the kernel
    /// places a page on the NUMA node of the thread that faults it in, so a worker that touches its own experts'
    /// pages gets them in its node's memory). Returns an XOR of the bytes read so the reads cannot be elided.
    ///
    /// No MADV_WILLNEED first: on Linux 6.x it reads the file ahead into small page-cache folios, which can never
    /// be mapped with 2 MiB entries; a fault in a MADV_HUGEPAGE file mapping (see `MappedFile`) reads ahead in 2 MiB
    /// folios. (Measured cold on ext4, Linux 6.18: 74% of the checkpoint on 2 MiB pages with WILLNEED, 98% without.)
    @discardableResult
    public static func touch(_ base: UnsafeRawPointer, byteCount: Int) -> UInt8 {
        guard byteCount > 0 else { return 0 }
        var checksum: UInt8 = 0
        var offset = 0
        while offset < byteCount {
            checksum ^= base.load(fromByteOffset: offset, as: UInt8.self)
            offset += pageSize
        }
        return checksum ^ base.load(fromByteOffset: byteCount - 1, as: UInt8.self)
    }

    /// Asks the kernel to back [base, base + byteCount) with 2 MiB pages where it can (best effort: a no-op where
    /// transparent huge pages are off or unsupported). For file mappings this also makes faults read ahead in 2 MiB
    /// folios.
    public static func adviseHugePages(_ base: UnsafeMutableRawPointer, byteCount: Int) {
        #if os(Linux)
        guard byteCount > 0 else { return }
        _ = madvise(base, byteCount, MADV_HUGEPAGE)
        #endif
    }

    /// A zero-filled anonymous region of `byteCount` bytes, 2 MiB aligned and advised onto 2 MiB pages. Its pages
    /// are committed when first written, not here. Release it with `release(_:byteCount:)`.
    public static func allocateZeroed(byteCount: Int) -> UnsafeMutableRawPointer? {
        guard byteCount > 0, byteCount <= Int.max - hugePageSize else { return nil }
        // Over-map by one huge page and trim both ends (on page boundaries), so the region starts on a 2 MiB
        // boundary and exactly its pages stay mapped, which `release` unmaps.
        let mappedCount = byteCount + hugePageSize
        let mapped = mmap(nil, mappedCount, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        guard let mapped, mapped != MAP_FAILED else { return nil }
        let page = UInt(pageSize)
        let address = UInt(bitPattern: mapped)
        let mappingEnd = (address + UInt(mappedCount) + page - 1) / page * page
        let aligned = (address + UInt(hugePageSize - 1)) / UInt(hugePageSize) * UInt(hugePageSize)
        let regionEnd = (aligned + UInt(byteCount) + page - 1) / page * page
        if aligned > address { munmap(mapped, Int(aligned - address)) }
        if mappingEnd > regionEnd, let tail = UnsafeMutableRawPointer(bitPattern: regionEnd) {
            munmap(tail, Int(mappingEnd - regionEnd))
        }
        guard let region = UnsafeMutableRawPointer(bitPattern: aligned) else { return nil }
        adviseHugePages(region, byteCount: byteCount)
        return region
    }

    /// Unmaps a region from `allocateZeroed` (the same byteCount).
    public static func release(_ region: UnsafeMutableRawPointer, byteCount: Int) {
        let rounded = (byteCount + pageSize - 1) / pageSize * pageSize
        munmap(region, rounded)
    }

    /// The share of the resident pages of the mapping that contains `address` which the kernel maps with 2 MiB (PMD)
    /// entries, from /proc/self/smaps (AnonHugePages + FilePmdMapped over Rss); nil where that file is missing or
    /// the mapping is not resident.
    public static func hugePageShare(containing address: UnsafeRawPointer) -> (share: Double, residentBytes: Int)? {
        #if os(Linux)
        guard let file = fopen("/proc/self/smaps", "r") else { return nil }
        defer { fclose(file) }
        let target = UInt(bitPattern: address)
        var inTarget = false
        var rss = 0
        var huge = 0
        var line = [CChar](repeating: 0, count: 512)
        while fgets(&line, Int32(line.count), file) != nil {
            let text = String(decoding: line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            if let range = mappingRange(text) {
                if inTarget { break }
                inTarget = range.contains(target)
                continue
            }
            guard inTarget else { continue }
            let fields = text.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 2, let kilobytes = Int(fields[1]) else { continue }
            switch fields[0] {
            case "Rss:": rss = kilobytes * 1024
            case "AnonHugePages:", "FilePmdMapped:": huge += kilobytes * 1024
            default: break
            }
        }
        guard rss > 0 else { return nil }
        return (Double(huge) / Double(rss), rss)
        #else
        return nil
        #endif
    }

    /// The address range of a mapping's header line in /proc/self/smaps ("7f69...-7f6a... r--p ..."), else nil.
    static func mappingRange(_ line: String) -> Range<UInt>? {
        guard let first = line.split(separator: " ", maxSplits: 1).first else { return nil }
        let bounds = first.split(separator: "-")
        guard bounds.count == 2, let low = UInt(bounds[0], radix: 16), let high = UInt(bounds[1], radix: 16), low < high
        else { return nil }
        return low..<high
    }
}
