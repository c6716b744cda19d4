/// A tokenizer file that cannot be read or uses an unsupported component, or an id outside the vocabulary.
public struct TokenizerError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
