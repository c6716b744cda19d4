/// Configuration problems of the KV cache. Running out of blocks is not an error: allocation returns nil.
public struct KVCacheError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
