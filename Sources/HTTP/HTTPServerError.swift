/// Socket and TLS setup failures of the HTTP server (bind, listen, certificate loading), and I/O failures that the
/// connection shell maps to a closed connection. Messages name the call and the address or file at fault.
public struct HTTPServerError: Error, CustomStringConvertible, Sendable {
    public let description: String
    /// The `errno` value behind the failure, when a system call failed (0 otherwise).
    public let errnoCode: Int32
    public init(_ description: String, errnoCode: Int32 = 0) {
        self.description = description
        self.errnoCode = errnoCode
    }
}
