import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Appends one file's bytes to `blobs/<etag>.incomplete`, hashing as it goes, and moves the checked result into
/// place. The partial file survives a cut connection (it is a prefix of the content as far as anyone knows) and
/// is removed when the content turns out wrong (size or digest), so a resumed download never builds on bad bytes.
final class BlobWriter {
    let path: String
    let expectedSize: Int64?
    let etag: String
    private(set) var offset: Int64 = 0
    /// Bytes of a partial file dropped at open because it was longer than the content.
    private(set) var discardedBytes: Int64 = 0
    /// The reason the body sink refused data (disk full, a wrong range, too many bytes).
    private(set) var error: HubError?
    private var fd: Int32
    private var digest: ContentDigest?
    private var responseStarted = false

    init(path: String, expectedSize: Int64?, etag: String) throws(HubError) {
        self.path = path
        self.expectedSize = expectedSize
        self.etag = etag
        fd = open(path, O_CREAT | O_RDWR | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .io(path: path, message: "cannot open: \(String(cString: strerror(errno)))") }
        offset = Int64(lseek(fd, 0, SEEK_END))
        if let expectedSize, offset > expectedSize {
            discardedBytes = offset
            try restart()
        }
        resetDigest()
        if offset > 0, let digest {  // hash the prefix kept from an earlier run
            var buffer = [UInt8](repeating: 0, count: 1 << 22)
            var position: Int64 = 0
            while position < offset {
                let count = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, off_t(position)) }
                guard count > 0 else { throw .io(path: path, message: "cannot read the partial download") }
                buffer.withUnsafeBytes { digest.update(UnsafeRawBufferPointer(rebasing: $0.prefix(count))) }
                position += Int64(count)
            }
        }
    }

    private func resetDigest() {
        guard let algorithm = ContentDigest.algorithm(forEtag: etag) else { digest = nil; return }
        // The git sha1 covers a header with the length, so it needs the size up front.
        if algorithm == .gitSHA1, expectedSize == nil { digest = nil; return }
        digest = ContentDigest(algorithm, contentLength: expectedSize ?? 0)
    }

    /// Empties the partial file (the server ignored the range, or it was longer than the content).
    func restart() throws(HubError) {
        guard ftruncate(fd, 0) == 0, lseek(fd, 0, SEEK_SET) == 0 else {
            throw .io(path: path, message: "cannot truncate: \(String(cString: strerror(errno)))")
        }
        offset = 0
        resetDigest()
    }

    func endResponse() { responseStarted = false }

    /// The body sink of one GET: checks the first response bytes against the range asked for, then appends.
    func sink(report: @escaping (Int64) -> Void) -> HubHTTP.BodySink {
        error = nil
        return { [self] response, bytes in
            if !responseStarted {
                responseStarted = true
                if response.status == 200 && offset > 0 {  // the whole content again: drop the prefix
                    report(-offset)
                    do throws(HubError) { try restart() } catch { self.error = error; return false }
                } else if response.status == 206 {
                    let start = response.header("content-range").flatMap(Self.rangeStart)
                    guard start == offset else {
                        error = .http(url: path, status: 206, message: "the server answered a different range "
                                      + "(\(response.header("content-range") ?? "no Content-Range"), asked from \(offset))")
                        return false
                    }
                }
            }
            if let expectedSize, offset + Int64(bytes.count) > expectedSize {
                unlink(path)
                error = .sizeMismatch(file: path, expected: expectedSize, actual: offset + Int64(bytes.count))
                return false
            }
            var written = 0
            while written < bytes.count {
                let count = write(fd, bytes.baseAddress.map { $0 + written }, bytes.count - written)
                if count < 0 {
                    if errno == EINTR { continue }
                    let code = errno
                    if code == ENOSPC || code == EDQUOT {
                        let needed = (expectedSize ?? offset) - offset - Int64(written)
                        error = .diskFull(path: path, neededBytes: max(needed, 1),
                                          availableBytes: HubDownloader.freeBytes((path as NSString).deletingLastPathComponent) ?? 0)
                    } else {
                        error = .io(path: path, message: "write failed: \(String(cString: strerror(code)))")
                    }
                    offset += Int64(written)
                    return false
                }
                written += count
            }
            digest?.update(bytes)
            offset += Int64(bytes.count)
            report(Int64(bytes.count))
            return true
        }
    }

    /// Checks size and digest; on success renames the partial file to `blob` (mode 0644 under the umask, as
    /// huggingface_hub's `_chmod_and_move`), otherwise removes it and throws.
    func finish(file: String, blob: String) throws(HubError) {
        if let expectedSize, offset != expectedSize {
            close()
            unlink(path)
            throw .sizeMismatch(file: file, expected: expectedSize, actual: offset)
        }
        if let digest {
            let actual = digest.finish()
            if actual != etag {
                close()
                unlink(path)
                throw .checksumMismatch(file: file, algorithm: digest.algorithm.rawValue, expected: etag, actual: actual)
            }
        }
        let mask = umask(0o022)
        umask(mask)
        fchmod(fd, 0o666 & ~mask)
        close()
        guard rename(path, blob) == 0 else {
            throw .io(path: blob, message: "cannot move the download into place: \(String(cString: strerror(errno)))")
        }
    }

    func close() {
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
    }

    /// `bytes START-END/TOTAL` -> START.
    static func rangeStart(_ header: String) -> Int64? {
        guard header.hasPrefix("bytes "), let dash = header.firstIndex(of: "-") else { return nil }
        return Int64(header[header.index(header.startIndex, offsetBy: 6)..<dash])
    }
}
