import Dispatch
import Glibc
import OpenAIAPI
import SocketTestSupport

@testable import HTTP

/// A running server on an ephemeral port for the duration of `body`.
func withServer<T>(
    _ configure: (inout HTTPServerConfiguration) -> Void = { _ in }, handler: any HTTPHandler,
    _ body: (HTTPServer, Int) throws -> T
) throws -> T {
    var configuration = HTTPServerConfiguration(host: "127.0.0.1", port: 0)
    configuration.errorBody = openAIErrorBody
    configure(&configuration)
    let server = HTTPServer(configuration: configuration, handler: handler)
    try server.start()
    defer { server.shutdown(deadline: .now() + .seconds(5)) }
    guard let port = server.localPort else { throw TestClientError("no port") }
    return try body(server, port)
}

/// The error shape the server tests expect, as the API layer supplies it to `ling-serve`'s server.
@Sendable func openAIErrorBody(_ info: HTTPErrorInfo) -> HTTPErrorBody {
    let body = APIErrorBody(message: info.message, type: info.type, param: nil, code: info.code)
    return HTTPErrorBody(contentType: "application/json", bytes: body.encoded)
}

/// Echoes method, path, query and body; `/stream` and `/slow` are used by specific tests.
struct EchoHandler: HTTPHandler {
    func handle(_ request: HTTPRequest, _ responder: HTTPResponder) {
        let text = "\(request.method) \(request.path) \(request.query ?? "-") \(request.body.count):"
            + String(decoding: request.body, as: UTF8.self)
        responder.respond(status: 200, headers: ["Content-Type": "text/plain"], body: text)
    }
}

func request(_ method: String = "GET", _ target: String, body: String? = nil, extra: String = "") -> String {
    var text = "\(method) \(target) HTTP/1.1\r\nHost: test\r\n\(extra)"
    if let body { text += "Content-Length: \(body.utf8.count)\r\n\r\n\(body)" } else { text += "\r\n" }
    return text
}
