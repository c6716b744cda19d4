import Foundation

/// A Hugging Face `tokenizer.json` tokenizer (byte-level or character BPE), giving the same ids and text as the
/// Rust `tokenizers` library.
///
/// Immutable after loading: one instance can be shared by any number of threads (each call keeps its scratch
/// buffers on its own stack).
///
/// ```swift
/// let tokenizer = try Tokenizer(directory: "/models/Ling-mini-2.0")
/// let ids = tokenizer.encode("Hello", addSpecialTokens: false)
/// let text = tokenizer.decode(ids, skipSpecialTokens: true)
/// ```
public final class Tokenizer: Sendable {
    /// Number of id slots: one more than the largest id of the vocabulary or the added tokens.
    public let vocabularySize: Int
    /// `added_tokens` of tokenizer.json, in file order.
    public let addedTokens: [AddedToken]
    /// Special tokens named by tokenizer_config.json (and the model's `unk_token`), when present.
    public let specialTokens: SpecialTokens

    let normalizer: Normalizer?
    let preTokenizer: PreTokenizer
    let model: BPEModel
    let postProcessor: PostProcessor
    let decoder: TokenDecoder?
    /// Added tokens matched on the raw input (`normalized: false`).
    let rawAddedTokenMatcher: AddedTokenMatcher
    /// Added tokens matched after normalisation (`normalized: true`).
    let normalizedAddedTokenMatcher: AddedTokenMatcher
    /// `[vocabularySize]`: token string per id (added token content wins over the model vocabulary).
    let tokenStrings: [String?]
    let idsByTokenString: [String: Int]
    /// `[vocabularySize]`: whether the id is a special added token.
    let specialFlags: [Bool]
    /// Added token id -> content (the first entry wins when a file lists an id twice).
    let addedContents: [Int: String]

    /// Loads `tokenizer.json` and, when present, `tokenizer_config.json` from a model directory.
    public convenience init(directory: String) throws {
        let tokenizerPath = (directory as NSString).appendingPathComponent("tokenizer.json")
        guard let data = FileManager.default.contents(atPath: tokenizerPath) else {
            throw TokenizerError("\(tokenizerPath): cannot read the file")
        }
        let configPath = (directory as NSString).appendingPathComponent("tokenizer_config.json")
        let config = FileManager.default.contents(atPath: configPath)
        try self.init(tokenizerJSON: data, tokenizerConfigJSON: config, fileName: tokenizerPath)
    }

    /// Builds a tokenizer from the bytes of tokenizer.json (and optionally tokenizer_config.json).
    /// `fileName` only appears in error messages.
    public init(tokenizerJSON: Data, tokenizerConfigJSON: Data? = nil, fileName: String = "tokenizer.json") throws {
        let loaded = try TokenizerLoader.load(tokenizerJSON, config: tokenizerConfigJSON, fileName: fileName)
        vocabularySize = loaded.tokenStrings.count
        addedTokens = loaded.addedTokens
        specialTokens = loaded.specialTokens
        normalizer = loaded.normalizer
        preTokenizer = loaded.preTokenizer
        model = loaded.model
        postProcessor = loaded.postProcessor
        decoder = loaded.decoder
        rawAddedTokenMatcher = loaded.rawMatcher
        normalizedAddedTokenMatcher = loaded.normalizedMatcher
        tokenStrings = loaded.tokenStrings
        idsByTokenString = loaded.idsByTokenString
        specialFlags = loaded.specialFlags
        addedContents = Dictionary(loaded.addedTokens.map { ($0.id, $0.content) }, uniquingKeysWith: { first, _ in first })
    }

    /// Token ids of `text`. With `addSpecialTokens`, the post-processor's template (e.g. a BOS) is applied.
    public func encode(_ text: String, addSpecialTokens: Bool = false) -> [Int] {
        encodeIds(text, addSpecialTokens: addSpecialTokens).map { Int($0) }
    }

    /// `encode` returning `UInt32` ids (no conversion pass; what the engine stores).
    public func encodeIds(_ text: String, addSpecialTokens: Bool = false) -> [UInt32] {
        var ids: [UInt32] = []
        var text = text
        text.withUTF8 { buffer in
            ids.reserveCapacity(buffer.count / 3 + 4)
            var scratch = BPEScratch()
            for (range, addedId) in rawAddedTokenMatcher.split(buffer) {
                if let addedId {
                    ids.append(UInt32(addedId))
                    continue
                }
                let segment = UnsafeBufferPointer(rebasing: buffer[range])
                let atStart = range.lowerBound == 0
                if let normalizer {
                    let normalized = normalizer.apply(Array(segment))
                    normalized.withUnsafeBufferPointer { encodeNormalized($0, atStart: atStart, &ids, &scratch) }
                } else {
                    encodeNormalized(segment, atStart: atStart, &ids, &scratch)
                }
            }
        }
        return addSpecialTokens ? postProcessor.apply(ids) : ids
    }

