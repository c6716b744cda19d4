import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The Hugging Face cache layout (huggingface_hub `file_download.py`), one repository:
///
///     <cache>/models--ORG--NAME/blobs/<etag>                  file contents, named by sha256 (LFS) or git sha1
///     <cache>/models--ORG--NAME/blobs/<etag>.incomplete       a download in progress (resumed with Range)
///     <cache>/models--ORG--NAME/snapshots/<commit>/<file>     relative symlink to ../../blobs/<etag>
///     <cache>/models--ORG--NAME/refs/<revision>               the commit a branch or tag pointed to
///     <cache>/.locks/models--ORG--NAME/<etag>.lock            flock(2) held while a blob is written
public struct HubCache: Sendable {
    public let root: String
    public let repository: HubRepository

    public init(root: String, repository: HubRepository) {
        self.root = root
        self.repository = repository
    }

    public var repositoryFolder: String { root + "/" + repository.folderName }
    public func blobPath(etag: String) -> String { repositoryFolder + "/blobs/" + etag }
    public func snapshotFolder(commit: String) -> String { repositoryFolder + "/snapshots/" + commit }
    public func lockPath(etag: String) -> String { root + "/.locks/" + repository.folderName + "/" + etag + ".lock" }
    public func refPath(revision: String) -> String { repositoryFolder + "/refs/" + revision }

    /// The commit the revision resolves to in the cache: the revision itself when it is a cached commit hash,
    /// otherwise the content of `refs/<revision>`.
    public func cachedCommit(revision: String) -> String? {
        if HubRepository.isCommitHash(revision), FileManager.default.fileExists(atPath: snapshotFolder(commit: revision)) {
            return revision
        }
        guard let text = try? String(contentsOfFile: refPath(revision: revision), encoding: .utf8) else { return nil }
        let commit = text.trimmingCharacters(in: .whitespacesAndNewlines)
        return HubRepository.isCommitHash(commit) ? commit : nil
    }

    /// Every file of a cached snapshot (relative paths, symlinks followed to existing blobs only).
    public func snapshotFiles(commit: String) -> [String] {
        let folder = snapshotFolder(commit: commit)
        guard let enumerator = FileManager.default.enumerator(atPath: folder) else { return [] }
        var files: [String] = []
        while let path = enumerator.nextObject() as? String {
            var status = stat()
            // stat follows the symlink: a dangling pointer (blob deleted) does not count as cached.
            if stat(folder + "/" + path, &status) == 0, (status.st_mode & S_IFMT) == S_IFREG { files.append(path) }
        }
        return files.sorted()
    }

    /// Records which commit a branch or tag name pointed to (nothing for a commit hash).
    func writeRef(revision: String, commit: String) throws(HubError) {
        guard revision != commit else { return }
        let path = refPath(revision: revision)
        if (try? String(contentsOfFile: path, encoding: .utf8)) == commit { return }
        do {
            try FileManager.default.createDirectory(
                atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try Data(commit.utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw .io(path: path, message: "cannot write the ref: \(error.localizedDescription)")
        }
    }

    /// `snapshots/<commit>/<file>` -> the blob, as the relative symlink huggingface_hub creates.
    func link(file: String, commit: String, etag: String) throws(HubError) {
        let pointer = snapshotFolder(commit: commit) + "/" + file
        let pointerFolder = (pointer as NSString).deletingLastPathComponent
        let depth = file.split(separator: "/").count - 1  // folders of the file below the snapshot
        let target = String(repeating: "../", count: depth + 2) + "blobs/" + etag
        do {
            try FileManager.default.createDirectory(atPath: pointerFolder, withIntermediateDirectories: true)
        } catch {
            throw .io(path: pointerFolder, message: "cannot create the snapshot folder: \(error.localizedDescription)")
        }
        unlink(pointer)  // a dangling or stale pointer
        guard symlink(target, pointer) == 0 else {
            throw .io(path: pointer, message: "cannot create the symlink: \(String(cString: strerror(errno)))")
        }
    }

    /// `CACHEDIR.TAG` at the cache root, as huggingface_hub writes it, so backup tools skip the cache.
    func tagCacheDirectory() {
        let path = root + "/CACHEDIR.TAG"
        guard !FileManager.default.fileExists(atPath: path) else { return }
        let text = "Signature: 8a477f597d28d172789f06886806bc55\n"
            + "# This file is a cache directory tag created by huggingface_hub.\n"
            + "# For information about cache directory tags, see:\n#\thttps://bford.info/cachedir/\n"
        try? Data(text.utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
    }
}
