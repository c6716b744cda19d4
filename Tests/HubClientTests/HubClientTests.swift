import Foundation
import Testing
@testable import HubClient

// The downloads themselves run against a local fake Hub in scripts/hub/hub-check.py (part of scripts/test.sh);
// these are the pure pieces that must match huggingface_hub exactly.
@Suite struct HubClientTests {
    @Test func repositoryIDsParseLikeHuggingFaceHub() throws {
        let plain = try HubRepository(parsing: "inclusionAI/Ling-mini-2.0")
        #expect(plain.id == "inclusionAI/Ling-mini-2.0" && plain.revision == "main")
        #expect(plain.folderName == "models--inclusionAI--Ling-mini-2.0")
        #expect(try HubRepository(parsing: "a/b@v1.0").revision == "v1.0")
        #expect(try HubRepository(parsing: "a/b@v1", revision: "dev").revision == "dev")
        for bad in ["a", "a/b/c", "a--x/b", "../b", "a/b@", "/abs/path", "a/.b", "a b/c"] {
            #expect(throws: HubError.self) { try HubRepository(parsing: bad) }
        }
    }

    @Test func environmentFollowsHuggingFaceHubVariables() {
        let defaults = HubEnvironment(variables: ["HOME": "/h"])
        #expect(defaults.endpoint == "https://huggingface.co" && defaults.cacheDirectory == "/h/.cache/huggingface/hub")
        #expect(!defaults.offline)
        let set = HubEnvironment(variables: ["HOME": "/h", "HF_HOME": "/x", "HF_ENDPOINT": "http://127.0.0.1:9/", "HF_TOKEN": "t",
                                             "HF_HUB_OFFLINE": "true"])
        #expect(set.endpoint == "http://127.0.0.1:9" && set.cacheDirectory == "/x/hub" && set.token == "t" && set.offline)
        #expect(HubEnvironment(variables: ["HF_HOME": "/x", "HF_HUB_CACHE": "/c"], token: "flag").cacheDirectory == "/c")
        #expect(HubEnvironment(variables: ["HF_TOKEN": "env"], token: "flag").token == "flag")
    }

    @Test func selectionTakesTheModelFilesOnly() {
        let files = ["README.md", "config.json", "model-00001-of-00002.safetensors", "model.safetensors.index.json",
                     "original/model.safetensors", "tokenizer.json", "modeling_bailing.py", "x.gguf", "chat_template.jinja"]
        #expect(FileSelection.select(files, patterns: FileSelection.modelPatterns)
                == ["config.json", "model-00001-of-00002.safetensors", "model.safetensors.index.json", "tokenizer.json",
                    "chat_template.jinja"])
        #expect(FileSelection.select(files, patterns: ["*.gguf"]) == ["x.gguf"])
        #expect(FileSelection.select(files, patterns: ["original/*"]) == ["original/model.safetensors"])
    }

    @Test func etagsURLsAndDigests() {
        #expect(HubDownloader.normalizeEtag("W/\"abc\"") == "abc")
        #expect(HubDownloader.normalizeEtag("\"abc\"") == "abc")
        #expect(HubDownloader.normalizeEtag(nil) == nil)
        #expect(HubDownloader.quote("refs/pr/1", keepSlash: false) == "refs%2Fpr%2F1")
        #expect(HubDownloader.quote("a b/c.json", keepSlash: true) == "a%20b/c.json")
        #expect(HubDownloader.origin(of: "https://h.co:8/x/y") == "https://h.co:8")
        let sha = ContentDigest(.sha256, contentLength: 3)
        Array("abc".utf8).withUnsafeBytes { sha?.update($0) }
        #expect(sha?.finish() == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        // git hash-object of "hello\n"
        let git = ContentDigest(.gitSHA1, contentLength: 6)
        Array("hello\n".utf8).withUnsafeBytes { git?.update($0) }
        #expect(git?.finish() == "ce013625030ba8dba906f756967f9e9ca394464a")
        #expect(ContentDigest.algorithm(forEtag: String(repeating: "a", count: 64)) == .sha256)
        #expect(BlobWriter.rangeStart("bytes 100-199/200") == 100)
    }
}

