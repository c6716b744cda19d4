import Foundation
import JSON

/// Every setting of `ling-serve serve`, with its default. Resolved in this order, later wins:
/// built-in default < configuration file (`--config`, default `config/ling-serve.json` when present) <
/// environment variable `LING_SERVE_<KEY>` (upper-case, `-` -> `_`) < command-line flag `--<key>`.
struct ServeSettings: Sendable, Equatable {
    var model: String?
    var servedModelNames: [String] = []
    var strictModelNames = false
    var host = "127.0.0.1"
    var port = 8000
    var apiKeys: [String] = []
    var apiKeyFile: String?
    var openMetrics = false
    var webui = true
    var tlsCert: String?
    var tlsKey: String?
    var maxModelLen: Int?
    var maxOutputTokens: Int?
    var maxBatchedTokens = 2048
    var maxNumSeqs = 64
    var maxQueuedRequests = 256
    var maxQueuedTokens = 1 << 20
    var kvCacheMemory = "2GiB"
    var kvCacheDtype = "f32"
    var computeDtype = "auto"
    var blockSize = 16
    var enablePrefixCaching = true
    var speculative = "off"
    var speculativeTokens = 3
    var threads = 0
    var expertParallel = 0
    var expertPlacement = "balanced"
    var expertRebalanceTokens = 1024
    var pinWorkers = true
    var maxN = 8
    var defaultTemperature: Double = 1.0
    var defaultTopP: Double = 1.0
    var defaultRepetitionPenalty: Double = 1.0
    var defaultSeed: UInt64?
    var maxBodyBytes = 8 << 20
    var maxHeaderBytes = 64 << 10
    var maxHeaderCount = 100
    var maxConnections = 1024
    var headerTimeout: Double = 30
    var idleTimeout: Double = 60
    var shutdownTimeout: Double = 30
    var sseKeepalive: Double = 0
    var logLevel = "info"
    var logFormat = "text"

    /// One documented key.
    struct Key: Sendable {
        let name: String
        let help: String
        let apply: @Sendable (inout ServeSettings, String) throws -> Void
        let current: @Sendable (ServeSettings) -> Any?
    }

