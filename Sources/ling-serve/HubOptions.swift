import ArgumentParser
import Foundation
import HubClient
import ProgressDisplay

/// `--hf-token` and `--hf-file`, shared by every command that takes `--model`; `resolve` turns `ORG/NAME[@REVISION]`
/// into the cached snapshot folder, or the chosen GGUF file in it (downloading what is missing), and leaves a local
/// directory or file as it is.
struct HubOptions: ParsableArguments {
    @Option(name: .long, help: "Hugging Face token for gated or private repositories (default: HF_TOKEN, then the token saved by `hf auth login`).")
    var hfToken: String?

    @Option(name: .long, help: "With --model ORG/NAME: the GGUF file of the repository to use (a glob, e.g. '*Q8_0.gguf'; a split set: its parts are fetched and the first is loaded). Default: the safetensors checkpoint.")
    var hfFile: String?

    var environment: HubEnvironment { HubEnvironment(variables: ProcessInfo.processInfo.environment, token: hfToken) }

    /// A local path stays as given; `ORG/NAME[@REVISION]` that is not one becomes its snapshot folder (or, with
    /// `--hf-file`, the GGUF file in it).
    func resolve(_ model: String) throws -> String {
        guard let repository = Self.hubRepository(model) else { return model }
        return try localPath(repository)
    }

    /// The snapshot folder of the model files, or with `--hf-file` the (first) GGUF file it selects.
    func localPath(_ repository: HubRepository) throws -> String {
        guard let hfFile else { return try download(repository, patterns: nil).folder }
        // Chosen from the file list before anything is fetched: a glob matching several quantizations of a large
        // model must not download them all.
        let matched = try HubDownloader(environment: environment).matchingFiles(repository, patterns: [hfFile])
        let ggufs = matched.filter { $0.lowercased().hasSuffix(".gguf") }
        // A split set (NAME-00001-of-00003.gguf ...) loads from its first part; anything else must be one file.
        let firsts = ggufs.filter { !$0.contains("-of-") || $0.contains("-00001-of-") }
        guard firsts.count == 1, let chosen = firsts.first else {
            throw ValidationError(ggufs.isEmpty
                ? "\(repository): --hf-file '\(hfFile)' matches no .gguf file"
                    + (matched.isEmpty ? "" : " (it matches: \(matched.joined(separator: ", ")))")
                : "\(repository): --hf-file '\(hfFile)' matches several GGUF files (\(firsts.joined(separator: ", "))); name one")
        }
        var parts = [chosen]
        if let split = chosen.range(of: "-00001-of-") {
            let stem = String(chosen[..<split.lowerBound]) + "-"
            parts = ggufs.filter { $0.hasPrefix(stem) && $0.contains("-of-") }
        }
        let snapshot = try download(repository, patterns: parts)
        return snapshot.folder + "/" + chosen
    }

    /// The Hub repository `model` names, or nil when it is a local path (a directory or file of that name wins) or
    /// not of the ORG/NAME[@REVISION] form.
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
            if patterns == nil, case .noMatchingFiles(let id, _, let available) = error {
                let ggufs = available.filter { $0.lowercased().hasSuffix(".gguf") }
                if let first = ggufs.first {
                    throw ValidationError(
                        "\(id) has no safetensors checkpoint; pick one of its GGUF files with --hf-file, e.g. --hf-file '\(first)' "
                        + "(it holds: \(ggufs.prefix(12).joined(separator: ", "))\(ggufs.count > 12 ? ", ..." : ""))")
                }
            }
            throw error
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
        let patterns = include + (hub.hfFile.map { [$0] } ?? [])  // --hf-file is one more --include here
        let snapshot = try hub.download(parsed, patterns: patterns.isEmpty ? nil : patterns)
        print(snapshot.folder)
    }
}