/// The blob writer against real files: a kept prefix resumes (its bytes hashed again), a wrong digest or size removes
/// the partial file instead of keeping it for a resume, and a full disk (`/dev/full`) is the disk-full error.
@Suite struct BlobWriterTests {
    static let content = Array("hello world, this is a blob\n".utf8)

    static func sha256(_ bytes: [UInt8]) -> String {
        let digest = ContentDigest(.sha256, contentLength: Int64(bytes.count))
        bytes.withUnsafeBytes { digest?.update($0) }
        return digest?.finish() ?? ""
    }

    static func folder() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("blobwriter-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    static func feed(_ writer: BlobWriter, status: Int, contentRange: String? = nil, _ bytes: [UInt8]) -> Bool {
        var response = HubHTTP.Response()
        response.status = status
        if let contentRange { response.headers["content-range"] = contentRange }
        let sink = writer.sink(report: { _ in })
        let accepted = bytes.withUnsafeBytes { sink(response, $0) }
        writer.endResponse()
        return accepted
    }

    @Test func aKeptPrefixResumesAndTheResultIsChecked() throws {
        let dir = try Self.folder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let etag = Self.sha256(Self.content)
        let partial = dir + "/\(etag).incomplete"
        let first = try BlobWriter(path: partial, expectedSize: Int64(Self.content.count), etag: etag)
        #expect(Self.feed(first, status: 200, Array(Self.content.prefix(10))))
        first.close()  // the connection was cut: the prefix stays
        let second = try BlobWriter(path: partial, expectedSize: Int64(Self.content.count), etag: etag)
        #expect(second.offset == 10)
        // A 206 that starts elsewhere is refused rather than appended.
        #expect(!Self.feed(second, status: 206, contentRange: "bytes 0-27/28", Self.content))
        #expect(Self.feed(second, status: 206, contentRange: "bytes 10-27/28", Array(Self.content.dropFirst(10))))
        try second.finish(file: "f", blob: dir + "/" + etag)
        #expect(FileManager.default.contents(atPath: dir + "/" + etag) == Data(Self.content))
        #expect(!FileManager.default.fileExists(atPath: partial))
    }

    @Test func aWrongDigestRemovesThePartialFile() throws {
        let dir = try Self.folder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let etag = Self.sha256(Self.content)
        let partial = dir + "/\(etag).incomplete"
        let writer = try BlobWriter(path: partial, expectedSize: Int64(Self.content.count), etag: etag)
        var corrupt = Self.content
        corrupt[3] ^= 0xFF
        #expect(Self.feed(writer, status: 200, corrupt))
        var thrown: HubError?
        do { try writer.finish(file: "f", blob: dir + "/" + etag) } catch { thrown = error }
        guard case .checksumMismatch(_, let algorithm, let expected, let actual)? = thrown else {
            Issue.record("expected checksumMismatch, got \(String(describing: thrown))")
            return
        }
        #expect(algorithm == "sha256" && expected == etag && actual == Self.sha256(corrupt))
        #expect(!FileManager.default.fileExists(atPath: partial))
        #expect(!FileManager.default.fileExists(atPath: dir + "/" + etag))
    }

    @Test func moreBytesThanTheSizeRemovesThePartialFile() throws {
        let dir = try Self.folder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let partial = dir + "/x.incomplete"
        let writer = try BlobWriter(path: partial, expectedSize: 4, etag: Self.sha256(Self.content))
        #expect(!Self.feed(writer, status: 200, Self.content))
        #expect(writer.error == .sizeMismatch(file: partial, expected: 4, actual: Int64(Self.content.count)))
        #expect(!FileManager.default.fileExists(atPath: partial))
    }

    @Test func aFullDiskIsTheDiskFullError() throws {
        let writer = try BlobWriter(path: "/dev/full", expectedSize: Int64(Self.content.count), etag: Self.sha256(Self.content))
        defer { writer.close() }
        #expect(!Self.feed(writer, status: 200, Self.content))
        guard case .diskFull(_, let needed, _)? = writer.error else {
            Issue.record("expected diskFull, got \(String(describing: writer.error))")
            return
        }
        #expect(needed == Int64(Self.content.count))
        #expect(writer.error?.description.contains("not enough disk space") == true)
    }
}
