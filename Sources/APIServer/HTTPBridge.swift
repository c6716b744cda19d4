import HTTP

/// Serves the API on the HTTP layer: each request runs `APIServer.handle` in a task, writing through the
/// connection's responder.
public struct APIHTTPHandler: HTTPHandler {
    public let server: APIServer

    public init(server: APIServer) { self.server = server }

    public func handle(_ request: HTTPRequest, _ responder: HTTPResponder) {
        let apiRequest = APIRequest(
            method: request.method, target: request.target, headers: request.headers.fields, body: request.body)
        let sink = HTTPResponseSink(responder: responder)
        let server = self.server
        Task { await server.handle(apiRequest, sink: sink) }
    }
}

/// `ResponseSink` over an `HTTPResponder`. A write over the output high-watermark suspends until the socket drains,
/// so a slow reader slows its own stream and never makes the server buffer without bound.
struct HTTPResponseSink: ResponseSink {
    let responder: HTTPResponder

    func respond(status: Int, headers: [(name: String, value: String)], body: [UInt8]) async {
        responder.respond(status: status, headers: HTTPHeaders(headers), body: body)
    }

    func startStream(status: Int, headers: [(name: String, value: String)]) async {
        responder.startStream(status: status, headers: HTTPHeaders(headers))
    }

    func write(_ bytes: [UInt8]) async -> Bool {
        if responder.write(bytes) { return true }
        if responder.isCancelled { return false }
        // Queued but over the watermark: wait for the drain (or a disconnect, which also fires onWritable).
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            responder.onWritable { continuation.resume() }
        }
        return !responder.isCancelled
    }

    func finishStream() async {
        responder.finish()
    }

    func onDisconnect(_ handler: @escaping @Sendable () -> Void) {
        responder.onCancel(handler)
    }
}
