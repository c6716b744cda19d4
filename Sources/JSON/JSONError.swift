/// JSON text that does not parse: the message gives the byte offset and what was expected.
public struct JSONError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public let offset: Int
    public init(_ description: String, offset: Int) {
        self.description = description
        self.offset = offset
    }
}
