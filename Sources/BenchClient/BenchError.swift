/// A benchmark that cannot run: bad arguments, unreadable dataset, unreachable server.
public struct BenchError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
