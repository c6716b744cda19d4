import Foundation
import JSON
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A repository snapshot on local disk: the folder LingServe loads.
public struct HubSnapshot: Sendable, Equatable {
    public let repository: HubRepository
    public let commit: String
    /// `<cache>/models--ORG--NAME/snapshots/<commit>`.
    public let folder: String
    /// The selected files (relative paths), all present in `folder`.
    public let files: [String]
    /// Bytes fetched by this call (0 when everything came from the cache).
    public let downloadedBytes: Int64
    /// True when the Hub was not asked (offline, or unreachable and the cache had the snapshot).
    public let fromCacheOnly: Bool
}

/// Transfer progress over all files of one snapshot call; bytes include resumed prefixes.
public struct HubDownloadProgress: Sendable, Equatable {
    public var doneBytes: Int64
    public var totalBytes: Int64
    public var doneFiles: Int
    public var totalFiles: Int
}

/// Downloads repository snapshots into the Hugging Face cache, exactly as huggingface_hub's `snapshot_download`
/// lays them out (so either tool reuses the other's files): the revision is resolved with
/// `GET /api/models/ORG/NAME/revision/REV?blobs=True`, each missing file is located with `HEAD .../resolve/COMMIT/FILE`
/// (`X-Repo-Commit`, `X-Linked-Etag` / `ETag`, `X-Linked-Size`, the CDN `Location`), then fetched into
/// `blobs/<etag>.incomplete` (resumed with `Range`, retried on a cut connection), checked against its size and
/// digest (sha256 for LFS files, git sha1 otherwise), renamed into `blobs/<etag>` and linked from
/// `snapshots/<commit>/<file>`. Files are fetched `parallelTransfers` at a time.
public struct HubDownloader: Sendable {
    public let environment: HubEnvironment
    public var parallelTransfers = 8
    /// Attempts per file when the connection breaks mid-transfer (each resumes where the last stopped).
    public var attemptsPerFile = 5
    public var userAgent = "ling-serve/0.1; hf_hub-compatible"
    /// Pause before retry n (n starting at 1) is `retryDelay * n` seconds.
    public var retryDelay = 0.5

    public init(environment: HubEnvironment) { self.environment = environment }

