/// A request as the API layer sees it: no sockets, body already read (and capped) by the HTTP layer.
public struct APIRequest: Sendable {
    public var method: String
    /// Path and query, as in the request line.
    public var target: String
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]

    public init(method: String, target: String, headers: [(name: String, value: String)] = [], body: [UInt8] = []) {
        self.method = method
        self.target = target
        self.headers = headers
        self.body = body
    }

    /// First value of a header, name compared case-insensitively.
    public func header(_ name: String) -> String? {
        let wanted = name.lowercased()
        return headers.first { $0.name.lowercased() == wanted }?.value
    }
}

/// Where a response goes. The coordinator adapts it to the HTTP layer's responder; tests record into memory.
/// Either `respond` once, or `startStream`, any number of `write`, then `finishStream`.
public protocol ResponseSink: Sendable {
    /// A complete response; the HTTP layer adds `Content-Length`.
    func respond(status: Int, headers: [(name: String, value: String)], body: [UInt8]) async
    /// Response head of a streamed body (chunked transfer encoding is the HTTP layer's business).
    func startStream(status: Int, headers: [(name: String, value: String)]) async
    /// Writes and flushes one SSE event; false when the client is gone (the request is then cancelled).
    func write(_ bytes: [UInt8]) async -> Bool
    func finishStream() async
    /// Registers the handler called once when the client disconnects (at once if it already has). Used to cancel
    /// queued, prefilling and decoding requests in both modes.
    func onDisconnect(_ handler: @escaping @Sendable () -> Void)
    /// The token counts of a generating request (also when it ended early), for the access log.
    func recordUsage(promptTokens: Int, completionTokens: Int, cachedTokens: Int)
}

extension ResponseSink {
    /// Sinks without an access log (tests, in-memory callers) have nothing to record.
    public func recordUsage(promptTokens: Int, completionTokens: Int, cachedTokens: Int) {}
}
