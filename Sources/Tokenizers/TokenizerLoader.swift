import Foundation

/// Reads tokenizer.json into the pipeline components. Every unsupported component is a `TokenizerError` naming the
/// JSON path at fault.
enum TokenizerLoader {
    /// Largest token id accepted from a file: ids index tables and are stored as UInt32. No released tokenizer
    /// comes near it (Ling: 157,152; the largest vocabularies are around 256k).
    static let maxTokenId = (1 << 24) - 1

    struct Loaded {
        var addedTokens: [AddedToken]
        var specialTokens: SpecialTokens
        var normalizer: Normalizer?
        var preTokenizer: PreTokenizer
        var model: BPEModel
        var postProcessor: PostProcessor
        var decoder: TokenDecoder?
        var rawMatcher: AddedTokenMatcher
        var normalizedMatcher: AddedTokenMatcher
        var tokenStrings: [String?]
        var idsByTokenString: [String: Int]
        var specialFlags: [Bool]
    }

    static func load(_ data: Data, config: Data?, fileName: String) throws -> Loaded {
        let root = try JSONNode.parse(data, file: fileName)
        _ = try root.object()
        let modelNode = try root.required("model")
        let normalizer = try root["normalizer"].map(parseNormalizer)
        let preTokenizer = try parsePreTokenizer(root["pre_tokenizer"])

        // Added tokens.
        var addedTokens: [AddedToken] = []
        for node in try root["added_tokens"]?.array() ?? [] {
            let token = AddedToken(
                id: try node.required("id").tokenId(), content: try node.required("content").string(),
                isSpecial: try node.bool("special", default: false), singleWord: try node.bool("single_word", default: false),
                lstrip: try node.bool("lstrip", default: false), rstrip: try node.bool("rstrip", default: false),
                normalized: try node.bool("normalized", default: true))
            addedTokens.append(token)
        }

        let vocabulary = try BPEModelLoader.vocabulary(modelNode)
        let model = try BPEModelLoader.load(modelNode, vocabulary: vocabulary, isByteLevel: preTokenizer.isByteLevel)

        var size = (vocabulary.values.max() ?? -1) + 1
        for token in addedTokens { size = max(size, token.id + 1) }
        // Tables below are indexed by id; ids spread far beyond the token count would size them from one number.
        let tokenCount = vocabulary.count + addedTokens.count
        guard size <= 2 * tokenCount + 1024 else {
            throw TokenizerError("\(fileName): ids run up to \(size - 1) for \(tokenCount) tokens (at most 2 x the token count + 1024)")
        }
        var tokenStrings = [String?](repeating: nil, count: size)
        var idsByTokenString = vocabulary
        for (token, id) in vocabulary { tokenStrings[id] = token }
        var specialFlags = [Bool](repeating: false, count: size)
        for token in addedTokens {
            // `tokenizers` keeps a normalised added token under its normalised content (what decode returns).
            if token.normalized, let normalizer {
                tokenStrings[token.id] = String(decoding: normalizer.apply(Array(token.content.utf8)), as: UTF8.self)
            } else {
                tokenStrings[token.id] = token.content
            }
            idsByTokenString[token.content] = token.id
            // `skip_special_tokens` looks the decoded string up in the set of special contents, so a special token
            // whose normalised content differs is not skipped by `tokenizers`; mirror that.
            specialFlags[token.id] = token.isSpecial && tokenStrings[token.id] == token.content
        }

        let rawTokens = addedTokens.filter { !$0.normalized }
        let normalizedTokens = addedTokens.filter { $0.normalized }
        let rawMatcher = AddedTokenMatcher(tokens: rawTokens, patterns: rawTokens.map { Array($0.content.utf8) })
        let normalizedMatcher = AddedTokenMatcher(
            tokens: normalizedTokens,
            patterns: normalizedTokens.map { normalizer?.apply(Array($0.content.utf8)) ?? Array($0.content.utf8) })

        let postProcessor = try root["post_processor"].map { try parsePostProcessor($0, ids: idsByTokenString) }
        let decoder = try root["decoder"].map(parseDecoder)

        var specialTokens = SpecialTokens()
        if let unknown = try modelNode["unk_token"]?.string() {
            specialTokens.unknownToken = unknown
            specialTokens.unknownId = idsByTokenString[unknown]
        }
        if let config {
            let configNode = try JSONNode.parse(config, file: "tokenizer_config.json")
            func tokenName(_ key: String) throws -> String? {
                guard let node = configNode[key] else { return nil }
                if let content = node["content"] { return try content.string() }
                return try node.string()
            }
            specialTokens.bosToken = try tokenName("bos_token")
            specialTokens.eosToken = try tokenName("eos_token")
            specialTokens.padToken = try tokenName("pad_token")
            if let unknown = try tokenName("unk_token") { specialTokens.unknownToken = unknown }
            specialTokens.bosId = specialTokens.bosToken.flatMap { idsByTokenString[$0] }
            specialTokens.eosId = specialTokens.eosToken.flatMap { idsByTokenString[$0] }
            specialTokens.padId = specialTokens.padToken.flatMap { idsByTokenString[$0] }
            specialTokens.unknownId = specialTokens.unknownToken.flatMap { idsByTokenString[$0] }
        }

        return Loaded(
            addedTokens: addedTokens, specialTokens: specialTokens, normalizer: normalizer, preTokenizer: preTokenizer,
            model: model, postProcessor: postProcessor ?? PostProcessor(), decoder: decoder, rawMatcher: rawMatcher,
            normalizedMatcher: normalizedMatcher, tokenStrings: tokenStrings, idsByTokenString: idsByTokenString,
            specialFlags: specialFlags)
    }