    /// The snapshot of `repository` restricted to `patterns` (default: the files a safetensors model needs).
    /// `notice` receives one-line remarks (falling back to the cache, files reused); `progress` is called from the
    /// transfer threads as bytes arrive.
    public func snapshot(
        _ repository: HubRepository, patterns: [String]? = nil,
        notice: @Sendable (String) -> Void = { _ in },
        progress: @escaping @Sendable (HubDownloadProgress) -> Void = { _ in }
    ) throws(HubError) -> HubSnapshot {
        let cache = HubCache(root: environment.cacheDirectory, repository: repository)
        let patterns = patterns ?? FileSelection.modelPatterns
        if environment.offline {
            return try cachedSnapshot(cache: cache, patterns: patterns, reason: "HF_HUB_OFFLINE=1")
        }
        let http = try HubHTTP(token: environment.token, userAgent: userAgent)
        let info: (commit: String, files: [String])
        do {
            info = try repositoryInfo(repository, http: http)
        } catch {
            guard case .transfer(_, let message, _) = error else { throw error }
            // No network: the cache still serves, as with huggingface_hub.
            if let snapshot = try? cachedSnapshot(cache: cache, patterns: patterns, reason: message) {
                notice("cannot reach \(environment.endpoint) (\(message)); using the cached snapshot \(snapshot.commit)")
                return snapshot
            }
            throw error
        }
        let selected = FileSelection.select(info.files, patterns: patterns)
        guard !selected.isEmpty else {
            throw .noMatchingFiles(repository: repository.id, patterns: patterns, available: info.files)
        }
        try prepareFolders(cache: cache)
        try cache.writeRef(revision: repository.revision, commit: info.commit)
        cache.tagCacheDirectory()
        let folder = cache.snapshotFolder(commit: info.commit)
        let missing = selected.filter { !Self.isRegularFile(folder + "/" + $0) }
        if missing.isEmpty {
            return HubSnapshot(repository: repository, commit: info.commit, folder: folder, files: selected, downloadedBytes: 0,
                               fromCacheOnly: false)
        }

        // Locate every missing file (HEAD), link those whose blob is already cached, fetch the others.
        let located = try runConcurrently(missing.count) { index, http throws(HubError) -> RemoteFile in
            try locate(missing[index], repository: repository, commit: info.commit, http: http)
        }
        var toFetch: [RemoteFile] = []
        for file in located {
            if Self.isRegularFile(cache.blobPath(etag: file.etag)) {
                try cache.link(file: file.path, commit: info.commit, etag: file.etag)
            } else {
                toFetch.append(file)
            }
        }
        let partialBytes = toFetch.map { Self.fileSize(cache.blobPath(etag: $0.etag) + ".incomplete") }
        let totalBytes = toFetch.map { $0.size ?? 0 }.reduce(0, +)
        let remaining = zip(toFetch, partialBytes).map { max(0, ($0.size ?? 0) - $1) }.reduce(0, +)
        let available = Self.freeBytes(cache.repositoryFolder + "/blobs")
        if let available, remaining > available {
            throw .diskFull(path: cache.repositoryFolder + "/blobs", neededBytes: remaining, availableBytes: available)
        }
        let tally = Mutex(HubDownloadProgress(doneBytes: partialBytes.reduce(0, +), totalBytes: totalBytes, doneFiles: 0,
                                              totalFiles: toFetch.count))
        let fetched = Mutex<Int64>(0)
        progress(tally.withLock { $0 })
        let report: @Sendable (Int64, Bool) -> Void = { bytes, fileDone in
            let current = tally.withLock { state in
                state.doneBytes += bytes
                if fileDone { state.doneFiles += 1 }
                return state
            }
            if bytes > 0 { fetched.withLock { $0 += bytes } }
            progress(current)
        }
        let fetchList = toFetch
        _ = try runConcurrently(fetchList.count) { index, http throws(HubError) -> Bool in
            try fetch(fetchList[index], cache: cache, commit: info.commit, http: http, report: report)
            return true
        }
        return HubSnapshot(repository: repository, commit: info.commit, folder: folder, files: selected,
                           downloadedBytes: fetched.withLock { $0 }, fromCacheOnly: false)
    }

    /// The repository's files matching `patterns` at the revision, without downloading any: from the Hub's file
    /// list, or from the cached snapshot when offline or the Hub cannot be reached. For choosing files (one GGUF of
    /// many) before fetching them.
    public func matchingFiles(_ repository: HubRepository, patterns: [String]) throws(HubError) -> [String] {
        let cache = HubCache(root: environment.cacheDirectory, repository: repository)
        func cached(_ reason: String) throws(HubError) -> [String] {
            guard let commit = cache.cachedCommit(revision: repository.revision) else {
                throw .notInCache(repository: repository.id, revision: repository.revision, cache: cache.root, reason: reason)
            }
            return FileSelection.select(cache.snapshotFiles(commit: commit), patterns: patterns)
        }
        if environment.offline { return try cached("HF_HUB_OFFLINE=1") }
        let http = try HubHTTP(token: environment.token, userAgent: userAgent)
        do {
            return FileSelection.select(try repositoryInfo(repository, http: http).files, patterns: patterns)
        } catch {
            guard case .transfer(_, let message, _) = error, let files = try? cached(message) else { throw error }
            return files
        }
    }

    /// The snapshot as the cache holds it, without any network; `reason` says why the network is not used.
    public func cachedSnapshot(_ repository: HubRepository, patterns: [String]? = nil) throws(HubError) -> HubSnapshot {
        try cachedSnapshot(cache: HubCache(root: environment.cacheDirectory, repository: repository),
                           patterns: patterns ?? FileSelection.modelPatterns, reason: "HF_HUB_OFFLINE=1")
    }

