import TokenConstraints
import JSON
import Testing
import TestSupport

@testable import Grammar

/// A small vocabulary with the shapes that matter: single bytes, tokens spanning JSON structure (`"}`, `",`,
/// `":`), escapes, whole and partial UTF-8 characters, and special tokens (EOS, the tool-call pair).
struct TestVocabulary {
    var tokens: [[UInt8]] = []
    let eos: Int
    let toolOpen: Int
    let toolClose: Int
    let specials: Set<Int>

    init() {
        var tokens: [[UInt8]] = (0x20...0x7E).map { [UInt8($0)] } + [[0x0A], [0x09]]
        let pieces = [
            "{\"", "\":", "\": ", "\", \"", "\"}", "\"]", "\",", "},{", "}, {", ", ", "[\"", "[]", "{}", "true", "false",
            "null", "123", "-4", ".5", "e+", "\\\"", "\\n", "\\u00e9", "\\u", "ab", "name", "\"name", "arguments",
            "é", "中", "  ", "\n  ", "}\n", "\n{", "\"a", "\"b", "items", "}}", "]}", "x\"", "0,", "1]", "\"\"",
        ]
        tokens += pieces.map { Array($0.utf8) }
        tokens += [[0xC3], [0xA9], [0xE4, 0xB8], [0xAD]]  // partial UTF-8 (é split, 中 split)
        eos = tokens.count
        tokens.append(Array("<|endoftext|>".utf8))
        toolOpen = tokens.count
        tokens.append(Array("<tool_call>".utf8))
        toolClose = tokens.count
        tokens.append(Array("</tool_call>".utf8))
        specials = [eos, toolOpen, toolClose]
        self.tokens = tokens
    }

    var vocabulary: TokenVocabulary { TokenVocabulary(tokenBytes: tokens, specialIds: specials) }
}


