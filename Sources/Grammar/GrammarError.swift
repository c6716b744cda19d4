/// Why a schema or tool list cannot be turned into a grammar.
public struct GrammarError: Error, Sendable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
