/// Streaming detokenizer: feed ids one at a time, get back the text they add.
///
/// Uses the prefix/read-offset scheme of `transformers`' `TextStreamer` and vLLM's `detokenize_incrementally`:
/// the text of the ids since `prefixOffset` is decoded with and without the newest ids, and the difference is
/// released once it does not end in U+FFFD, i.e. once the bytes seen so far complete every character. A multi-byte
/// character split over several byte tokens therefore comes out whole in one delta, and decoders that look at
/// the first token (Metaspace's leading space) see the same first token in both decodes.
///
/// A value type owned by one request; the `Tokenizer` it reads is shared.
public struct IncrementalDecoder: Sendable {
    public let tokenizer: Tokenizer
    public let skipSpecialTokens: Bool
    /// Ids of the current window (special ids already dropped when skipping them).
    private var ids: [Int] = []
    /// Start of the ids whose text was already released in part; `readOffset`: end of released ids.
    private var prefixOffset = 0
    private var readOffset = 0
    /// Everything released so far (for callers that want the full text).
    public private(set) var text = ""

    public init(tokenizer: Tokenizer, skipSpecialTokens: Bool) {
        self.tokenizer = tokenizer
        self.skipSpecialTokens = skipSpecialTokens
    }

    /// Adds one token and returns the text it completes (often empty for partial UTF-8).
    public mutating func append(_ id: Int) -> String {
        if skipSpecialTokens && tokenizer.isSpecial(id: id) { return "" }
        ids.append(id)
        let prefixText = tokenizer.decode(Array(ids[prefixOffset..<readOffset]), skipSpecialTokens: false)
        let fullText = tokenizer.decode(Array(ids[prefixOffset...]), skipSpecialTokens: false)
        guard fullText.unicodeScalars.count > prefixText.unicodeScalars.count,
            fullText.unicodeScalars.last != "\u{FFFD}"
        else { return "" }
        let delta = Self.scalarSuffix(fullText, droppingFirst: prefixText.unicodeScalars.count)
        prefixOffset = readOffset
        readOffset = ids.count
        // Keep the window small: the ids before prefixOffset are never decoded again.
        if prefixOffset > 64 {
            ids.removeFirst(prefixOffset)
            readOffset -= prefixOffset
            prefixOffset = 0
        }
        text += delta
        return delta
    }

    /// Adds several tokens; returns the concatenated deltas.
    public mutating func append(contentsOf newIds: [Int]) -> String {
        var result = ""
        for id in newIds { result += append(id) }
        return result
    }

    /// Releases whatever is held back (an incomplete character at the end becomes U+FFFD, as a full decode would).
    public mutating func finish() -> String {
        let prefixText = tokenizer.decode(Array(ids[prefixOffset..<readOffset]), skipSpecialTokens: false)
        let fullText = tokenizer.decode(Array(ids[prefixOffset...]), skipSpecialTokens: false)
        prefixOffset = ids.count
        readOffset = ids.count
        guard fullText.unicodeScalars.count > prefixText.unicodeScalars.count else { return "" }
        let delta = Self.scalarSuffix(fullText, droppingFirst: prefixText.unicodeScalars.count)
        text += delta
        return delta
    }

    private static func scalarSuffix(_ text: String, droppingFirst count: Int) -> String {
        var view = String.UnicodeScalarView()
        view.append(contentsOf: text.unicodeScalars.dropFirst(count))
        return String(view)
    }
}
