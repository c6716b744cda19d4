import JSON

/// A JSON schema compiled to a graph of value shapes that the matcher walks byte by byte. Nodes refer to each other
/// by index, so recursive schemas (`$ref` to an enclosing definition) are finite.
///
/// The supported subset (what `response_format` validation admits): `type` (incl. lists), `properties`,
/// `required`, `additionalProperties` (bool, or a schema for objects without `properties`), `items`, `enum`,
/// `const`, `anyOf`, local `$ref` / `$defs`, `minItems` / `maxItems`. Other keywords (tool schemas carry
/// `default`, `format`, `minimum`, ...) are ignored: the output is still valid JSON of the declared types.
///
/// Deliberate narrowing, so that everything generated conforms and weak models stay on track:
/// * objects with `properties` only get declared keys, in declared order (optional ones may be skipped);
/// * numbers have at most 16 digits per part; between tokens at most one space (as Python's `json.dumps` writes),
///   no newlines or indentation.
struct SchemaGraph: Sendable {
    enum Node: Sendable {
        /// One of several shapes (`anyOf`, type lists, any value).
        case union([Int])
        case object(ObjectShape)
        case array(items: Int, minItems: Int, maxItems: Int)
        case string
        case number(integerOnly: Bool)
        /// Exact JSON texts (`enum`, `const`, `true`/`false`/`null`).
        case literals([[UInt8]])
        /// The `false` schema: nothing matches.
        case nothing
    }

    struct ObjectShape: Sendable {
        /// Declared keys as they appear between the quotes (JSON-escaped), in order, with their value nodes.
        var keys: [[UInt8]]
        var values: [Int]
        var required: [Bool]
        /// No declared properties: any key, values of this node. nil = only declared keys (or `{}`).
        var freeValues: Int?
    }

    static let maxAlternatives = 128
    static let maxWhitespace = 1

    private(set) var nodes: [Node] = []
    /// Index of the any-value node and the free-form object node.
    private(set) var anyValue = 0
    private(set) var anyObject = 0

    /// The document's node (set by the owner after `add`).
    var rootNode = 0
    /// `leaves(of:)` for every node, computed once per added schema.
    private(set) var leafTable: [[Int]] = []

    /// The schema `$ref`s currently resolve against, and what they resolved to.
    private var root: JSONValue = .null
    private var references: [String: Int] = [:]

    /// A graph with only the helper nodes: any value = union of object, array, string, number, literals.
    init() {
        anyValue = append(.nothing)
        anyObject = append(.object(ObjectShape(keys: [], values: [], required: [], freeValues: anyValue)))
        let anyArray = append(.array(items: anyValue, minItems: 0, maxItems: Int.max))
        let string = append(.string)
        let number = append(.number(integerOnly: false))
        let constants = append(.literals([Array("true".utf8), Array("false".utf8), Array("null".utf8)]))
        nodes[anyValue] = .union([anyObject, anyArray, string, number, constants])
        leafTable = nodes.indices.map { leaves(of: $0) }
    }

    /// Compiles `schema` (its `$ref`s resolve against itself) and returns its node. `objectRoot`: an empty schema
    /// means "any object" (tool arguments, `json_object`).
    mutating func add(schema: JSONValue, objectRoot: Bool) throws(GrammarError) -> Int {
        root = schema
        references = [:]
        let node = objectRoot && Self.isUnconstrained(schema) ? anyObject : try compile(schema, depth: 0)
        leafTable = nodes.indices.map { leaves(of: $0) }
        guard !leafTable[node].isEmpty else { throw GrammarError("the schema matches nothing") }
        return node
    }

    static func isUnconstrained(_ schema: JSONValue) -> Bool {
        switch schema {
        case .bool(true): return true
        case .object(let object):
            return object["type"] == nil && object["properties"] == nil && object["anyOf"] == nil
                && object["enum"] == nil && object["const"] == nil && object["$ref"] == nil
        default: return false
        }
    }

    private mutating func append(_ node: Node) -> Int {
        nodes.append(node)
        return nodes.count - 1
    }

