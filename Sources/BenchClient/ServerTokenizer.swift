import JSON

/// The server's own tokenizer through `POST /tokenize` and `POST /detokenize`, so prompt lengths are exact.
/// Sends both the vLLM/LingServe field names (`prompt`, reply `tokens`/`prompt`) and llama-server's (`content`),
/// and reads whichever comes back.
public final class ServerTokenizer {
    private let client: SimpleHTTPClient
    private let baseURL: String
    private let model: String

    /// Probes the routes; returns nil when the server lacks them (the caller warns and falls back).
    public init?(client: SimpleHTTPClient, baseURL: String, model: String) {
        self.client = client
        self.baseURL = baseURL
        self.model = model
        guard let ids = try? tokenize("Hello world"), !ids.isEmpty, (try? detokenize(ids)) != nil else { return nil }
    }

    public func tokenize(_ text: String) throws -> [Int] {
        let body: JSONValue = .object(JSONObject([
            ("model", .string(model)), ("prompt", .string(text)), ("content", .string(text)),
            ("add_special_tokens", .bool(false)),
        ]))
        let reply = try client.json(url: baseURL + "/tokenize", body: body)
        guard let tokens = reply["tokens"]?.arrayValue else { throw BenchError("/tokenize: reply has no 'tokens'") }
        // llama-server may return pieces as objects ({"id": …}) when asked for them; plain ids otherwise.
        return try tokens.map { token in
            if let id = token.intValue ?? token["id"]?.intValue { return id }
            throw BenchError("/tokenize: 'tokens' holds a non-integer")
        }
    }

    public func detokenize(_ ids: [Int]) throws -> String {
        let body: JSONValue = .object(JSONObject([("model", .string(model)), ("tokens", .array(ids.map { .int($0) }))]))
        let reply = try client.json(url: baseURL + "/detokenize", body: body)
        guard let text = reply["prompt"]?.stringValue ?? reply["content"]?.stringValue else {
            throw BenchError("/detokenize: reply has neither 'prompt' nor 'content'")
        }
        return text
    }

    public func count(_ text: String) throws -> Int { try tokenize(text).count }
}
