@preconcurrency import Dispatch
import HTTP
import Synchronization

/// Serves the API on the HTTP layer: each request runs `APIServer.handle` in a task, writing through the
/// connection's responder.
public struct APIHTTPHandler: HTTPHandler {
    public let server: APIServer
    /// Seconds of silence on an open event stream before a `: ping` comment is sent; 0 = never (the default: older
    /// benchmark clients JSON-parse every event, §6.10).
    public let sseKeepAliveSeconds: Double

    /// Where access-log entries go; nil = no access log.
    public let accessLog: AccessLog?

    public init(server: APIServer, sseKeepAliveSeconds: Double = 0, accessLog: AccessLog? = nil) {
        self.server = server
        self.sseKeepAliveSeconds = sseKeepAliveSeconds
        self.accessLog = accessLog
    }

    public func handle(_ request: HTTPRequest, _ responder: HTTPResponder) {
        let apiRequest = APIRequest(
            method: request.method, target: request.target, headers: request.headers.fields, body: request.body)
        var record: AccessRecord?
        if let accessLog, let entryRecord = accessLog.begin(request, responder) { record = entryRecord }
        // Answered right here on the connection's queue when no await is needed (a healthy /health): no task, no
        // thread hop, no queue.async back to the connection. Probes arrive every few seconds from every balancer.
        if let immediate = server.immediateResponse(method: request.method, path: request.path, headers: request.headers.fields) {
            record?.sawHeaders(immediate.headers)
            responder.respond(status: immediate.status, headers: HTTPHeaders(immediate.headers), body: immediate.body)
            return
        }
        let sink = HTTPResponseSink(
            responder: responder, keepAlive: sseKeepAliveSeconds > 0 ? SSEKeepAlive(responder: responder, interval: sseKeepAliveSeconds) : nil,
            record: record)
        let server = self.server
        Task { await server.handle(apiRequest, sink: sink) }
    }
}

/// `ResponseSink` over an `HTTPResponder`. A write over the output high-watermark suspends until the socket drains,
/// so a slow reader slows its own stream and never makes the server buffer without bound.
struct HTTPResponseSink: ResponseSink {
    let responder: HTTPResponder
    let keepAlive: SSEKeepAlive?
    let record: AccessRecord?

    func respond(status: Int, headers: [(name: String, value: String)], body: [UInt8]) async {
        record?.sawHeaders(headers)
        responder.respond(status: status, headers: HTTPHeaders(headers), body: body)
    }

    func startStream(status: Int, headers: [(name: String, value: String)]) async {
        record?.sawHeaders(headers)
        responder.startStream(status: status, headers: HTTPHeaders(headers))
        keepAlive?.start()
    }

    func write(_ bytes: [UInt8]) async -> Bool {
        keepAlive?.wrote()
        if responder.write(bytes) { return true }
        if responder.isCancelled { return false }
        // Queued but over the watermark: wait for the drain (or a disconnect, which also fires onWritable).
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            responder.onWritable { continuation.resume() }
        }
        return !responder.isCancelled
    }

    func finishStream() async {
        keepAlive?.stop()
        responder.finish()
    }

    func onDisconnect(_ handler: @escaping @Sendable () -> Void) {
        responder.onCancel(handler)
    }

    func recordUsage(promptTokens: Int, completionTokens: Int, cachedTokens: Int) {
        record?.setUsage(promptTokens: promptTokens, completionTokens: completionTokens, cachedTokens: cachedTokens)
    }
}

/// Sends `: ping` SSE comments while a stream is silent (queued, long prefill), so proxies and clients with read
/// timeouts keep the connection. A ping is one chunk of its own, so it never splits an event.
final class SSEKeepAlive: Sendable {
    private struct State {
        var timer: DispatchSourceTimer?
        var lastWrite = DispatchTime.now()
    }

    private let responder: HTTPResponder
    private let interval: Double
    private let state = Mutex(State())
    static let ping = Array(": ping\n\n".utf8)

    init(responder: HTTPResponder, interval: Double) {
        self.responder = responder
        self.interval = interval
    }

    func start() {
        let timer = DispatchSource.makeTimerSource(queue: .global())
        let tick = max(0.01, interval / 4)
        timer.schedule(deadline: .now() + tick, repeating: tick)
        timer.setEventHandler { [weak self] in self?.tick() }
        state.withLock { $0.timer = timer; $0.lastWrite = .now() }
        responder.onCancel { [weak self] in self?.stop() }
        timer.resume()
    }

    func wrote() { state.withLock { $0.lastWrite = .now() } }

    func stop() {
        let timer = state.withLock { state -> DispatchSourceTimer? in
            defer { state.timer = nil }
            return state.timer
        }
        timer?.cancel()
    }

    private func tick() {
        let due = state.withLock { state -> Bool in
            guard state.timer != nil else { return false }
            let silent = Double(DispatchTime.now().uptimeNanoseconds - state.lastWrite.uptimeNanoseconds) / 1e9
            guard silent >= interval else { return false }
            state.lastWrite = .now()
            return true
        }
        if due { _ = responder.write(Self.ping) }
    }

    deinit { state.withLock { $0.timer }?.cancel() }
}
