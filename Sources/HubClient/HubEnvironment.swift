import Foundation

/// Where the Hub is, who we are to it and where its files are cached, read from the same variables as
/// huggingface_hub (`constants.py`), so `hf download` and LingServe share one cache.
public struct HubEnvironment: Sendable, Equatable {
    /// `HF_ENDPOINT`, default `https://huggingface.co`, without a trailing slash.
    public var endpoint: String
    /// `--hf-token`, else `HF_TOKEN`, else `HUGGING_FACE_HUB_TOKEN`, else the file `HF_TOKEN_PATH` (default
    /// `$HF_HOME/token`, written by `hf auth login`).
    public var token: String?
    /// `HF_HUB_CACHE`, else `HUGGINGFACE_HUB_CACHE`, else `$HF_HOME/hub`; `HF_HOME` defaults to
    /// `$XDG_CACHE_HOME/huggingface`, `XDG_CACHE_HOME` to `~/.cache`.
    public var cacheDirectory: String
    /// `HF_HUB_OFFLINE` set to 1/ON/YES/TRUE: never touch the network, use only the cache.
    public var offline: Bool

    public init(endpoint: String, token: String?, cacheDirectory: String, offline: Bool) {
        var endpoint = endpoint
        while endpoint.hasSuffix("/") { endpoint.removeLast() }
        self.endpoint = endpoint
        self.token = token
        self.cacheDirectory = cacheDirectory
        self.offline = offline
    }

    public init(variables: [String: String], token explicitToken: String? = nil) {
        func value(_ name: String) -> String? {
            guard let text = variables[name], !text.isEmpty else { return nil }
            return text
        }
        func expand(_ path: String) -> String { (path as NSString).expandingTildeInPath }
        let home = value("HOME") ?? NSHomeDirectory()
        let xdgCache = value("XDG_CACHE_HOME").map(expand) ?? home + "/.cache"
        let hfHome = value("HF_HOME").map(expand) ?? xdgCache + "/huggingface"
        let cache = (value("HF_HUB_CACHE") ?? value("HUGGINGFACE_HUB_CACHE")).map(expand) ?? hfHome + "/hub"
        var token = explicitToken ?? value("HF_TOKEN") ?? value("HUGGING_FACE_HUB_TOKEN")
        if token == nil {
            let tokenPath = value("HF_TOKEN_PATH").map(expand) ?? hfHome + "/token"
            if let text = try? String(contentsOfFile: tokenPath, encoding: .utf8) {
                let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
                if !trimmed.isEmpty { token = trimmed }
            }
        }
        let offline = ["1", "ON", "YES", "TRUE"].contains((value("HF_HUB_OFFLINE") ?? "").uppercased())
        self.init(endpoint: value("HF_ENDPOINT") ?? "https://huggingface.co", token: token, cacheDirectory: cache, offline: offline)
    }
}
