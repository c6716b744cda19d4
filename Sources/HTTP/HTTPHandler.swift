/// The application side of the server: called once per complete request.
///
/// `handle` runs on the connection's serial queue: it must not block (hand long work to another thread and answer
/// through `responder`, which is thread-safe). The next pipelined request on the same connection is not parsed
/// until this one's response is complete, so responses are always in request order.
public protocol HTTPHandler: Sendable {
    func handle(_ request: HTTPRequest, _ responder: HTTPResponder)
}

/// Adapts a closure to `HTTPHandler`.
public struct HTTPClosureHandler: HTTPHandler {
    private let body: @Sendable (HTTPRequest, HTTPResponder) -> Void
    public init(_ body: @escaping @Sendable (HTTPRequest, HTTPResponder) -> Void) { self.body = body }
    public func handle(_ request: HTTPRequest, _ responder: HTTPResponder) { body(request, responder) }
}
