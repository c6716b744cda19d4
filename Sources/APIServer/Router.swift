import OpenAIAPI

/// The endpoints of §2.
public enum Route: Sendable, Equatable {
    case chatCompletions
    case completions
    case listModels
    case model(id: String)
    case health
    case metrics
    case tokenize
    case detokenize
    case responses
    /// Anthropic Messages API (`agent-protocols.md` §3).
    case messages
    case countTokens
    /// `HEAD`/`GET` `/` and `/api/hello`: connectivity probes Claude Code sends (§4.2), 200 with an empty body
    /// (`GET /` is the chat page instead when it is on).
    case probe
    /// Claude Code's telemetry (`/api/event_logging/batch`, `/v2/batch`): 204, body discarded (§4.2).
    case eventLogging

    /// Routes reachable without a key; everything else is denied by default (§3).
    public var isPublic: Bool { self == .health || self == .probe || self == .eventLogging }
}

/// (method, path) -> route; 404 for unknown paths, 405 with `Allow` for a known path and another method.
public enum Router {
    public static func route(method: String, target: String) -> Result<Route, APIError> {
        let path = Self.path(of: target)
        let routeAndMethods: (Route, [String])?
        switch path {
        case "/v1/chat/completions": routeAndMethods = (.chatCompletions, ["POST"])
        case "/v1/completions": routeAndMethods = (.completions, ["POST"])
        case "/v1/models": routeAndMethods = (.listModels, ["GET"])
        case "/health": routeAndMethods = (.health, ["GET"])
        case "/metrics": routeAndMethods = (.metrics, ["GET"])
        case "/tokenize": routeAndMethods = (.tokenize, ["POST"])
        case "/detokenize": routeAndMethods = (.detokenize, ["POST"])
        case "/v1/responses": routeAndMethods = (.responses, ["POST"])
        case "/v1/messages": routeAndMethods = (.messages, ["POST"])
        case "/v1/messages/count_tokens": routeAndMethods = (.countTokens, ["POST"])
        case "/", "/api/hello": routeAndMethods = (.probe, ["GET", "HEAD"])
        case "/api/event_logging/batch", "/api/event_logging/v2/batch": routeAndMethods = (.eventLogging, ["POST"])
        default:
            let prefix = "/v1/models/"
            if path.hasPrefix(prefix), path.count > prefix.count,
                let id = percentDecode(String(path.dropFirst(prefix.count)))
            {
                routeAndMethods = (.model(id: id), ["GET"])
            } else {
                routeAndMethods = nil
            }
        }
        guard let (route, methods) = routeAndMethods else {
            if path.hasPrefix("/v1/v1/messages") {
                var error = APIError.routeNotFound(method: method, path: path)
                error.message += ": the base URL must not end in /v1 (set ANTHROPIC_BASE_URL=http://host:port)"
                return .failure(error)
            }
            return .failure(.routeNotFound(method: method, path: path))
        }
        // HEAD is offered on the probes only: every other route answers with a body.
        guard methods.contains(method) else {
            return .failure(.methodNotAllowed(method: method, path: path, allowed: methods))
        }
        return .success(route)
    }

    /// Routes whose errors use Anthropic's body (`agent-protocols.md` §3.10): the Messages API, also when mistyped.
    static func usesAnthropicErrors(path: String) -> Bool {
        path.hasPrefix("/v1/messages") || path.hasPrefix("/v1/v1/messages")
    }

    /// The path without the query string.
    static func path(of target: String) -> String {
        if let question = target.firstIndex(of: "?") { return String(target[..<question]) }
        return target
    }

    /// `%XX` decoding (ids may contain `/` as `%2F`); nil for malformed escapes or invalid UTF-8.
    static func percentDecode(_ text: String) -> String? {
        var bytes: [UInt8] = []
        var iterator = Array(text.utf8).makeIterator()
        while let byte = iterator.next() {
            if byte == UInt8(ascii: "%") {
                guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else {
                    return nil
                }
                bytes.append(high << 4 | low)
            } else {
                bytes.append(byte)
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case 0x30...0x39: return byte - 0x30
        case 0x41...0x46: return byte - 0x41 + 10
        case 0x61...0x66: return byte - 0x61 + 10
        default: return nil
        }
    }
}