    /// The keys, in documentation order. The configuration file, the environment and the flags all go through
    /// `apply`, so a value is parsed and checked the same way wherever it comes from.
    static let keys: [Key] = [
        key("model", "Model directory (Hugging Face layout) or Hub repository ORG/NAME[@REVISION] (downloaded into the Hugging Face cache). Default: the bundled models/ling-tiny.", \.model),
        Key(name: "served-model-name", help: "Model ids clients send and /v1/models lists, comma-separated (a JSON array in the file); the first is the main id. Default: the directory's name.",
            apply: { settings, value in settings.servedModelNames = splitList(value) },
            current: { $0.servedModelNames }),
        key("strict-model-names", "/v1/messages refuses model ids that are not served (404). Default: any id is served by the loaded model, as Claude Code sends Claude ids for background work.", \.strictModelNames),
        key("host", "Address to listen on (IPv4 or IPv6; 0.0.0.0 or :: for all).", \.host),
        key("port", "TCP port.", \.port, range: 0...65535),
        Key(name: "api-key", help: "Accepted API key (repeatable; a JSON array in the file). No key: auth is off.",
            apply: { settings, value in settings.apiKeys.append(contentsOf: splitList(value)) },
            current: { $0.apiKeys }),
        key("api-key-file", "File with one API key per line.", \.apiKeyFile),
        key("open-metrics", "Serve /metrics without an API key (for scrapers).", \.openMetrics),
        key("webui", "Serve the chat page at / (false or --no-webui: / is only the empty 200 probe).", \.webui),
        key("tls-cert", "PEM certificate chain: serve HTTPS.", \.tlsCert),
        key("tls-key", "PEM private key for --tls-cert.", \.tlsKey),
        key("max-model-len", "Longest prompt + output. Default: the model's max_position_embeddings.", \.maxModelLen),
        key("max-output-tokens", "Cap on generated tokens when a request gives none.", \.maxOutputTokens),
        key("max-batched-tokens", "Token budget of one forward pass (decode tokens + prompt chunks).", \.maxBatchedTokens, range: 1...1_000_000),
        key("max-num-seqs", "Most sequences in the running batch.", \.maxNumSeqs, range: 1...4096),
        key("max-queued-requests", "Most requests waiting to start; more get 429.", \.maxQueuedRequests, range: 0...1_000_000),
        key("max-queued-tokens", "Most prompt + max_tokens tokens waiting; more get 429.", \.maxQueuedTokens, range: 1...Int.max),
        key("kv-cache-memory", "Memory for the paged KV cache, e.g. 2GiB, 512MiB, or a fraction of free RAM like 0.3.", \.kvCacheMemory),
        key("kv-cache-dtype", "KV cache element type: f32 or bf16.", \.kvCacheDtype, choices: ["f32", "bf16"]),
        key("compute-dtype", "What the linears multiply the weights with: auto (int8 over Q8_0 weights, bf16 over bf16 weights on a CPU with AVX512-BF16 or AMX, else f32), f32 (exact against the reference's f32 run; Q8_0 weights dequantized exactly), bf16 (activations rounded to bf16 as PyTorch and llama.cpp run bf16 checkpoints; AVX512-BF16 dot products, or AMX tiles, where the CPU has them: 3-5x the matrix throughput for prefill and large batches on AMX) or int8 (Q8_0 weights: activations quantized per block of 32 as llama.cpp does, integer dot products).", \.computeDtype, choices: ["auto", "f32", "bf16", "int8"]),
        key("block-size", "Tokens per KV block.", \.blockSize, range: 1...1024),
        key("enable-prefix-caching", "Reuse the KV blocks of repeated prompt prefixes.", \.enablePrefixCaching),
        key("speculative", "Speculative decoding: off, or mtp (the checkpoint's MTP layer drafts; refused without one).",
            \.speculative, choices: ["off", "mtp"]),
        key("speculative-tokens", "Draft tokens per step with --speculative mtp (the MTP layer applied recursively).",
            \.speculativeTokens, range: 1...4),
        key("threads", "Compute threads (0 = one per physical core); they are also the expert-parallel workers.", \.threads, range: 0...1024),
        key("expert-parallel", "Expert-parallel workers, each a compute thread pinned to a physical core that owns a share of every MoE layer's experts (0 = threads, else one per physical core).", \.expertParallel, range: 0...1024),
        key("expert-placement", "How experts are spread over the workers: contiguous, round-robin, or balanced (re-placed from counted expert loads, hottest experts replicated).", \.expertPlacement, choices: ["contiguous", "round-robin", "balanced"]),
        key("pin-workers", "Pin each compute/expert worker thread to its core (turn off on machines shared with other busy processes).", \.pinWorkers),
        key("expert-rebalance-tokens", "Balanced placement: re-place a layer's experts every this many routed tokens.", \.expertRebalanceTokens, range: 1...Int.max),
        key("max-n", "Largest `n` (choices per request).", \.maxN, range: 1...128),
        key("default-temperature", "Temperature when a request gives none.", \.defaultTemperature),
        key("default-top-p", "top_p when a request gives none.", \.defaultTopP),
        key("default-repetition-penalty", "repetition_penalty when a request gives none.", \.defaultRepetitionPenalty),
        Key(name: "default-seed", help: "Sampling seed when a request gives none (the Responses and Messages APIs have no seed field): the same prompt then samples the same output on every run of the same build. Default: none (each request draws from the system's entropy).",
            apply: { settings, value in
                let text = value.trimmingCharacters(in: .whitespaces)
                if text.isEmpty { settings.defaultSeed = nil; return }
                guard let seed = UInt64(text) else { throw SettingsError("expected a non-negative 64-bit integer, got '\(value)'") }
                settings.defaultSeed = seed
            },
            current: { $0.defaultSeed }),
        key("max-body-bytes", "Largest request body; more gets 413.", \.maxBodyBytes, range: 1...Int.max),
        key("max-header-bytes", "Largest request line + headers; more gets 431.", \.maxHeaderBytes, range: 256...Int.max),
        key("max-header-count", "Most header fields; more gets 431.", \.maxHeaderCount, range: 1...10_000),
        key("max-connections", "Most open client connections.", \.maxConnections, range: 1...1_000_000),
        key("header-timeout", "Seconds to receive a request's headers (and between body reads).", \.headerTimeout),
        key("idle-timeout", "Seconds an idle keep-alive connection stays open.", \.idleTimeout),
        key("shutdown-timeout", "Seconds running requests get to finish on SIGTERM/SIGINT.", \.shutdownTimeout),
        key("sse-keepalive", "Seconds between `: ping` comments on idle streams (0 = off).", \.sseKeepalive),
        key("log-level", "trace, debug, info, warning or error. Access lines (one per request) are info; those of /health and /metrics are debug.", \.logLevel, choices: ["trace", "debug", "info", "warning", "error"]),
        key("log-format", "text, or json (one JSON object per line with stable keys, for log collectors).", \.logFormat, choices: ["text", "json"]),
    ]