    func cachedSnapshot(cache: HubCache, patterns: [String], reason: String) throws(HubError) -> HubSnapshot {
        let repository = cache.repository
        guard let commit = cache.cachedCommit(revision: repository.revision) else {
            throw .notInCache(repository: repository.id, revision: repository.revision, cache: cache.root, reason: reason)
        }
        let folder = cache.snapshotFolder(commit: commit)
        let files = FileSelection.select(cache.snapshotFiles(commit: commit), patterns: patterns)
        guard !files.isEmpty else {
            throw .notInCache(repository: repository.id, revision: repository.revision, cache: cache.root,
                              reason: "\(reason); snapshot \(commit) has no file matching \(patterns.joined(separator: " "))")
        }
        if patterns == FileSelection.modelPatterns {
            // A model needs its configuration and every weight shard its index names.
            var needed = ["config.json"]
            if let index = try? JSONParser.parse(Array((try? Data(contentsOf: URL(fileURLWithPath: folder + "/model.safetensors.index.json"))) ?? Data())),
               case .object(let weightMap)? = index["weight_map"]
            {
                needed += Set(weightMap.values.compactMap(\.stringValue)).sorted()
            }
            if let absent = needed.first(where: { !files.contains($0) }) {
                throw .notInCache(repository: repository.id, revision: repository.revision, cache: cache.root,
                                  reason: "\(reason); snapshot \(commit) lacks \(absent)")
            }
        }
        return HubSnapshot(repository: repository, commit: commit, folder: folder, files: files, downloadedBytes: 0,
                           fromCacheOnly: true)
    }

    // MARK: - Hub requests

    struct RemoteFile: Sendable {
        var path: String
        var etag: String
        var size: Int64?
        var url: String
    }

    var apiBase: String { environment.endpoint }

    /// `GET /api/models/ORG/NAME/revision/REV?blobs=True` -> the commit and the file list.
    func repositoryInfo(_ repository: HubRepository, http: HubHTTP) throws(HubError) -> (commit: String, files: [String]) {
        let url = "\(apiBase)/api/models/\(repository.id)/revision/\(Self.quote(repository.revision, keepSlash: false))?blobs=True"
        switch http.perform(url: url, followRedirects: true) {
        case .failed(let message, _, _):
            throw .transfer(url: url, message: message, partialKept: false)
        case .completed(let responses, let body):
            let last = responses.last ?? HubHTTP.Response()
            guard (200..<300).contains(last.status) else {
                throw mapStatus(last, body: body, url: url, repository: repository, file: nil)
            }
            guard let json = try? JSONParser.parse(body), let commit = json["sha"]?.stringValue,
                  let siblings = json["siblings"]?.arrayValue
            else {
                throw .http(url: url, status: last.status, message: "the answer is not a model description (no sha / siblings)")
            }
            return (commit, siblings.compactMap { $0["rfilename"]?.stringValue })
        }
    }

    /// `HEAD /ORG/NAME/resolve/COMMIT/FILE` without following redirects to other hosts (huggingface_hub's
    /// `get_hf_file_metadata`): the LFS headers are on the Hub's own response, not on the CDN's.
    func locate(_ path: String, repository: HubRepository, commit: String, http: HubHTTP) throws(HubError) -> RemoteFile {
        var url = "\(apiBase)/\(repository.id)/resolve/\(commit)/\(Self.quote(path, keepSlash: true))"
        for _ in 0..<10 {
            switch http.perform(url: url, head: true, followRedirects: false) {
            case .failed(let message, _, _):
                throw .transfer(url: url, message: message, partialKept: false)
            case .completed(let responses, let body):
                let response = responses.last ?? HubHTTP.Response()
                // A relative redirect stays on the Hub (a renamed repository): follow it, as huggingface_hub does.
                if response.isRedirect, let location = response.header("location"), location.hasPrefix("/"),
                   response.header("x-linked-etag") == nil
                {
                    url = Self.origin(of: url) + location
                    continue
                }
                guard (200..<400).contains(response.status) else {
                    throw mapStatus(response, body: body, url: url, repository: repository, file: path)
                }
                guard let etag = Self.normalizeEtag(response.header("x-linked-etag") ?? response.header("etag")) else {
                    throw .http(url: url, status: response.status, message: "no ETag: the file cannot be cached reliably")
                }
                let sizeText = response.header("x-linked-size") ?? (response.isRedirect ? nil : response.header("content-length"))
                var location = response.header("location") ?? url
                if location.hasPrefix("/") { location = Self.origin(of: url) + location }
                return RemoteFile(path: path, etag: etag, size: sizeText.flatMap { Int64($0) }, url: location)
            }
        }
        throw .http(url: url, status: 310, message: "too many redirects")
    }

