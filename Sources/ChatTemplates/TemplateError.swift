/// A chat template that does not parse, or fails while rendering (including `raise_exception`).
public struct TemplateError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
