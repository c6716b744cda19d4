/// A server configuration problem found at start-up (model, keys, TLS files, limits).
public struct APIServerError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
