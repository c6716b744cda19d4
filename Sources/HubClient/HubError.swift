import Foundation

/// Why a Hub download or a cache lookup failed, worded for the person at the terminal: each case says what to do.
public enum HubError: Error, Equatable, CustomStringConvertible, Sendable {
    case invalidRepositoryID(String)
    /// 401: the repository is private, gated or absent (the Hub answers 401 to anonymous requests for all three).
    case unauthorized(repository: String, hasToken: Bool, endpoint: String)
    /// 403 or `X-Error-Code: GatedRepo`: access conditions not accepted, or the token lacks read access.
    case gated(repository: String, hasToken: Bool, endpoint: String)
    case repositoryNotFound(repository: String, endpoint: String)
    case revisionNotFound(repository: String, revision: String)
    case fileNotFound(repository: String, file: String)
    case noMatchingFiles(repository: String, patterns: [String], available: [String])
    /// HF_HUB_OFFLINE=1 (or no network) and the cache does not hold the snapshot.
    case notInCache(repository: String, revision: String, cache: String, reason: String)
    case diskFull(path: String, neededBytes: Int64, availableBytes: Int64)
    case checksumMismatch(file: String, algorithm: String, expected: String, actual: String)
    case sizeMismatch(file: String, expected: Int64, actual: Int64)
    /// The connection failed or was cut; `partialKept` when the received prefix stays for the next run.
    case transfer(url: String, message: String, partialKept: Bool)
    case http(url: String, status: Int, message: String)
    case io(path: String, message: String)

    public var description: String {
        switch self {
        case .invalidRepositoryID(let text):
            return "'\(text)' is neither a model directory nor a Hugging Face repository id (ORG/NAME or ORG/NAME@REVISION)"
        case .unauthorized(let repository, let hasToken, let endpoint):
            if hasToken {
                return "\(repository): HTTP 401 from \(endpoint): the token was refused (invalid or expired), or the repository does "
                    + "not exist. Check the id, and create a read token at \(endpoint)/settings/tokens"
            }
            return "\(repository): HTTP 401 from \(endpoint): the repository does not exist, or it is private or gated and needs "
                + "a token. Pass one with --hf-token hf_... or HF_TOKEN=hf_... (create it at \(endpoint)/settings/tokens)"
        case .gated(let repository, let hasToken, let endpoint):
            let how = hasToken
                ? "your token has no access: accept the model's conditions at \(endpoint)/\(repository) with the account "
                    + "that owns the token, and check that the token has read permission"
                : "accept its conditions at \(endpoint)/\(repository), then pass a read token with --hf-token hf_... or "
                    + "HF_TOKEN=hf_... (create it at \(endpoint)/settings/tokens)"
            return "\(repository) is gated (HTTP 403): \(how)"
        case .repositoryNotFound(let repository, let endpoint):
            return "\(repository): no such repository on \(endpoint) (HTTP 404); check the ORG/NAME spelling"
        case .revisionNotFound(let repository, let revision):
            return "\(repository): no revision '\(revision)' (HTTP 404); use a branch, a tag or a commit hash of the repository"
        case .fileNotFound(let repository, let file):
            return "\(repository): file \(file) not found (HTTP 404)"
        case .noMatchingFiles(let repository, let patterns, let available):
            let shown = available.prefix(20).joined(separator: ", ") + (available.count > 20 ? ", ..." : "")
            return "\(repository): no file matches \(patterns.joined(separator: " ")); the repository holds: \(shown)"
        case .notInCache(let repository, let revision, let cache, let reason):
            return "\(repository)@\(revision) is not in the cache \(cache) (\(reason)); run once with network access "
                + "(without HF_HUB_OFFLINE=1) or `ling-serve download \(repository)` to fetch it"
        case .diskFull(let path, let needed, let available):
            return "not enough disk space in \(path): \(Self.bytes(needed)) more needed, \(Self.bytes(available)) free; free some space "
                + "or point HF_HUB_CACHE (or HF_HOME) at a larger disk"
        case .checksumMismatch(let file, let algorithm, let expected, let actual):
            return "\(file): \(algorithm) mismatch (expected \(expected), got \(actual)); the corrupt download was removed, run "
                + "again to fetch it anew"
        case .sizeMismatch(let file, let expected, let actual):
            return "\(file): size mismatch (expected \(expected) bytes, got \(actual)); the corrupt download was removed, run again"
        case .transfer(let url, let message, let partialKept):
            return "\(url): \(message)" + (partialKept ? " (the part received is kept: run again to resume)" : "")
        case .http(let url, let status, let message):
            return "\(url): HTTP \(status)" + (message.isEmpty ? "" : ": \(message)")
        case .io(let path, let message):
            return "\(path): \(message)"
        }
    }

    static func bytes(_ count: Int64) -> String {
        let value = Double(count)
        if value >= 1_073_741_824 { return String(format: "%.2f GiB", value / 1_073_741_824) }
        if value >= 1_048_576 { return String(format: "%.1f MiB", value / 1_048_576) }
        return "\(count) bytes"
    }
}
