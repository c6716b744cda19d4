/// The `post_processor` section: which ids surround a single sequence when special tokens are added.
/// (`ByteLevel` only trims offsets, so it adds nothing to ids.)
struct PostProcessor: Sendable {
    /// Ids before and after the sequence.
    var prefixIds: [UInt32] = []
    var suffixIds: [UInt32] = []

    func apply(_ ids: [UInt32]) -> [UInt32] {
        if prefixIds.isEmpty && suffixIds.isEmpty { return ids }
        return prefixIds + ids + suffixIds
    }
}
