/// A checkpoint that cannot be loaded or used: bad config, missing or misshaped tensors, truncated files.
/// The message names the file, the field or the tensor.
public struct ModelError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
