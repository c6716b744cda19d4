import JSON
import TokenConstraints

/// A grammar compiled for one request (a JSON schema, any JSON object, or tool calls), shared by its choices.
public final class CompiledGrammar: Sendable {
    let matcher: Matcher
    public let vocabulary: TokenVocabulary

    init(matcher: Matcher, vocabulary: TokenVocabulary) {
        self.matcher = matcher
        self.vocabulary = vocabulary
    }

    /// One JSON value matching `schema`; nil or an empty schema: any JSON object (`json_object`).
    public static func json(schema: JSONValue?, vocabulary: TokenVocabulary) throws(GrammarError) -> CompiledGrammar {
        var graph = SchemaGraph()
        graph.rootNode = try graph.add(schema: schema ?? .object(JSONObject()), objectRoot: schema == nil)
        return CompiledGrammar(matcher: Matcher(graph: graph, document: .json), vocabulary: vocabulary)
    }

    /// One tool call (or several with `parallel`) in the Ling template's format,
    /// `<tool_call>\n{"name": "X", "arguments": ARGS}\n</tool_call>`, X one of `names`, ARGS matching that tool's
    /// parameter schema (any object when the schema is empty). `openSymbol` / `closeSymbol`: the ids of the
    /// `<tool_call>` / `</tool_call>` special tokens, nil when the tokenizer has none (the text is matched instead).
    public static func toolCalls(
        names: [String], parameterSchemas: [JSONValue], parallel: Bool, openSymbol: Int?, closeSymbol: Int?,
        vocabulary: TokenVocabulary
    ) throws(GrammarError) -> CompiledGrammar {
        guard !names.isEmpty, names.count == parameterSchemas.count else { throw GrammarError("no tools to call") }
        guard names.count <= SchemaGraph.maxAlternatives else {
            throw GrammarError("more than \(SchemaGraph.maxAlternatives) tools")
        }
        // All argument schemas live in one graph, each resolving its own `$ref`s.
        var graph = SchemaGraph()
        var arguments: [Int] = []
        for schema in parameterSchemas { arguments.append(try graph.add(schema: schema, objectRoot: true)) }
        let names = names.map { name in Array(Array(JSONValue.string(name).compactJSON().utf8).dropFirst().dropLast()) }
        let document = Document.toolCalls(
            ToolCallShape(names: names, arguments: arguments, parallel: parallel, openSymbol: openSymbol, closeSymbol: closeSymbol))
        return CompiledGrammar(matcher: Matcher(graph: graph, document: document), vocabulary: vocabulary)
    }

    /// A fresh state machine for one sequence.
    public func makeConstraint() -> GrammarConstraint {
        GrammarConstraint(grammar: self, threads: matcher.initialThreads())
    }

    // MARK: - Stepping threads

    func feed(_ threads: [[Frame]], _ byte: UInt8) -> [[Frame]] {
        var next: [[Frame]] = []
        for thread in threads { matcher.feed(thread, byte, into: &next) }
        return next.count > 1 ? Self.unique(next) : next
    }

    func feed(_ threads: [[Frame]], symbol: Int) -> [[Frame]] {
        var next: [[Frame]] = []
        for thread in threads { matcher.feed(thread, symbol: symbol, into: &next) }
        return next.count > 1 ? Self.unique(next) : next
    }

    private static func unique(_ threads: [[Frame]]) -> [[Frame]] {
        var seen: Set<[Frame]> = []
        return threads.filter { seen.insert($0).inserted }
    }

    var symbols: [Int] {
        guard case .toolCalls(let shape) = matcher.document else { return [] }
        return [shape.openSymbol, shape.closeSymbol].compactMap { $0 }
    }

    /// Every ordinary or symbol token that keeps at least one thread alive.
    func mask(for threads: [[Frame]]) -> TokenMask {
        var mask = TokenMask(vocabularySize: vocabulary.vocabularySize)
        for symbol in symbols where !feed(threads, symbol: symbol).isEmpty { mask.insert(symbol) }
        if threads.count == 1, let top = threads[0].last, top.kind == .string, top.phase == 0, top.count == 0 {
            // Inside a string: plain tokens always fit; only the rest needs the state machine.
            mask.formUnion(vocabulary.plainStringTokens)
            for id in vocabulary.otherTokens {
                var current = threads
                for byte in vocabulary.bytes[Int(id)] {
                    current = feed(current, byte)
                    if current.isEmpty { break }
                }
                if !current.isEmpty { mask.insert(Int(id)) }
            }
        } else {
            walk(node: 0, threads: threads, into: &mask)
        }
        return mask
    }

    /// Depth-first over the trie: a subtree is skipped as soon as its prefix kills every thread.
    private func walk(node: Int, threads: [[Frame]], into mask: inout TokenMask) {
        let first = Int(vocabulary.firstChild[node])
        for edge in first..<(first + Int(vocabulary.childCount[node])) {
            let next = feed(threads, vocabulary.edgeByte[edge])
            guard !next.isEmpty else { continue }
            let target = Int(vocabulary.edgeTarget[edge])
            for index in Int(vocabulary.tokenStart[target])..<Int(vocabulary.tokenStart[target + 1]) {
                mask.insert(Int(vocabulary.tokenIds[index]))
            }
            walk(node: target, threads: next, into: &mask)
        }
    }
}

/// The per-sequence state: the live threads of the matcher and a cache of masks by state (inside a string, or at a
/// repeated position of an array, the state recurs and the mask is reused).
public struct GrammarConstraint: DecodingConstraint {
    let grammar: CompiledGrammar
    var threads: [[Frame]]
    /// A reference, so that the engine's copy-out / write-back of a sequence's state never copies the masks.
    private let cache = MaskCache()

    init(grammar: CompiledGrammar, threads: [[Frame]]) {
        self.grammar = grammar
        self.threads = threads
    }

    public mutating func allowedTokens() -> TokenMask {
        if let cached = cache.masks[threads] { return cached }
        let mask = grammar.mask(for: threads)
        cache.store(mask, for: threads)
        return mask
    }

    public var mayEnd: Bool { threads.contains { grammar.matcher.mayEnd($0) } }

    public var isComplete: Bool { threads.allSatisfy(\.isEmpty) }

    public mutating func advance(_ tokenId: Int) -> Bool {
        if grammar.symbols.contains(tokenId) {
            let next = grammar.feed(threads, symbol: tokenId)
            guard !next.isEmpty else { return false }
            threads = next
            return true
        }
        guard tokenId >= 0 && tokenId < grammar.vocabulary.bytes.count else { return false }
        let bytes = grammar.vocabulary.bytes[tokenId]
        guard !bytes.isEmpty else { return false }
        return advance(bytes: bytes)
    }

    /// Moves past raw bytes (tests and tools); false, state unchanged, when they do not fit.
    public mutating func advance(bytes: [UInt8]) -> Bool {
        var current = threads
        for byte in bytes {
            current = grammar.feed(current, byte)
            if current.isEmpty { return false }
        }
        threads = current
        return true
    }
}

/// Masks by matcher state. A mask depends only on the state, so copies of a constraint may share one cache.
/// `@unchecked Sendable`: a constraint (and its copies) belongs to one sequence and is used on one thread at a time
/// (the engine thread; a test's thread).
final class MaskCache: @unchecked Sendable {
    private(set) var masks: [[[Frame]]: TokenMask] = [:]
    static let limit = 256

    func store(_ mask: TokenMask, for state: [[Frame]]) {
        if masks.count >= Self.limit { masks.removeAll(keepingCapacity: true) }
        masks[state] = mask
    }
}
