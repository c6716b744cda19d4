import ArgumentParser
import Foundation
import HubClient
import ProgressDisplay

/// `--hf-token`, shared by every command that takes `--model`; `resolve` turns `ORG/NAME[@REVISION]` into the
/// cached snapshot folder (downloading what is missing), and leaves a local directory as it is.
struct HubOptions: ParsableArguments {
    @Option(name: .long, help: "Hugging Face token for gated or private repositories (default: HF_TOKEN, then the token saved by `hf auth login`).")
    var hfToken: String?

    var environment: HubEnvironment { HubEnvironment(variables: ProcessInfo.processInfo.environment, token: hfToken) }

    /// A directory stays as given; `ORG/NAME[@REVISION]` that is not a directory becomes its snapshot folder.
    func resolve(_ model: String) throws -> String {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: model, isDirectory: &isDirectory) { return model }
        guard let repository = try? HubRepository(parsing: model) else { return model }
        return try download(repository, patterns: nil).folder
    }

    /// True when `model` names a Hub repository rather than a local directory.
    static func hubRepository(_ model: String) -> HubRepository? {
        guard !FileManager.default.fileExists(atPath: model) else { return nil }
        return try? HubRepository(parsing: model)
    }

    func download(_ repository: HubRepository, patterns: [String]?) throws -> HubSnapshot {
        let reporter = ProgressReporter(label: "downloading \(repository)", unit: .bytes)
        let snapshot: HubSnapshot
        do {
            snapshot = try HubDownloader(environment: environment).snapshot(
                repository, patterns: patterns,
                notice: { FileHandle.standardError.write(Data("note: \($0)\n".utf8)) },
                progress: { reporter.update(done: $0.doneBytes, total: $0.totalBytes) })
        } catch {
            reporter.finish("downloading \(repository): failed")
            throw ValidationError("\(error)")
        }
        if snapshot.downloadedBytes > 0 {
            reporter.finish("downloaded \(repository) (\(ProgressReporter.formatBytes(snapshot.downloadedBytes))) into \(snapshot.folder)")
        } else {
            reporter.finish("\(repository): \(snapshot.files.count) files in the cache at \(snapshot.folder)"
                            + (snapshot.fromCacheOnly ? " (offline)" : ""))
        }
        return snapshot
    }
}

/// `ling-serve download ORG/NAME`: fetches a model into the Hugging Face cache and prints the snapshot folder.
struct DownloadCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "download",
        abstract: "Download a model from the Hugging Face Hub into its cache (shared with `hf download`).",
        discussion: """
            Fetches the files a model needs (config, safetensors and index, tokenizer, generation config, chat \
            templates) into HF_HUB_CACHE (default $HF_HOME/hub, ~/.cache/huggingface/hub), resuming interrupted \
            files. HF_ENDPOINT picks another hub, HF_HUB_OFFLINE=1 uses only the cache. Prints the snapshot folder.
            """)

    @Argument(help: "ORG/NAME or ORG/NAME@REVISION.") var repository: String
    @Option(help: "Branch, tag or commit (default: main, or the @REVISION suffix).") var revision: String?
    @Option(help: "Glob of the files to fetch instead of the model set (repeatable), e.g. --include '*Q4_K_M.gguf'.")
    var include: [String] = []
    @OptionGroup var hub: HubOptions

    func run() throws {
        let parsed: HubRepository
        do { parsed = try HubRepository(parsing: repository, revision: revision) } catch { throw ValidationError("\(error)") }
        let snapshot = try hub.download(parsed, patterns: include.isEmpty ? nil : include)
        print(snapshot.folder)
    }
}
