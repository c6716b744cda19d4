import Engine
import Grammar
import JSON
import OpenAIAPI
import TokenConstraints

/// Constrained decoding for one request (tool_choice required/named, `json_object`, `json_schema`): compiled once,
/// then one `DecodingConstraint` per choice, which the engine consults before every sampling step.
public protocol TokenConstraintFactory: Sendable {
    /// What the constraint enforces, for logging and tests.
    var spec: ConstraintSpec { get }
    /// A fresh state machine for one choice.
    func makeConstraint() -> any DecodingConstraint
}

/// What must be enforced.
public enum ConstraintSpec: Sendable, Equatable {
    /// One or more `<tool_call>` blocks (more only with `parallel`) naming one of `names` (one name when the
    /// tool choice is named), with arguments matching that tool's parameter schema (nil: any object).
    case toolCalls(names: [String], parameterSchemas: [JSONObject?], parallel: Bool)
    case jsonObject
    case jsonSchema(JSONObject)
}

/// Compiles `ConstraintSpec`s against the served tokenizer. The vocabulary trie is built once, here.
public struct ConstraintCompiler: Sendable {
    public let vocabulary: TokenVocabulary
    let toolCallStart: Int?
    let toolCallEnd: Int?

    /// - Parameters:
    ///   - tokenBytes: exact bytes of every id (index = id), as many as the model's vocabulary.
    ///   - specialIds: added / special tokens, never generated inside constrained text except the tool-call pair.
    public init(tokenBytes: [[UInt8]], specialIds: Set<Int>, toolCallStart: Int?, toolCallEnd: Int?) {
        vocabulary = TokenVocabulary(tokenBytes: tokenBytes, specialIds: specialIds)
        self.toolCallStart = toolCallStart
        self.toolCallEnd = toolCallEnd
    }

    public init(codec: TokenizerCodec) {
        let specials = Set(codec.tokenizer.addedTokens.map(\.id)).union(codec.eosTokenIds)
        self.init(
            tokenBytes: (0...codec.maxTokenId).map { codec.tokenBytes($0) }, specialIds: specials,
            toolCallStart: codec.toolCallStartTokenId, toolCallEnd: codec.toolCallEndTokenId)
    }

    public func compile(_ spec: ConstraintSpec) throws(APIError) -> any TokenConstraintFactory {
        do {
            let grammar: CompiledGrammar
            switch spec {
            case .jsonObject: grammar = try .json(schema: nil, vocabulary: vocabulary)
            case .jsonSchema(let schema): grammar = try .json(schema: .object(schema), vocabulary: vocabulary)
            case .toolCalls(let names, let schemas, let parallel):
                grammar = try .toolCalls(
                    names: names, parameterSchemas: schemas.map { $0.map(JSONValue.object) ?? .object(JSONObject()) },
                    parallel: parallel, openSymbol: toolCallStart, closeSymbol: toolCallEnd, vocabulary: vocabulary)
            }
            return GrammarFactory(spec: spec, grammar: grammar)
        } catch {
            switch spec {
            case .jsonSchema, .jsonObject:
                throw .unsupportedValue(param: "response_format.json_schema.schema", "The schema cannot be enforced: \(error)")
            case .toolCalls:
                throw .unsupportedValue(param: "tools", "The tool parameter schemas cannot be enforced: \(error)")
            }
        }
    }
}

struct GrammarFactory: TokenConstraintFactory {
    let spec: ConstraintSpec
    let grammar: CompiledGrammar

    func makeConstraint() -> any DecodingConstraint { grammar.makeConstraint() }
}
