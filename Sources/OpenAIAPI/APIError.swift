/// Everything that ends a request with an OpenAI error body: the HTTP status, the body fields and, for the few
/// statuses that need one, the extra header value (`Retry-After` seconds, `Allow` methods).
///
/// Statuses, types and codes follow `openai-compat.md` §4; build errors with the static constructors so the mapping
/// lives in this one file.
public struct APIError: Error, Sendable, Equatable, CustomStringConvertible {
    public var status: Int
    public var type: String
    public var code: String?
    public var param: String?
    public var message: String
    /// `Retry-After` value in whole seconds (429 and 503 while loading or draining).
    public var retryAfterSeconds: Int?
    /// Methods for the `Allow` header of a 405.
    public var allowedMethods: [String]?

    public init(
        status: Int, type: String, code: String?, param: String?, message: String,
        retryAfterSeconds: Int? = nil, allowedMethods: [String]? = nil
    ) {
        self.status = status
        self.type = type
        self.code = code
        self.param = param
        self.message = message
        self.retryAfterSeconds = retryAfterSeconds
        self.allowedMethods = allowedMethods
    }

    public var description: String { "\(status) \(code ?? type): \(message)" }

    public var body: APIErrorBody { APIErrorBody(message: message, type: type, param: param, code: code) }

    // MARK: 400

    static func invalidRequest(_ code: String, param: String?, _ message: String) -> APIError {
        APIError(status: 400, type: "invalid_request_error", code: code, param: param, message: message)
    }

    public static func invalidJSON(_ message: String) -> APIError {
        invalidRequest("invalid_json", param: nil, message)
    }

    public static func unsupportedContentType(_ contentType: String) -> APIError {
        invalidRequest("invalid_value", param: nil, "Content-Type '\(contentType)' is not supported; send application/json")
    }

    public static func invalidType(param: String, expected: String) -> APIError {
        invalidRequest("invalid_type", param: param, "\(param) must be \(expected)")
    }

    public static func invalidValue(param: String, _ message: String) -> APIError {
        invalidRequest("invalid_value", param: param, message)
    }

    public static func missing(param: String) -> APIError {
        invalidRequest("missing_required_parameter", param: param, "\(param) is required")
    }

    public static func unsupportedParameter(param: String, _ message: String? = nil) -> APIError {
        invalidRequest("unsupported_parameter", param: param, message ?? "\(param) is not supported by this server")
    }

    public static func unsupportedValue(param: String, _ message: String) -> APIError {
        invalidRequest("unsupported_value", param: param, message)
    }

    /// vLLM-style wording: the context, the prompt and the request.
    public static func contextLengthExceeded(
        param: String, maxModelLength: Int, promptTokenCount: Int, requestedTokenCount: Int?
    ) -> APIError {
        let message: String
        if let requestedTokenCount {
            message = "This model's maximum context length is \(maxModelLength) tokens. However, you requested "
                + "\(promptTokenCount + requestedTokenCount) tokens (\(promptTokenCount) in the messages, "
                + "\(requestedTokenCount) in the completion). Please reduce the length of the messages or completion."
        } else {
            message = "This model's maximum context length is \(maxModelLength) tokens. However, your messages "
                + "resulted in \(promptTokenCount) tokens. Please reduce the length of the messages."
        }
        return invalidRequest("context_length_exceeded", param: param, message)
    }

    // MARK: other statuses

    public static let invalidAPIKey = APIError(
        status: 401, type: "authentication_error", code: "invalid_api_key", param: nil,
        message: "Incorrect or missing API key. Send it as 'Authorization: Bearer <key>'.")

    public static func modelNotFound(_ model: String) -> APIError {
        APIError(
            status: 404, type: "not_found_error", code: "model_not_found", param: "model",
            message: "The model '\(model)' does not exist")
    }

    public static func routeNotFound(method: String, path: String) -> APIError {
        APIError(
            status: 404, type: "not_found_error", code: "not_found", param: nil,
            message: "No route for \(method) \(path)")
    }

    public static func methodNotAllowed(method: String, path: String, allowed: [String]) -> APIError {
        APIError(
            status: 405, type: "invalid_request_error", code: "method_not_allowed", param: nil,
            message: "Method \(method) is not allowed for \(path); allowed: \(allowed.joined(separator: ", "))",
            allowedMethods: allowed)
    }

    public static func requestTooLarge(limitBytes: Int) -> APIError {
        APIError(
            status: 413, type: "invalid_request_error", code: "request_too_large", param: nil,
            message: "The request body exceeds the limit of \(limitBytes) bytes")
    }

    public static func headersTooLarge(_ message: String) -> APIError {
        APIError(status: 431, type: "invalid_request_error", code: "headers_too_large", param: nil, message: message)
    }

    public static func overloaded(retryAfterSeconds: Int) -> APIError {
        APIError(
            status: 429, type: "rate_limit_error", code: "server_overloaded", param: nil,
            message: "The server is overloaded: the waiting queue is full. Retry in \(retryAfterSeconds) s.",
            retryAfterSeconds: max(1, retryAfterSeconds))
    }

    public static func internalError(_ message: String) -> APIError {
        APIError(status: 500, type: "server_error", code: "internal_error", param: nil, message: message)
    }

    /// `code`: `model_loading`, `shutting_down` or `engine_unhealthy`.
    public static func unavailable(code: String, _ message: String, retryAfterSeconds: Int? = nil) -> APIError {
        APIError(
            status: 503, type: "service_unavailable_error", code: code, param: nil, message: message,
            retryAfterSeconds: retryAfterSeconds)
    }
}