    /// Applies `value` to the key `name`; throws a message naming the key and the source.
    mutating func set(_ name: String, _ value: String, source: String) throws {
        guard let key = Self.keys.first(where: { $0.name == name }) else {
            throw SettingsError("\(source): unknown setting '\(name)'")
        }
        do {
            try key.apply(&self, value)
        } catch let error as SettingsError {
            throw SettingsError("\(source): \(name): \(error.message)")
        }
    }

    /// Reads a JSON configuration file: an object whose keys are setting names (`-` or `_` both accepted). Keys
    /// starting with `//` are comments (the shipped file documents every key that way).
    mutating func load(file path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw SettingsError("cannot read configuration file \(path)")
        }
        let document: JSONValue
        do {
            document = try JSONParser.parse([UInt8](data))
        } catch {
            throw SettingsError("\(path) is not valid JSON: \(error)")
        }
        guard case .object(let entries) = document else {
            throw SettingsError("\(path) must hold a JSON object of settings")
        }
        for member in entries.members {
            let name = member.key.replacingOccurrences(of: "_", with: "-")
            if name.hasPrefix("//") { continue }
            func text(_ value: JSONValue) throws -> String? {
                switch value {
                case .null: return nil
                case .bool(let flag): return flag ? "true" : "false"
                case .string(let string): return string
                case .number: return value.compactJSON()
                case .array, .object: throw SettingsError("\(path): \(name): expected a scalar value")
                }
            }
            if case .array(let items) = member.value {
                // One list value: list keys (api-key, served-model-name) split it on commas.
                let values = try items.compactMap(text)
                if !values.isEmpty { try set(name, values.joined(separator: ","), source: path) }
            } else if let value = try text(member.value) {
                try set(name, value, source: path)
            }
        }
    }

    /// Applies `LING_SERVE_*` variables.
    mutating func load(environment: [String: String]) throws {
        for key in Self.keys {
            let variable = "LING_SERVE_" + key.name.uppercased().replacingOccurrences(of: "-", with: "_")
            if let value = environment[variable] { try set(key.name, value, source: "environment \(variable)") }
        }
    }

    /// The configuration file with every key and its default, as `config/ling-serve.json` ships it.
    static func defaultFileText() -> String {
        let defaults = ServeSettings()
        var lines = ["{"]
        for (index, key) in keys.enumerated() {
            let comma = index == keys.count - 1 ? "" : ","
            lines.append("  \"//\(key.name)\": \(jsonQuoted(key.help)),")
            lines.append("  \"\(key.name)\": \(jsonLiteral(key.current(defaults)))\(comma)")
        }
        lines.append("}")
        return lines.joined(separator: "\n") + "\n"
    }
}