    /// Fetches one file into its blob under the blob's lock, resuming `<etag>.incomplete`.
    func fetch(_ file: RemoteFile, cache: HubCache, commit: String, http: HubHTTP,
               report: @escaping @Sendable (Int64, Bool) -> Void) throws(HubError) {
        let blob = cache.blobPath(etag: file.etag)
        let lock = cache.lockPath(etag: file.etag)
        let lockFD = open(lock, O_CREAT | O_RDWR | O_CLOEXEC, 0o644)
        guard lockFD >= 0 else { throw .io(path: lock, message: String(cString: strerror(errno))) }
        defer { close(lockFD) }  // releases the flock
        while flock(lockFD, LOCK_EX) != 0 && errno == EINTR {}
        if Self.isRegularFile(blob) {  // another process finished it while we waited
            try cache.link(file: file.path, commit: commit, etag: file.etag)
            report(0, true)
            return
        }
        let partial = blob + ".incomplete"
        let writer = try BlobWriter(path: partial, expectedSize: file.size, etag: file.etag)
        defer { writer.close() }
        report(-writer.discardedBytes, false)
        var attempt = 0
        while true {
            if let size = file.size, writer.offset >= size { break }
            attempt += 1
            let outcome = http.perform(
                url: file.url, followRedirects: true, authorize: Self.origin(of: file.url) == Self.origin(of: apiBase),
                extraHeaders: writer.offset > 0 ? ["Range: bytes=\(writer.offset)-"] : [],
                sink: writer.sink(report: { report($0, false) }))
            writer.endResponse()
            if let error = writer.error { throw error }
            switch outcome {
            case .completed(let responses, let body):
                let response = responses.last ?? HubHTTP.Response()
                if response.status == 416 {  // the partial file is longer than the content: start over
                    report(-writer.offset, false)
                    try writer.restart()
                    guard attempt < attemptsPerFile else { throw .http(url: file.url, status: 416, message: "range not satisfiable") }
                    continue
                }
                guard (200..<300).contains(response.status) else {
                    throw mapStatus(response, body: body, url: file.url, repository: cache.repository, file: file.path)
                }
                if file.size == nil || writer.offset >= (file.size ?? 0) { break }
                // A short body without an error: the connection closed early; resume.
                guard attempt < attemptsPerFile else {
                    throw .transfer(url: file.url, message: "the server closed the connection after \(writer.offset) bytes",
                                    partialKept: true)
                }
            case .failed(let message, _, _):
                guard attempt < attemptsPerFile else {
                    throw .transfer(url: file.url, message: "\(message) after \(attempt) attempts", partialKept: writer.offset > 0)
                }
            }
            Thread.sleep(forTimeInterval: retryDelay * Double(attempt))
        }
        try writer.finish(file: file.path, blob: blob)
        try cache.link(file: file.path, commit: commit, etag: file.etag)
        report(0, true)
    }

