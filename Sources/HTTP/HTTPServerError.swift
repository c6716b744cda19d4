/// Socket and TLS setup failures of the HTTP server (bind, listen, certificate loading).
public struct HTTPServerError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
