import Dispatch
import Synchronization

/// Answers one request. Thread-safe: every method may be called from any thread, at any time, also after the
/// client has gone (calls then do nothing).
///
/// Exactly one of these sequences is expected:
/// * `respond(status:headers:body:)` (fixed length, `Content-Length` set by the server), or
/// * `startStream(status:headers:)`, any number of `write`/`writeEvent`, then `finish()` (chunked transfer coding;
///   every write is flushed to the socket at once, `TCP_NODELAY` is on).
/// Calls out of that order are ignored. The server sets `Date`, `Server`, `Connection` and the framing headers
/// (`Content-Length`/`Transfer-Encoding`); a handler header `Connection: close` closes the connection after the
/// response. A `HEAD` request gets the head only.
///
/// Back-pressure: `write` returns false once `HTTPServerConfiguration.outputHighWatermark` bytes are queued; the
/// producer should then wait for `onWritable` (or `waitUntilWritable()`) instead of writing more, so a slow reader
/// never makes the server buffer without bound.
///
/// Cancellation: when the client disconnects (EOF, reset, failed write) or the server force-closes the connection
/// during shutdown, `isCancelled` becomes true and the `onCancel` callbacks run at once (on the connection's queue;
/// keep them short). Pending `onWritable` callbacks also run, so a waiting producer wakes up and sees `isCancelled`.
public final class HTTPResponder: Sendable {
    private enum Phase { case waiting, streaming, finished }

    private struct State {
        var phase = Phase.waiting
        var queuedByteCount = 0  // bytes passed to write() and not yet moved into the connection's output buffer
        var cancelled = false
        var cancelCallbacks: [@Sendable () -> Void] = []
        var writableCallbacks: [@Sendable () -> Void] = []
        var completionCallback: (@Sendable (HTTPResponseSummary) -> Void)?
        var reportedCompletion = false
    }

    private let connection: Connection
    private let state = Mutex(State())
    private let highWatermark: Int
    private let lowWatermark: Int

    init(connection: Connection, highWatermark: Int, lowWatermark: Int) {
        self.connection = connection
        self.highWatermark = highWatermark
        self.lowWatermark = lowWatermark
    }

    /// Whether the client has gone or the connection was closed; further writes are dropped.
    public var isCancelled: Bool { state.withLock { $0.cancelled } }

    /// Sends a complete response with `Content-Length: body.count`.
    public func respond(status: Int, headers: HTTPHeaders = HTTPHeaders(), body: [UInt8] = []) {
        let accepted = state.withLock { state -> Bool in
            guard state.phase == .waiting else { return false }
            state.phase = .finished
            return !state.cancelled
        }
        guard accepted else { return }
        connection.perform { $0.sendResponse(self, status: status, headers: headers, body: body) }
    }

    /// Sends a complete response with a UTF-8 text body.
    public func respond(status: Int, headers: HTTPHeaders = HTTPHeaders(), body: String) {
        respond(status: status, headers: headers, body: Array(body.utf8))
    }

    /// Sends the response head of a streamed body (chunked for HTTP/1.1 clients; HTTP/1.0 clients get the raw bytes
    /// and a close). For SSE pass `HTTPHeaders.eventStream`.
    public func startStream(status: Int = 200, headers: HTTPHeaders = HTTPHeaders()) {
        let accepted = state.withLock { state -> Bool in
            guard state.phase == .waiting else { return false }
            state.phase = .streaming
            return !state.cancelled
        }
        guard accepted else { return }
        connection.perform { $0.sendStreamHead(self, status: status, headers: headers) }
    }

    /// Writes one piece of a streamed body, flushed as its own chunk. Returns true while the producer may keep
    /// writing, false when the output buffer is over the high watermark (wait for `onWritable`) or when the response
    /// is cancelled or not streaming.
    @discardableResult
    public func write(_ bytes: [UInt8]) -> Bool {
        guard !bytes.isEmpty else { return canWrite() }
        let (accepted, total) = state.withLock { state -> (Bool, Int) in
            guard state.phase == .streaming, !state.cancelled else { return (false, 0) }
            state.queuedByteCount += bytes.count
            return (true, state.queuedByteCount)
        }
        guard accepted else { return false }
        connection.perform { $0.sendChunk(self, bytes) }
        return total + connection.outputPendingSize.load(ordering: .relaxed) < highWatermark
    }

    /// Writes UTF-8 text as one chunk (see `write(_:)`).
    @discardableResult
    public func write(_ text: String) -> Bool { write(Array(text.utf8)) }