    private mutating func compile(_ schema: JSONValue, depth: Int) throws(GrammarError) -> Int {
        guard depth < 64 else { throw GrammarError("the schema nests deeper than 64 levels") }
        guard nodes.count < 100_000 else { throw GrammarError("the schema is too large") }
        switch schema {
        case .bool(true): return anyValue
        case .bool(false): return append(.nothing)
        case .object(let object):
            if case .string(let reference)? = object["$ref"] { return try resolve(reference, depth: depth) }
            if case .array(let options)? = object["anyOf"] {
                var alternatives: [Int] = []
                for option in options { alternatives.append(try compile(option, depth: depth + 1)) }
                return append(.union(alternatives))
            }
            if let value = object["const"] { return append(.literals([Array(value.compactJSON().utf8)])) }
            if case .array(let values)? = object["enum"] {
                guard values.count <= Self.maxAlternatives else {
                    throw GrammarError("enum has more than \(Self.maxAlternatives) values")
                }
                return append(.literals(values.map { Array($0.compactJSON().utf8) }))
            }
            switch object["type"] {
            case .string(let name)?: return try typed(name, object, depth: depth)
            case .array(let names)?:
                var alternatives: [Int] = []
                for name in names {
                    guard case .string(let text) = name else { throw GrammarError("type lists must hold type names") }
                    alternatives.append(try typed(text, object, depth: depth))
                }
                return append(.union(alternatives))
            case nil:
                if object["properties"] != nil || object["additionalProperties"] != nil {
                    return try typed("object", object, depth: depth)
                }
                if object["items"] != nil { return try typed("array", object, depth: depth) }
                return anyValue
            default: throw GrammarError("type must be a name or a list of names")
            }
        default: throw GrammarError("a schema must be an object or a boolean")
        }
    }

    private mutating func typed(_ name: String, _ object: JSONObject, depth: Int) throws(GrammarError) -> Int {
        switch name {
        case "string": return append(.string)
        case "number": return append(.number(integerOnly: false))
        case "integer": return append(.number(integerOnly: true))
        case "boolean": return append(.literals([Array("true".utf8), Array("false".utf8)]))
        case "null": return append(.literals([Array("null".utf8)]))
        case "array":
            var items = anyValue
            if let schema = object["items"] { items = try compile(schema, depth: depth + 1) }
            let minItems = max(0, object["minItems"]?.intValue ?? 0)
            let maxItems = max(minItems, object["maxItems"]?.intValue ?? Int.max)
            return append(.array(items: items, minItems: minItems, maxItems: maxItems))
        case "object":
            let index = append(.nothing)  // placeholder: properties may refer back to this node
            var shape = ObjectShape(keys: [], values: [], required: [], freeValues: nil)
            let requiredNames = Set(object["required"]?.arrayValue?.compactMap(\.stringValue) ?? [])
            if case .object(let properties)? = object["properties"], !properties.isEmpty {
                guard properties.count <= Self.maxAlternatives else {
                    throw GrammarError("an object declares more than \(Self.maxAlternatives) properties")
                }
                for member in properties {
                    // The key as the model writes it between quotes: JSON-escaped.
                    let quoted = Array(JSONValue.string(member.key).compactJSON().utf8)
                    shape.keys.append(Array(quoted.dropFirst().dropLast()))
                    shape.values.append(try compile(member.value, depth: depth + 1))
                    shape.required.append(requiredNames.contains(member.key))
                }
            } else {
                switch object["additionalProperties"] {
                case .bool(false)?: break  // only {}
                case nil, .bool(true)?: shape.freeValues = anyValue
                case let schema?: shape.freeValues = try compile(schema, depth: depth + 1)
                }
            }
            nodes[index] = .object(shape)
            return index
        default: throw GrammarError("unknown type '\(name)'")
        }
    }

    /// Local references only (`#`, `#/$defs/Name`, any JSON pointer into the root schema).
    private mutating func resolve(_ reference: String, depth: Int) throws(GrammarError) -> Int {
        if let known = references[reference] { return known }
        guard reference.hasPrefix("#") else { throw GrammarError("only local $ref is supported, got '\(reference)'") }
        var target = root
        let pointer = reference.dropFirst()
        if !pointer.isEmpty {
            guard pointer.hasPrefix("/") else { throw GrammarError("invalid $ref '\(reference)'") }
            for rawToken in pointer.dropFirst().split(separator: "/", omittingEmptySubsequences: false) {
                let token = String(rawToken).replacing("~1", with: "/").replacing("~0", with: "~")
                guard let next = target[token] else { throw GrammarError("$ref '\(reference)' does not resolve") }
                target = next
            }
        }
        // A union of one, filled in after compiling, so a reference to an enclosing schema ends the recursion.
        let index = append(.union([]))
        references[reference] = index
        nodes[index] = .union([try compile(target, depth: depth + 1)])
        return index
    }

    /// The non-union shapes a value of `node` may take (unions flattened, duplicates removed).
    func leaves(of node: Int) -> [Int] {
        var result: [Int] = []
        var seen: Set<Int> = []
        func walk(_ index: Int, _ depth: Int) {
            guard depth < 64, seen.insert(index).inserted else { return }
            switch nodes[index] {
            case .union(let options): for option in options { walk(option, depth + 1) }
            case .nothing: break
            default:
                result.append(index)
            }
        }
        walk(node, 0)
        return result
    }
}