    private func encodeNormalized(
        _ text: UnsafeBufferPointer<UInt8>, atStart: Bool, _ ids: inout [UInt32], _ scratch: inout BPEScratch
    ) {
        if normalizedAddedTokenMatcher.isEmpty {
            encodePieces(text, atStart: atStart, &ids, &scratch)
            return
        }
        for (range, addedId) in normalizedAddedTokenMatcher.split(text) {
            if let addedId {
                ids.append(UInt32(addedId))
                continue
            }
            encodePieces(UnsafeBufferPointer(rebasing: text[range]), atStart: atStart && range.lowerBound == 0, &ids, &scratch)
        }
    }

    /// Pre-tokenizes and runs BPE on each piece; long texts go through a word cache (`WordCache`).
    private func encodePieces(
        _ text: UnsafeBufferPointer<UInt8>, atStart: Bool, _ ids: inout [UInt32], _ scratch: inout BPEScratch
    ) {
        guard text.count >= Self.cacheThreshold else {
            preTokenizer.forEachPiece(text, atStart: atStart) { model.encodeWord($0, into: &ids, scratch: &scratch) }
            return
        }
        var cache = WordCache(inputSize: text.count)
        preTokenizer.forEachPiece(text, atStart: atStart) { piece in
            guard piece.count >= 2 && piece.count <= WordCache.maxKeyLength else {
                model.encodeWord(piece, into: &ids, scratch: &scratch)
                return
            }
            let hash = WordCache.hash(piece)
            if cache.appendIds(of: piece, hash: hash, to: &ids) { return }
            let start = ids.count
            model.encodeWord(piece, into: &ids, scratch: &scratch)
            cache.insert(piece, hash: hash, ids: ids[start...])
        }
    }

    /// Inputs shorter than this skip the word cache (setting it up costs more than it saves).
    static let cacheThreshold = 4096

    /// Text of `ids`. Ids outside the vocabulary are skipped, as `tokenizers` does; with `skipSpecialTokens`,
    /// special added tokens are left out.
    public func decode(_ ids: [Int], skipSpecialTokens: Bool = false) -> String {
        var tokens: [String] = []
        tokens.reserveCapacity(ids.count)
        for id in ids {
            guard id >= 0 && id < tokenStrings.count, let token = tokenStrings[id] else { continue }
            if skipSpecialTokens && specialFlags[id] { continue }
            tokens.append(token)
        }
        guard let decoder else { return tokens.joined(separator: " ") }
        return decoder.decodeChain(tokens).joined()
    }

    /// The vocabulary string of `id` (byte-level tokens in their `Ġ` spelling), or nil outside the vocabulary.
    public func tokenString(id: Int) -> String? {
        guard id >= 0 && id < tokenStrings.count else { return nil }
        return tokenStrings[id]
    }

    /// The exact bytes of one token, what the model emits for it: an added token's content as UTF-8, a byte-level
    /// vocabulary entry mapped back through the byte alphabet (possibly part of a UTF-8 character), other entries
    /// as they decode alone. Empty outside the vocabulary.
    public func tokenBytes(_ id: Int) -> [UInt8] {
        if let content = addedContents[id] { return Array(content.utf8) }
        guard let token = tokenString(id: id) else { return [] }
        if model.isByteLevel, let bytes = ByteLevelAlphabet.decode(token) { return bytes }
        return Array(decode([id]).utf8)
    }

    /// The id of a vocabulary string or added token.
    public func id(forToken token: String) -> Int? { idsByTokenString[token] }

    /// Whether `id` is a special added token (left out by `skipSpecialTokens`).
    public func isSpecial(id: Int) -> Bool { id >= 0 && id < specialFlags.count && specialFlags[id] }
}

/// Special tokens a server needs by role. Ids are nil when the files do not name the token.
public struct SpecialTokens: Sendable, Equatable {
    public var bosToken: String?
    public var eosToken: String?
    public var padToken: String?
    public var unknownToken: String?
    public var bosId: Int?
    public var eosId: Int?
    public var padId: Int?
    public var unknownId: Int?
}