    // MARK: normalizer

    static func parseNormalizer(_ node: JSONNode) throws -> Normalizer {
        let type = try node.required("type").string()
        switch type {
        case "NFC": return .nfc
        case "NFD": return .nfd
        case "NFKC": return .nfkc
        case "NFKD": return .nfkd
        case "Lowercase": return .lowercase
        case "Replace":
            let matcher = try parsePattern(try node.required("pattern"))
            return .replace(matcher, Array(try node.required("content").string().utf8))
        case "Prepend": return .prepend(Array(try node.required("prepend").string().utf8))
        case "Strip":
            return .strip(left: try node.bool("strip_left", default: true), right: try node.bool("strip_right", default: true))
        case "Sequence":
            return .sequence(try node.required("normalizers").array().map(parseNormalizer))
        default:
            throw TokenizerError("\(node.path).type: unsupported normalizer \(type.debugDescription)")
        }
    }

    /// `{"String": "..."}` or `{"Regex": "..."}`.
    static func parsePattern(_ node: JSONNode) throws -> SplitMatcher {
        if let literal = node["String"] { return .literal(Array(try literal.string().utf8)) }
        if let regexNode = node["Regex"] {
            let pattern = try regexNode.string()
            if let scanner = GPTPatternScanner.known[pattern] { return .scanner(scanner) }
            return .regex(try GeneralRegex(pattern: pattern, context: regexNode.path))
        }
        throw TokenizerError("\(node.path): expected {\"String\": ...} or {\"Regex\": ...}")
    }

    // MARK: pre-tokenizer

    static func parsePreTokenizer(_ node: JSONNode?) throws -> PreTokenizer {
        var result = PreTokenizer(steps: [], isByteLevel: false)
        guard let node else { return result }
        try appendPreTokenizer(node, to: &result)
        return result
    }

    private static func appendPreTokenizer(_ node: JSONNode, to result: inout PreTokenizer) throws {
        let type = try node.required("type").string()
        if result.isByteLevel && type != "Sequence" {
            throw TokenizerError("\(node.path): a \(type) pre-tokenizer after ByteLevel is not supported")
        }
        switch type {
        case "Sequence":
            for child in try node.required("pretokenizers").array() { try appendPreTokenizer(child, to: &result) }
        case "Split":
            let matcher = try parsePattern(try node.required("pattern"))
            let behaviorName = try node.required("behavior").string()
            guard let behavior = SplitBehavior(rawValue: behaviorName) else {
                throw TokenizerError("\(node.path).behavior: unknown split behavior \(behaviorName.debugDescription)")
            }
            result.steps.append(.split(matcher, behavior, invert: try node.bool("invert", default: false)))
        case "ByteLevel":
            if try node.bool("add_prefix_space", default: true) { result.steps.append(.prefixSpace) }
            if try node.bool("use_regex", default: true) {
                result.steps.append(.split(.scanner(.gpt2), .isolated, invert: false))
            }
            result.isByteLevel = true
        case "Digits":
            let individual = try node.bool("individual_digits", default: false)
            result.steps.append(.split(.numericCharacter, individual ? .isolated : .contiguous, invert: false))
        case "Whitespace":
            result.steps.append(.split(.wordOrSymbolRuns, .removed, invert: true))
        case "WhitespaceSplit":
            result.steps.append(.split(.whitespaceCharacter, .removed, invert: false))
        case "Punctuation":
            let behaviorName = try node.string("behavior", default: "Isolated")
            guard let behavior = SplitBehavior(rawValue: behaviorName) else {
                throw TokenizerError("\(node.path).behavior: unknown split behavior \(behaviorName.debugDescription)")
            }
            result.steps.append(.split(.punctuationCharacter, behavior, invert: false))
        case "BertPreTokenizer":
            result.steps.append(.split(.whitespaceCharacter, .removed, invert: false))
            result.steps.append(.split(.punctuationCharacter, .isolated, invert: false))
        case "Metaspace":
            let (replacement, scheme) = try metaspaceSettings(node)
            result.steps.append(
                .metaspace(replacement: Array(replacement.utf8), prepend: scheme, split: try node.bool("split", default: true)))
        default:
            throw TokenizerError("\(node.path).type: unsupported pre-tokenizer \(type.debugDescription)")
        }
    }

