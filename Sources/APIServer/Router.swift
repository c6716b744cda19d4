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
    /// `GET /`: the built-in chat page (when enabled).
    case chatPage

    /// Routes reachable without a key; everything else is denied by default (§3).
    public var isPublic: Bool { self == .health }
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
        case "/": routeAndMethods = (.chatPage, ["GET"])
        case "/metrics": routeAndMethods = (.metrics, ["GET"])
        case "/tokenize": routeAndMethods = (.tokenize, ["POST"])
        case "/detokenize": routeAndMethods = (.detokenize, ["POST"])
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
            return .failure(.routeNotFound(method: method, path: path))
        }
        // HEAD is not offered: every route here answers with a body.
        guard methods.contains(method) else {
            return .failure(.methodNotAllowed(method: method, path: path, allowed: methods))
        }
        return .success(route)
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
