import Dispatch
import HTTP
import Synchronization

/// One line of the access log: written when the response ends (complete, or cut short), with the status that was
/// sent. Tokens are set for the routes that generated.
public struct AccessLogEntry: Sendable, Equatable {
    public var method: String
    /// The path, without the query string (queries can carry secrets; access logs are widely readable).
    public var path: String
    /// The status sent; 499 (nginx's "client closed request") when the client left before any response head.
    public var status: Int
    /// Body bytes queued for the client (before chunked framing).
    public var bytes: Int
    /// Request fully received to response end, in seconds.
    public var durationSeconds: Double
    /// The `X-Request-Id` of the response (the client's, or the one the server made).
    public var requestID: String?
    public var remoteAddress: String
    public var promptTokens: Int?
    public var completionTokens: Int?
    public var cachedTokens: Int?
    /// False when the connection closed before the response's end (an aborted stream).
    public var completed: Bool
    /// `/health` and `/metrics`: logged at debug, not info (probes every few seconds would drown the log, as
    /// llama-server keeps them out of its default log).
    public var isProbe: Bool
}

/// The access log's configuration: where entries go and whether probe routes are written at all.
public struct AccessLog: Sendable {
    /// Called once per request on a connection queue; keep it short (one write).
    public let write: @Sendable (AccessLogEntry) -> Void
    /// Log `/health` and `/metrics` too (the server passes true at `--log-level debug` and below).
    public let includeProbes: Bool

    public init(includeProbes: Bool, write: @escaping @Sendable (AccessLogEntry) -> Void) {
        self.includeProbes = includeProbes
        self.write = write
    }

    static func isProbe(_ path: String) -> Bool { path == "/health" || path == "/metrics" }

    /// Starts the entry of one request, or nil when this request is not logged (a probe at info level: nothing
    /// is allocated or timed for it).
    func begin(_ request: HTTPRequest, _ responder: HTTPResponder) -> AccessRecord? {
        let probe = Self.isProbe(request.path)
        if probe && !includeProbes { return nil }
        let record = AccessRecord()
        let start = DispatchTime.now().uptimeNanoseconds
        let write = self.write
        let method = request.method
        let path = request.path.utf8.count > 512 ? String(request.path.prefix(512)) : request.path
        let remote = request.remoteAddress
        responder.onComplete { summary in
            let elapsed = Double(DispatchTime.now().uptimeNanoseconds &- start) / 1e9
            let noted = record.snapshot
            write(AccessLogEntry(
                method: method, path: path, status: summary.status ?? 499, bytes: summary.bodyBytes,
                durationSeconds: elapsed, requestID: noted.requestID, remoteAddress: remote,
                promptTokens: noted.promptTokens, completionTokens: noted.completionTokens,
                cachedTokens: noted.cachedTokens, completed: summary.completed, isProbe: probe))
        }
        return record
    }
}

/// What the API layer learns about a request while answering it (request id, token counts).
final class AccessRecord: Sendable {
    struct Noted: Sendable {
        var requestID: String?
        var promptTokens: Int?
        var completionTokens: Int?
        var cachedTokens: Int?
    }

    private let state = Mutex(Noted())
    var snapshot: Noted { state.withLock { $0 } }

    func sawHeaders(_ headers: [(name: String, value: String)]) {
        guard let id = headers.first(where: { $0.name.utf8.count == 12 && $0.name.lowercased() == "x-request-id" })?.value
        else { return }
        state.withLock { $0.requestID = id }
    }

    func setUsage(promptTokens: Int, completionTokens: Int, cachedTokens: Int) {
        state.withLock {
            $0.promptTokens = promptTokens
            $0.completionTokens = completionTokens
            $0.cachedTokens = cachedTokens
        }
    }
}