    // MARK: post-processor

    static func parsePostProcessor(_ node: JSONNode, ids: [String: Int]) throws -> PostProcessor {
        let type = try node.required("type").string()
        switch type {
        case "ByteLevel":
            return PostProcessor()
        case "TemplateProcessing":
            var processor = PostProcessor()
            var seenSequence = false
            let specialTokens = try node["special_tokens"]?.object() ?? [:]
            for item in try node.required("single").array() {
                if item["Sequence"] != nil {
                    guard !seenSequence else {
                        throw TokenizerError("\(item.path): a single-sequence template with two sequences")
                    }
                    seenSequence = true
                } else if let special = item["SpecialToken"] {
                    let name = try special.required("id").string()
                    guard let entry = specialTokens[name] else {
                        throw TokenizerError("\(special.path).id: \(name.debugDescription) is not in special_tokens")
                    }
                    let tokenIds = try entry.required("ids").array().map { UInt32(try $0.tokenId()) }
                    if seenSequence { processor.suffixIds += tokenIds } else { processor.prefixIds += tokenIds }
                } else {
                    throw TokenizerError("\(item.path): expected Sequence or SpecialToken")
                }
            }
            return processor
        case "BertProcessing", "RobertaProcessing":
            let cls = try node.required("cls").array()
            let sep = try node.required("sep").array()
            guard cls.count == 2, sep.count == 2 else { throw TokenizerError("\(node.path): cls/sep must be [token, id]") }
            return PostProcessor(prefixIds: [UInt32(try cls[1].tokenId())], suffixIds: [UInt32(try sep[1].tokenId())])
        case "Sequence":
            var processor = PostProcessor()
            for child in try node.required("processors").array() {
                let part = try parsePostProcessor(child, ids: ids)
                processor.prefixIds = part.prefixIds + processor.prefixIds
                processor.suffixIds += part.suffixIds
            }
            return processor
        default:
            throw TokenizerError("\(node.path).type: unsupported post-processor \(type.debugDescription)")
        }
    }

    // MARK: decoder

    static func parseDecoder(_ node: JSONNode) throws -> TokenDecoder {
        let type = try node.required("type").string()
        switch type {
        case "ByteLevel": return .byteLevel
        case "ByteFallback": return .byteFallback
        case "Fuse": return .fuse
        case "Metaspace":
            let (replacement, scheme) = try metaspaceSettings(node)
            return .metaspace(replacement: replacement, prependScheme: scheme)
        case "Strip":
            let content = try node.required("content").string()
            guard content.unicodeScalars.count == 1, let scalar = content.unicodeScalars.first else {
                throw TokenizerError("\(node.path).content: expected one character")
            }
            return .strip(content: scalar, start: try node.int("start", default: 0), stop: try node.int("stop", default: 0))
        case "Replace":
            let pattern = try node.required("pattern")
            guard let literal = pattern["String"] else {
                throw TokenizerError("\(pattern.path): only a String pattern is supported in the Replace decoder")
            }
            return .replace(pattern: try literal.string(), content: try node.required("content").string())
        case "Sequence":
            return .sequence(try node.required("decoders").array().map(parseDecoder))
        default:
            throw TokenizerError("\(node.path).type: unsupported decoder \(type.debugDescription)")
        }
    }
}

/// The `replacement` and prepend scheme of a Metaspace pre-tokenizer or decoder (the same keys in both): the newer
/// `prepend_scheme`, or the older `add_prefix_space` flag.
private func metaspaceSettings(_ node: JSONNode) throws -> (replacement: String, scheme: MetaspacePrependScheme) {
    let replacement = try node.string("replacement", default: "\u{2581}")
    guard let schemeNode = node["prepend_scheme"] else {
        return (replacement, try node.bool("add_prefix_space", default: true) ? .always : .never)
    }
    let name = try schemeNode.string()
    guard let scheme = MetaspacePrependScheme(rawValue: name) else {
        throw TokenizerError("\(schemeNode.path): unknown prepend_scheme \(name.debugDescription)")
    }
    return (replacement, scheme)
}
