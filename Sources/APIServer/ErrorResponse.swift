import HTTP
import OpenAIAPI

/// The one place where an `APIError` becomes a status, headers and body (§3, §4).
public enum ErrorResponse {
    public static func headers(for error: APIError, requestID: String) -> [(name: String, value: String)] {
        var headers: [(name: String, value: String)] = [
            ("Content-Type", "application/json"), ("X-Request-Id", requestID),
        ]
        if error.status == 401 { headers.append(("WWW-Authenticate", "Bearer")) }
        if let seconds = error.retryAfterSeconds { headers.append(("Retry-After", String(max(1, seconds)))) }
        if let methods = error.allowedMethods { headers.append(("Allow", methods.joined(separator: ", "))) }
        return headers
    }

    public static func send(_ error: APIError, requestID: String, to sink: some ResponseSink) async {
        await sink.respond(status: error.status, headers: headers(for: error, requestID: requestID), body: error.body.encoded)
    }

    /// An error on the Messages API: Anthropic's body and status (`agent-protocols.md` §3.10), `request-id` beside
    /// `X-Request-Id`, and `x-should-retry` so the SDKs retry only what can succeed later.
    public static func sendAnthropic(_ error: APIError, requestID: String, to sink: some ResponseSink) async {
        let (status, type) = error.anthropic
        var headers = Self.headers(for: error, requestID: requestID)
        headers.append(("request-id", requestID))
        headers.append(("x-should-retry", status >= 500 ? "true" : "false"))
        await sink.respond(
            status: status, headers: headers,
            body: MessagesEncoding.errorBody(type: type, message: error.message, requestID: requestID))
    }

    /// The body of an error the HTTP layer answers before routing (400 malformed, 408, 413, 414, 431, …), for
    /// `HTTPServerConfiguration.errorBody`: Anthropic's shape (`agent-protocols.md` §3.10, type from the status)
    /// when the request's target is a Messages path, else OpenAI's.
    @Sendable public static func httpLayerBody(_ info: HTTPErrorInfo) -> HTTPErrorBody {
        guard let target = info.target, Router.usesAnthropicErrors(path: Router.path(of: target)) else {
            let body = APIErrorBody(message: info.message, type: info.type, param: nil, code: info.code)
            return HTTPErrorBody(contentType: "application/json", bytes: body.encoded)
        }
        let type = APIError(
            status: info.status, type: info.type, code: info.code, param: nil, message: info.message,
            retryAfterSeconds: nil
        ).anthropic.type
        return HTTPErrorBody(
            contentType: "application/json", bytes: MessagesEncoding.errorBody(type: type, message: info.message, requestID: nil))
    }

    /// The in-stream error event after SSE headers were sent (§6.10).
    public static func streamEvent(message: String) -> [UInt8] {
        ServerSentEvent.data(APIErrorBody(message: message, type: "server_error", param: nil, code: "internal_error").encoded)
    }
}
