#if canImport(Glibc)
import Glibc
#endif

/// First touch of mapped memory from the thread that will use it: the kernel places a page on the NUMA node of the
/// thread that faults it in, so a worker that touches its own experts' pages gets them in its node's memory.
public enum MemoryPages {
    public static let pageSize = max(4096, Int(sysconf(Int32(_SC_PAGESIZE))))

    /// Asks for read-ahead (MADV_WILLNEED) of [base, base + byteCount), then reads one byte per page. Returns an
    /// XOR of the bytes read so the reads cannot be elided.
    @discardableResult
    public static func touch(_ base: UnsafeRawPointer, byteCount: Int) -> UInt8 {
        guard byteCount > 0 else { return 0 }
        let address = UInt(bitPattern: base)
        let start = address / UInt(pageSize) * UInt(pageSize)
        if let pageStart = UnsafeMutableRawPointer(bitPattern: start) {
            _ = madvise(pageStart, Int(address - start) + byteCount, MADV_WILLNEED)
        }
        var checksum: UInt8 = 0
        var offset = 0
        while offset < byteCount {
            checksum ^= base.load(fromByteOffset: offset, as: UInt8.self)
            offset += pageSize
        }
        return checksum ^ base.load(fromByteOffset: byteCount - 1, as: UInt8.self)
    }
}