    /// Writes one server-sent event, `data: <data>\n\n`, as one chunk. `data` must not contain a newline (compact
    /// JSON never does). Returns as `write(_:)`.
    @discardableResult
    public func writeEvent(_ data: String) -> Bool {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(data.utf8.count + 8)
        bytes.append(contentsOf: "data: ".utf8)
        bytes.append(contentsOf: data.utf8)
        bytes.append(0x0A)
        bytes.append(0x0A)
        return write(bytes)
    }

    /// Ends a streamed body (writes the last chunk). The connection then serves the next request.
    public func finish() {
        let accepted = state.withLock { state -> Bool in
            guard state.phase == .streaming else { return false }
            state.phase = .finished
            return !state.cancelled
        }
        guard accepted else { return }
        connection.perform { $0.finishStream(self) }
    }

    /// Registers a callback for client disconnect; runs at once (on the calling thread) if already cancelled.
    public func onCancel(_ callback: @escaping @Sendable () -> Void) {
        let runNow = state.withLock { state -> Bool in
            if state.cancelled { return true }
            state.cancelCallbacks.append(callback)
            return false
        }
        if runNow { callback() }
    }

    /// Registers a one-shot callback for when queued output has drained below the low watermark (or the response
    /// was cancelled). Runs at once if that is already the case.
    public func onWritable(_ callback: @escaping @Sendable () -> Void) {
        let runNow = state.withLock { state -> Bool in
            if state.cancelled || state.phase != .streaming { return true }
            if state.queuedByteCount + connection.outputPendingSize.load(ordering: .relaxed) < lowWatermark {
                return true
            }
            state.writableCallbacks.append(callback)
            return false
        }
        if runNow { callback() }
    }

    /// Blocks the calling thread until output has drained below the low watermark. Returns false if the response
    /// was cancelled. For producer threads of their own (an engine thread); never call it on a connection queue.
    public func waitUntilWritable() -> Bool {
        if canWrite() { return true }
        let semaphore = DispatchSemaphore(value: 0)
        onWritable { semaphore.signal() }
        semaphore.wait()
        return !isCancelled
    }

    private func canWrite() -> Bool {
        state.withLock { state in
            state.phase == .streaming && !state.cancelled
                && state.queuedByteCount + connection.outputPendingSize.load(ordering: .relaxed) < highWatermark
        }
    }

    /// Registers the callback run once when the response ends: after its last byte was queued for the socket, or
    /// when the connection closed before that (client gone, shutdown). For access logs; runs on the connection's
    /// queue, keep it short. Register it before answering.
    public func onComplete(_ callback: @escaping @Sendable (HTTPResponseSummary) -> Void) {
        state.withLock { $0.completionCallback = callback }
    }

    // MARK: - called by the connection (on its queue)

    /// The response ended (completely, or cut short by a close).
    func completed(_ summary: HTTPResponseSummary) {
        let callback = state.withLock { state -> (@Sendable (HTTPResponseSummary) -> Void)? in
            guard !state.reportedCompletion else { return nil }
            state.reportedCompletion = true
            defer { state.completionCallback = nil }
            return state.completionCallback
        }
        callback?(summary)
    }

    /// `count` bytes moved from `write` into the connection's output buffer.
    func didMoveToOutput(_ count: Int) {
        state.withLock { $0.queuedByteCount -= count }
    }

    /// The connection's output buffer drained below the low watermark.
    func outputDrained() {
        let callbacks = state.withLock { state -> [@Sendable () -> Void] in
            guard !state.writableCallbacks.isEmpty,
                state.queuedByteCount + connection.outputPendingSize.load(ordering: .relaxed) < lowWatermark
            else { return [] }
            let callbacks = state.writableCallbacks
            state.writableCallbacks = []
            return callbacks
        }
        for callback in callbacks { callback() }
    }

    /// The client went away or the connection was force-closed.
    func cancel() {
        let callbacks = state.withLock { state -> [@Sendable () -> Void] in
            guard !state.cancelled else { return [] }
            state.cancelled = true
            let callbacks = state.cancelCallbacks + state.writableCallbacks
            state.cancelCallbacks = []
            state.writableCallbacks = []
            return callbacks
        }
        for callback in callbacks { callback() }
    }
}

/// How a response ended, for access logs.
public struct HTTPResponseSummary: Sendable, Equatable {
    /// The status sent, or nil when the connection closed before any response head went out.
    public var status: Int?
    /// Body bytes queued for the socket (before chunked framing; 0 for HEAD).
    public var bodyBytes: Int
    /// False when the connection closed before the response's end (an aborted stream, a vanished client).
    public var completed: Bool
}

extension HTTPHeaders {
    /// Response headers for server-sent events (openai-compat §6.10): `Content-Type: text/event-stream`,
    /// `Cache-Control: no-cache`, `X-Accel-Buffering: no`.
    public static var eventStream: HTTPHeaders {
        ["Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"]
    }
}
