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
