/// A chat template that does not parse, or fails while rendering (including `raise_exception`).
public struct TemplateError: Error, CustomStringConvertible, Sendable {
    public let description: String
    /// True when the template itself called `raise_exception(message)`: `description` is then the template's own
    /// message (for example "Conversation roles must alternate user/assistant/user/assistant/..."), which a server
    /// reports to the client as a bad request.
    public let isRaisedByTemplate: Bool

    public init(_ description: String, isRaisedByTemplate: Bool = false) {
        self.description = description
        self.isRaisedByTemplate = isRaisedByTemplate
    }
}