/// Walks a constraint with random allowed tokens (half of the time preferring tokens that are not plain string
/// content, so strings end) until it ends. Returns the token ids, or nil when it did not end within `limit`.
func randomWalk(
    _ constraint: inout GrammarConstraint, vocabulary: TestVocabulary, random: inout SplitMix, limit: Int = 3000
) -> [Int]? {
    var output: [Int] = []
    let plain = constraint.grammar.vocabulary.plainStringTokens
    for _ in 0..<limit {
        if constraint.isComplete { return output }
        let mask = constraint.allowedTokens()
        var allowed = (0..<mask.vocabularySize).filter { mask.contains($0) }
        if constraint.mayEnd && (allowed.isEmpty || random.below(3) == 0) { return output }
        #expect(!allowed.isEmpty, "a dead end: nothing allowed and the document cannot end")
        if allowed.isEmpty { return nil }
        let structural = allowed.filter { !plain.contains($0) }
        if !structural.isEmpty && random.below(2) == 0 { allowed = structural }
        let token = allowed[random.below(allowed.count)]
        do { let fits = constraint.advance(token); #expect(fits, "an allowed token was refused") }
        output.append(token)
    }
    return nil
}

/// Checks `value` against the schema subset the grammar supports.
func conforms(_ value: JSONValue, _ schema: JSONValue, root: JSONValue) -> Bool {
    guard case .object(let object) = schema else { return schema != .bool(false) }
    if case .string(let reference)? = object["$ref"] {
        var target = root
        for token in reference.dropFirst(2).split(separator: "/") { target = target[String(token)] ?? .null }
        return conforms(value, target, root: root)
    }
    if case .array(let options)? = object["anyOf"] { return options.contains { conforms(value, $0, root: root) } }
    if let constant = object["const"] { return value == constant }
    if case .array(let values)? = object["enum"] { return values.contains(value) }
    let types: [String] =
        switch object["type"] {
        case .string(let name)?: [name]
        case .array(let names)?: names.compactMap(\.stringValue)
        default: []
        }
    func typeMatches(_ name: String) -> Bool {
        switch (name, value) {
        case ("string", .string), ("boolean", .bool), ("null", .null), ("number", .number), ("object", .object),
            ("array", .array):
            return true
        case ("integer", .number(.int)), ("integer", .number(.bigInt)): return true
        default: return false
        }
    }
    if !types.isEmpty && !types.contains(where: typeMatches) { return false }
    if case .object(let members) = value {
        let properties = object["properties"]?.objectValue ?? JSONObject()
        for name in object["required"]?.arrayValue?.compactMap(\.stringValue) ?? [] where !members.contains(name) {
            return false
        }
        for member in members {
            if let propertySchema = properties[member.key] {
                if !conforms(member.value, propertySchema, root: root) { return false }
            } else if object["additionalProperties"] == .bool(false) {
                return false
            }
        }
    }
    if case .array(let items) = value {
        if let minimum = object["minItems"]?.intValue, items.count < minimum { return false }
        if let maximum = object["maxItems"]?.intValue, items.count > maximum { return false }
        if let itemSchema = object["items"], !items.allSatisfy({ conforms($0, itemSchema, root: root) }) { return false }
    }
    return true
}

func text(_ ids: [Int], _ vocabulary: TestVocabulary) -> [UInt8] { ids.flatMap { vocabulary.tokens[$0] } }

@Suite struct GrammarTests {
    let vocabulary = TestVocabulary()

    static let schemas: [String] = [
        #"{"type":"object","properties":{"name":{"type":"string"},"age":{"type":"integer"},"ok":{"type":"boolean"}},"required":["name","age"],"additionalProperties":false}"#,
        #"{"type":"object","properties":{"color":{"enum":["red","green","blue"]},"tags":{"type":"array","items":{"type":"string"},"minItems":1,"maxItems":3},"score":{"type":"number"}},"required":["color","tags","score"],"additionalProperties":false}"#,
        #"{"type":"object","properties":{"value":{"anyOf":[{"type":"string"},{"type":"integer"},{"type":"null"}]},"inner":{"type":"object","properties":{"a":{"type":["boolean","null"]},"b":{"const":"fixed"}},"required":["a","b"],"additionalProperties":false}},"required":["value","inner"],"additionalProperties":false}"#,
        ##"{"$defs":{"node":{"type":"object","properties":{"id":{"type":"integer"},"children":{"type":"array","items":{"$ref":"#/$defs/node"},"maxItems":2}},"required":["id"],"additionalProperties":false}},"$ref":"#/$defs/node"}"##,
        #"{"type":"object","additionalProperties":{"type":"integer"}}"#,
        #"{"type":"array","items":{"type":"object","properties":{"x":{"type":"number"}},"required":["x"]}}"#,
    ]

    @Test(arguments: schemas.indices)
    func randomWalksProduceConformingJSON(schemaIndex: Int) throws {
        let schema = try JSONParser.parse(Self.schemas[schemaIndex])
        let grammar = try CompiledGrammar.json(schema: schema, vocabulary: vocabulary.vocabulary)
        var random = SplitMix(state: UInt64(schemaIndex) &* 7919 &+ 1)
        var completed = 0
        for _ in 0..<60 {
            var constraint = grammar.makeConstraint()
            guard let ids = randomWalk(&constraint, vocabulary: vocabulary, random: &random) else { continue }
            completed += 1
            let bytes = text(ids, vocabulary)
            let value = try JSONParser.parse(bytes)
            #expect(conforms(value, schema, root: schema), "\(String(decoding: bytes, as: UTF8.self))")
        }
        #expect(completed >= 40, "only \(completed) of 60 walks ended")
    }

    @Test func jsonObjectModeProducesObjects() throws {
        let grammar = try CompiledGrammar.json(schema: nil, vocabulary: vocabulary.vocabulary)
        var random = SplitMix(state: 42)
        var completed = 0
        for _ in 0..<60 {
            var constraint = grammar.makeConstraint()
            guard let ids = randomWalk(&constraint, vocabulary: vocabulary, random: &random) else { continue }
            completed += 1
            let value = try JSONParser.parse(text(ids, vocabulary))
            #expect(value.objectValue != nil)
        }
        #expect(completed >= 40)
    }

    /// The mask (trie walk, string fast path, cache) equals checking every token on its own.
    @Test func maskMatchesTokenByTokenCheck() throws {
        let schema = try JSONParser.parse(Self.schemas[1])
        let grammar = try CompiledGrammar.json(schema: schema, vocabulary: vocabulary.vocabulary)
        var random = SplitMix(state: 7)
        for _ in 0..<10 {
            var constraint = grammar.makeConstraint()
            for _ in 0..<80 where !constraint.isComplete {
                let mask = constraint.allowedTokens()
                for id in vocabulary.tokens.indices {
                    var probe = constraint
                    let advanced = probe.advance(id)
                    let fits = !vocabulary.specials.contains(id) && advanced
                    #expect(fits == mask.contains(id), "token \(id) '\(String(decoding: vocabulary.tokens[id], as: UTF8.self))'")
                }
                let allowed = (0..<mask.vocabularySize).filter { mask.contains($0) }
                if allowed.isEmpty { break }
                do { let fits = constraint.advance(allowed[random.below(allowed.count)]); #expect(fits) }
            }
        }
    }

    @Test func requiredKeysCannotBeSkippedAndClosedObjectsTakeNoOtherKey() throws {
        let schema = try JSONParser.parse(Self.schemas[0])
        var constraint = try CompiledGrammar.json(schema: schema, vocabulary: vocabulary.vocabulary).makeConstraint()
        do { let fits = constraint.advance(bytes: Array(" {".utf8)); #expect(!fits, "no whitespace before the document") }
        do { let fits = constraint.advance(bytes: Array("{".utf8)); #expect(fits) }
        var probe = constraint
        do { let fits = probe.advance(bytes: Array("}".utf8)); #expect(!fits, "name and age are required") }
        probe = constraint
        do { let fits = probe.advance(bytes: Array("\"age\"".utf8)); #expect(!fits, "declared order: name comes first") }
        probe = constraint
        do { let fits = probe.advance(bytes: Array("\"other\"".utf8)); #expect(!fits) }
        do { let fits = constraint.advance(bytes: Array("\"name\": \"x\", \"age\": 0".utf8)); #expect(fits) }
        #expect(!constraint.mayEnd)
        var closed = constraint
        do { let fits = closed.advance(bytes: Array("}".utf8)); #expect(fits) }
        #expect(closed.isComplete && closed.mayEnd)
        do { let fits = closed.advance(bytes: Array(" ".utf8)); #expect(!fits, "nothing after the document") }
        do { let fits = constraint.advance(bytes: Array("1".utf8)); #expect(!fits, "no leading zeros") }
        do { let fits = constraint.advance(bytes: Array(", \"ok\": true}".utf8)); #expect(fits) }
        #expect(constraint.isComplete)
    }

    @Test func stringsRejectControlBytesAndBrokenEscapes() throws {
        let schema = try JSONParser.parse(#"{"type":"object","properties":{"s":{"type":"string"}},"required":["s"]}"#)
        let grammar = try CompiledGrammar.json(schema: schema, vocabulary: vocabulary.vocabulary)
        var constraint = grammar.makeConstraint()
        do { let fits = constraint.advance(bytes: Array("{\"s\":\"".utf8)); #expect(fits) }
        for bad in ["\n", "\\x", "\\u12G", "\u{7}"] {
            var probe = constraint
            do { let fits = probe.advance(bytes: Array(bad.utf8)); #expect(!fits, "\(bad.debugDescription) must not fit in a string") }
        }
        var probe = constraint
        do { let fits = probe.advance(bytes: [0xC3, 0x28]); #expect(!fits, "invalid UTF-8 continuation") }
        do { let fits = constraint.advance(bytes: Array("a\\u00e9\\\"中é\"}".utf8)); #expect(fits) }
        #expect(constraint.isComplete)
    }

    @Test func toolCallsFollowTheTemplateFormat() throws {
        let weather = try JSONParser.parse(
            #"{"type":"object","properties":{"city":{"type":"string"},"unit":{"enum":["c","f"]}},"required":["city","unit"]}"#)
        for parallel in [false, true] {
            let grammar = try CompiledGrammar.toolCalls(
                names: ["get_weather", "noop"], parameterSchemas: [weather, .object(JSONObject())], parallel: parallel,
                openSymbol: vocabulary.toolOpen, closeSymbol: vocabulary.toolClose, vocabulary: vocabulary.vocabulary)
            var random = SplitMix(state: parallel ? 3 : 4)
            var completed = 0
            for _ in 0..<40 {
                var constraint = grammar.makeConstraint()
                let first = constraint.allowedTokens()
                #expect((0..<first.vocabularySize).filter { first.contains($0) } == [vocabulary.toolOpen])
                guard let ids = randomWalk(&constraint, vocabulary: vocabulary, random: &random) else { continue }
                completed += 1
                // Split into blocks on the special ids and check each.
                var blocks: [[UInt8]] = []
                var index = 0
                while index < ids.count {
                    #expect(ids[index] == vocabulary.toolOpen)
                    guard let close = ids[index...].firstIndex(of: vocabulary.toolClose) else { break }
                    blocks.append(text(Array(ids[(index + 1)..<close]), vocabulary))
                    index = close + 1
                    if index < ids.count {
                        #expect(vocabulary.tokens[ids[index]] == [0x0A])
                        index += 1
                    }
                }
                #expect(!blocks.isEmpty)
                if !parallel { #expect(blocks.count == 1) }
                for block in blocks {
                    #expect(block.first == 0x0A && block.last == 0x0A)
                    let call = try JSONParser.parse(block)
                    let name = try #require(call["name"]?.stringValue)
                    let arguments = try #require(call["arguments"])
                    if name == "get_weather" {
                        #expect(conforms(arguments, weather, root: weather))
                    } else {
                        #expect(name == "noop")
                        #expect(arguments.objectValue != nil)
                    }
                }
            }
            #expect(completed >= 25)
        }
    }

    @Test func toolCallTextIsMatchedWhenTheTokenizerHasNoSpecialTokens() throws {
        let grammar = try CompiledGrammar.toolCalls(
            names: ["f"], parameterSchemas: [.object(JSONObject())], parallel: false, openSymbol: nil, closeSymbol: nil,
            vocabulary: TokenVocabulary(tokenBytes: vocabulary.tokens, specialIds: [vocabulary.eos]))
        var constraint = grammar.makeConstraint()
        do { let fits = constraint.advance(bytes: Array("<tool_call>\n{\"name\": \"f\", \"arguments\": {}}\n</tool_call>".utf8)); #expect(fits) }
        #expect(constraint.isComplete)
        var wrongName = grammar.makeConstraint()
        do { let fits = wrongName.advance(bytes: Array("<tool_call>\n{\"name\": \"g".utf8)); #expect(!fits) }
    }

    @Test func unsupportedSchemasAreErrors() {
        for text in [#"{"$ref":"http://example.com/s"}"#, #"{"type":"color"}"#, ##"{"$ref":"#/$defs/missing"}"##, "false"] {
            let schema = try? JSONParser.parse(text)
            #expect(throws: GrammarError.self) {
                _ = try CompiledGrammar.json(schema: schema, vocabulary: vocabulary.vocabulary)
            }
        }
    }

    @Test func engineMaskForbidsEverythingElseAndForcesStopWhenComplete() throws {
        let grammar = try CompiledGrammar.json(schema: nil, vocabulary: vocabulary.vocabulary)
        var constraint = grammar.makeConstraint()
        var logits = [Float](repeating: 1, count: vocabulary.tokens.count)
        let allowed = logits.withUnsafeMutableBufferPointer { constraint.mask($0, stopIds: [vocabulary.eos]) }
        for id in logits.indices {
            let opensObject = vocabulary.tokens[id].first == UInt8(ascii: "{")
            #expect(allowed.contains(id) == opensObject)
            #expect((logits[id] == 1) == opensObject)
        }
        do { let fits = constraint.advance(bytes: Array("{}".utf8)); #expect(fits) }
        logits = [Float](repeating: 1, count: vocabulary.tokens.count)
        let end = logits.withUnsafeMutableBufferPointer { constraint.mask($0, stopIds: [vocabulary.eos]) }
        #expect((0..<end.vocabularySize).filter { end.contains($0) } == [vocabulary.eos])
    }
}
