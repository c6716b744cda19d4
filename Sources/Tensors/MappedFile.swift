#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A read-only memory map of a whole file. Pages are loaded by the kernel on first touch and shared with the page
/// cache, so mapping a 100 GiB checkpoint costs address space, not RAM. The mapping lives as long as this object.
public final class MappedFile: @unchecked Sendable {
    public let path: String
    /// Size of the file in bytes.
    public let byteCount: Int
    /// Start of the mapping; nil for an empty file.
    public let base: UnsafeRawPointer?

    /// Errors are returned as `MappedFileError` with the path and errno text.
    public init(path: String) throws(MappedFileError) {
        self.path = path
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw MappedFileError(path: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw MappedFileError(path: path, reason: String(cString: strerror(errno))) }
        byteCount = Int(info.st_size)
        if byteCount == 0 {
            base = nil
            return
        }
        let mapped = mmap(nil, byteCount, PROT_READ, MAP_PRIVATE, fd, 0)
        guard let mapped, mapped != MAP_FAILED else {
            throw MappedFileError(path: path, reason: "mmap failed: " + String(cString: strerror(errno)))
        }
        // Faults then read the file ahead in 2 MiB folios that the kernel maps with one entry each (see
        // MemoryPages); pages already cached in small folios stay as they are.
        MemoryPages.adviseHugePages(mapped, byteCount: byteCount)
        base = UnsafeRawPointer(mapped)
    }

    /// The share of this file's resident pages mapped with 2 MiB entries (see `MemoryPages.hugePageShare`).
    public var hugePageShare: (share: Double, residentBytes: Int)? {
        base.flatMap { MemoryPages.hugePageShare(containing: $0) }
    }

    deinit {
        if let base { munmap(UnsafeMutableRawPointer(mutating: base), byteCount) }
    }
}

public struct MappedFileError: Error, CustomStringConvertible, Sendable {
    public let path: String
    public let reason: String
    public var description: String { "\(path): \(reason)" }
}