struct SettingsError: Error, CustomStringConvertible {
    let message: String
    init(_ message: String) { self.message = message }
    var description: String { message }
}

// MARK: - Key constructors

private func splitList(_ value: String) -> [String] {
    value.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
}

private func key(_ name: String, _ help: String, _ path: WritableKeyPath<ServeSettings, String> & Sendable, choices: [String]? = nil) -> ServeSettings.Key {
    ServeSettings.Key(
        name: name, help: help,
        apply: { settings, value in
            if let choices, !choices.contains(value) {
                throw SettingsError("must be one of \(choices.joined(separator: ", ")), got '\(value)'")
            }
            settings[keyPath: path] = value
        },
        current: { $0[keyPath: path] })
}

private func key(_ name: String, _ help: String, _ path: WritableKeyPath<ServeSettings, String?> & Sendable) -> ServeSettings.Key {
    ServeSettings.Key(
        name: name, help: help, apply: { settings, value in settings[keyPath: path] = value.isEmpty ? nil : value },
        current: { $0[keyPath: path] })
}

private func parseInt(_ value: String) throws -> Int {
    guard let number = Int(value.trimmingCharacters(in: .whitespaces)) else {
        throw SettingsError("expected an integer, got '\(value)'")
    }
    return number
}

private func key(_ name: String, _ help: String, _ path: WritableKeyPath<ServeSettings, Int> & Sendable, range: ClosedRange<Int>) -> ServeSettings.Key {
    ServeSettings.Key(
        name: name, help: help,
        apply: { settings, value in
            let number = try parseInt(value)
            guard range.contains(number) else { throw SettingsError("must be in \(range), got \(number)") }
            settings[keyPath: path] = number
        },
        current: { $0[keyPath: path] })
}

private func key(_ name: String, _ help: String, _ path: WritableKeyPath<ServeSettings, Int?> & Sendable) -> ServeSettings.Key {
    ServeSettings.Key(
        name: name, help: help,
        apply: { settings, value in
            let number = try parseInt(value)
            guard number > 0 else { throw SettingsError("must be positive, got \(number)") }
            settings[keyPath: path] = number
        },
        current: { $0[keyPath: path] })
}

private func key(_ name: String, _ help: String, _ path: WritableKeyPath<ServeSettings, Double> & Sendable) -> ServeSettings.Key {
    ServeSettings.Key(
        name: name, help: help,
        apply: { settings, value in
            guard let number = Double(value.trimmingCharacters(in: .whitespaces)), number.isFinite, number >= 0 else {
                throw SettingsError("expected a non-negative number, got '\(value)'")
            }
            settings[keyPath: path] = number
        },
        current: { $0[keyPath: path] })
}

private func key(_ name: String, _ help: String, _ path: WritableKeyPath<ServeSettings, Bool> & Sendable) -> ServeSettings.Key {
    ServeSettings.Key(
        name: name, help: help,
        apply: { settings, value in
            switch value.lowercased() {
            case "true", "1", "yes", "on": settings[keyPath: path] = true
            case "false", "0", "no", "off": settings[keyPath: path] = false
            default: throw SettingsError("expected true or false, got '\(value)'")
            }
        },
        current: { $0[keyPath: path] })
}

/// A default as JSON text, in `json.dumps`'s layout (`config/ling-serve.json` is this text, checked by check-deploy.py).
private func jsonLiteral(_ value: Any?) -> String {
    let json: JSONValue
    switch value {
    case let text as String: json = .string(text)
    case let flag as Bool: json = .bool(flag)
    case let number as Int: json = .int(number)
    case let number as UInt64: json = Int64(exactly: number).map { .number(.int($0)) } ?? .number(.bigInt(String(number)))
    case let number as Double: json = .double(number)
    case let list as [String]: json = .array(list.map(JSONValue.string))
    default: json = .null
    }
    return json.pythonDumps()
}
