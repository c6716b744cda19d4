#if canImport(Glibc)
import Glibc
#endif

/// Which repository files a model needs, as glob patterns matched like huggingface_hub's `allow_patterns`
/// (Python `fnmatch`: `*` also matches `/`).
public enum FileSelection {
    /// The files LingServe reads from a safetensors checkpoint: configuration, weights and their index,
    /// tokenizer, generation settings and chat templates. Remote code, READMEs, images and other weight formats
    /// (`*.bin`, `*.pt`, `*.gguf`, `original/`) are skipped.
    public static let modelPatterns = [
        "config.json", "generation_config.json", "*.safetensors", "*.safetensors.index.json",
        "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json", "vocab.json",
        "merges.txt", "tokenizer.model", "chat_template.jinja", "chat_template.json", "additional_chat_templates/*.jinja",
    ]

    public static func matches(_ path: String, pattern: String) -> Bool {
        fnmatch(pattern, path, 0) == 0
    }

    /// The paths matching any pattern, in the given order. Weights in subfolders (`original/*.safetensors`) are
    /// only taken when a pattern names them: the default patterns keep to the top level for `*.safetensors`.
    public static func select(_ paths: [String], patterns: [String]) -> [String] {
        paths.filter { path in
            patterns.contains { pattern in
                guard matches(path, pattern: pattern) else { return false }
                // `*.safetensors` of the default set: top level only (a repository's original/ or onnx/ copies).
                if pattern.hasPrefix("*."), pattern == "*.safetensors" || pattern == "*.safetensors.index.json" {
                    return !path.contains("/")
                }
                return true
            }
        }
    }
}