    /// HTTP error statuses as the Hub means them (`X-Error-Code` first, as huggingface_hub's `hf_raise_for_status`).
    func mapStatus(_ response: HubHTTP.Response, body: [UInt8], url: String, repository: HubRepository,
                   file: String?) -> HubError {
        let hasToken = environment.token != nil
        switch response.header("x-error-code") {
        case "RepoNotFound":
            return response.status == 401 ? .unauthorized(repository: repository.id, hasToken: hasToken, endpoint: environment.endpoint)
                : .repositoryNotFound(repository: repository.id, endpoint: environment.endpoint)
        case "GatedRepo": return .gated(repository: repository.id, hasToken: hasToken, endpoint: environment.endpoint)
        case "RevisionNotFound": return .revisionNotFound(repository: repository.id, revision: repository.revision)
        case "EntryNotFound": return .fileNotFound(repository: repository.id, file: file ?? url)
        default: break
        }
        switch response.status {
        case 401: return .unauthorized(repository: repository.id, hasToken: hasToken, endpoint: environment.endpoint)
        case 403: return .gated(repository: repository.id, hasToken: hasToken, endpoint: environment.endpoint)
        case 404:
            if let file { return .fileNotFound(repository: repository.id, file: file) }
            return repository.revision == "main" ? .repositoryNotFound(repository: repository.id, endpoint: environment.endpoint)
                : .revisionNotFound(repository: repository.id, revision: repository.revision)
        default:
            let message = response.header("x-error-message")
                ?? String(decoding: body.prefix(300), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            return .http(url: url, status: response.status, message: message)
        }
    }

    // MARK: - helpers

    /// Runs `work` for indexes 0..<count on up to `parallelTransfers` threads, each with its own HTTP handle;
    /// the results in index order, or the first error (the other threads stop taking new indexes).
    func runConcurrently<T: Sendable>(_ count: Int, _ work: @escaping @Sendable (Int, HubHTTP) throws(HubError) -> T) throws(HubError) -> [T] {
        let results = Mutex<[T?]>(Array(repeating: nil, count: count))
        let firstError = Mutex<HubError?>(nil)
        let next = Mutex(0)
        let done = DispatchGroup()
        let environment = environment
        let userAgent = userAgent
        for _ in 0..<max(1, min(parallelTransfers, count)) {
            done.enter()
            let thread = Thread {
                defer { done.leave() }
                let http: HubHTTP
                do { http = try HubHTTP(token: environment.token, userAgent: userAgent) } catch {
                    firstError.withLock { if $0 == nil { $0 = error as? HubError } }
                    return
                }
                while true {
                    let index: Int? = next.withLock { value in
                        guard value < count, firstError.withLock({ $0 == nil }) else { return nil }
                        defer { value += 1 }
                        return value
                    }
                    guard let index else { return }
                    do throws(HubError) {
                        let value = try work(index, http)
                        results.withLock { $0[index] = value }
                    } catch {
                        firstError.withLock { if $0 == nil { $0 = error } }
                        return
                    }
                }
            }
            thread.stackSize = 1 << 20
            thread.start()
        }
        done.wait()
        if let error = firstError.withLock({ $0 }) { throw error }
        return results.withLock { $0.compactMap { $0 } }
    }

    func prepareFolders(cache: HubCache) throws(HubError) {
        for folder in [cache.repositoryFolder + "/blobs", cache.repositoryFolder + "/snapshots", cache.repositoryFolder + "/refs",
                       cache.root + "/.locks/" + cache.repository.folderName] {
            do { try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) } catch {
                throw .io(path: folder, message: "cannot create the cache folder: \(error.localizedDescription)")
            }
        }
    }

    /// `W/"abc"` or `"abc"` -> `abc` (huggingface_hub's `_normalize_etag`).
    static func normalizeEtag(_ etag: String?) -> String? {
        guard var text = etag?.trimmingCharacters(in: .whitespaces), !text.isEmpty else { return nil }
        if text.hasPrefix("W/") { text.removeFirst(2) }
        text = text.trimmingCharacters(in: CharacterSet(charactersIn: "\""))
        return text.isEmpty || text.contains("/") ? nil : text
    }

    /// Percent-encodes a path segment as Python's `urllib.parse.quote` (safe: letters, digits, `_.-~`, and `/`
    /// when `keepSlash`).
    static func quote(_ text: String, keepSlash: Bool) -> String {
        var output = ""
        for byte in text.utf8 {
            let scalar = Unicode.Scalar(byte)
            let safe = (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                || "_.-~".unicodeScalars.contains(scalar) || (keepSlash && byte == 0x2F)
            output += safe ? String(scalar) : String(format: "%%%02X", byte)
        }
        return output
    }

    static func origin(of url: String) -> String {
        guard let scheme = url.range(of: "://") else { return url }
        let rest = url[scheme.upperBound...]
        let hostEnd = rest.firstIndex(of: "/") ?? rest.endIndex
        return String(url[..<hostEnd])
    }

    static func isRegularFile(_ path: String) -> Bool {
        var status = stat()
        return stat(path, &status) == 0 && (status.st_mode & S_IFMT) == S_IFREG
    }

    static func fileSize(_ path: String) -> Int64 {
        var status = stat()
        return stat(path, &status) == 0 ? Int64(status.st_size) : 0
    }

    static func freeBytes(_ path: String) -> Int64? {
        var info = statvfs()
        guard statvfs(path, &info) == 0 else { return nil }
        let (bytes, overflow) = Int64(info.f_bavail).multipliedReportingOverflow(by: Int64(info.f_frsize))
        return overflow ? Int64.max : bytes
    }
}
