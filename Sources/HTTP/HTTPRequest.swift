/// HTTP protocol version of a request (only 1.0 and 1.1 are accepted; others get 505).
public struct HTTPVersion: Sendable, Equatable, CustomStringConvertible {
    public let major: Int
    public let minor: Int
    public static let http1_0 = HTTPVersion(major: 1, minor: 0)
    public static let http1_1 = HTTPVersion(major: 1, minor: 1)
    public var description: String { "HTTP/\(major).\(minor)" }
}

/// A complete request as handed to `HTTPHandler.handle`: the head plus the whole body (bodies are small JSON
/// documents, capped by `HTTPServerConfiguration.maxBodySize`).
public struct HTTPRequest: Sendable {
    /// The method token as sent, e.g. `GET`, `POST` (case-sensitive per RFC 9110).
    public var method: String
    /// The request target as sent, e.g. `/v1/models?x=1` (origin form) or `*` / absolute form.
    public var target: String
    /// The path part of the target (before `?`), not percent-decoded; for an absolute-form target, the path of the
    /// URL (`/` when empty).
    public var path: String
    /// The query part of the target (after `?`), not decoded, or nil when there is no `?`.
    public var query: String?
    public var version: HTTPVersion
    /// Header fields in order, case-insensitive lookup.
    public var headers: HTTPHeaders
    /// The decoded body (chunked framing removed); empty when there is none.  // [bodySize]
    public var body: [UInt8]
    /// The peer address, e.g. `127.0.0.1:53422` or `[::1]:53422`.
    public var remoteAddress: String
    /// Whether the connection stays open after this response (HTTP/1.1 default, `Connection: close`, HTTP/1.0 rules).
    public var keepAlive: Bool

    public init(
        method: String, target: String, version: HTTPVersion = .http1_1, headers: HTTPHeaders = HTTPHeaders(),
        body: [UInt8] = [], remoteAddress: String = "", keepAlive: Bool = true
    ) {
        self.method = method
        self.target = target
        (self.path, self.query) = splitTarget(target)
        self.version = version
        self.headers = headers
        self.body = body
        self.remoteAddress = remoteAddress
        self.keepAlive = keepAlive
    }
}

/// Splits a request target into path and query. Absolute form (`http://host/p?q`) yields `/p` and `q`.
func splitTarget(_ target: String) -> (path: String, query: String?) {
    var rest = Substring(target)
    if let schemeEnd = rest.range(of: "://") {
        let afterAuthority = rest[schemeEnd.upperBound...]
        if let slash = afterAuthority.firstIndex(where: { $0 == "/" || $0 == "?" }) {
            rest = afterAuthority[slash...]
        } else {
            rest = "/"
        }
        if rest.first == "?" { rest = Substring("/" + rest) }
    }
    if let question = rest.firstIndex(of: "?") {
        return (String(rest[..<question]), String(rest[rest.index(after: question)...]))
    }
    return (String(rest), nil)
}

extension Substring {
    fileprivate func range(of needle: String) -> Range<Index>? {
        var index = startIndex
        let n = needle.count
        while index < endIndex {
            if self[index...].hasPrefix(needle) { return index..<self.index(index, offsetBy: n) }
            index = self.index(after: index)
        }
        return nil
    }
}
