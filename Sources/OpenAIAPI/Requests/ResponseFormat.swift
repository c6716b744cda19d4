import JSON

/// `response_format` (§6.8). The schema is checked against the supported subset here; enforcing it is the job of
/// the constrained decoder.
public enum ResponseFormat: Sendable, Equatable {
    case text
    case jsonObject
    /// `schema` nil: any JSON object (OpenAI treats the schema as optional).
    case jsonSchema(name: String, schema: JSONObject?, strict: Bool?)

    static let schemaParam = "response_format.json_schema.schema"

    static func read(_ reader: FieldReader) throws(APIError) -> ResponseFormat {
        guard let format = try reader.object("response_format") else { return .text }
        let type = try format.requiredString("type")
        switch type {
        case "text": return .text
        case "json_object": return .jsonObject
        case "json_schema":
            guard let spec = try format.object("json_schema") else { throw .missing(param: format.path("json_schema")) }
            let name = try spec.requiredString("name")
            guard ToolDefinition.isValidName(name) else {
                throw .invalidValue(param: spec.path("name"), "\(spec.path("name")) must match ^[a-zA-Z0-9_-]{1,64}$")
            }
            _ = try spec.string("description")
            let strict = try spec.bool("strict")
            let schema = try spec.object("schema")?.object
            if let schema {
                var checker = SchemaSubsetChecker(root: schema)
                try checker.check(.object(schema), at: "#")
            }
            return .jsonSchema(name: name, schema: schema, strict: strict)
        default:
            throw .unsupportedValue(param: "response_format.type", "response_format.type must be text, json_object or "
                + "json_schema, got '\(type)'")
        }
    }
}

/// Walks a JSON schema and rejects anything outside the subset the constrained decoder supports: `type` (incl.
/// lists), `properties`, `required`, `additionalProperties` (bool), `items`, `enum`, `const`, `anyOf`, local
/// `$ref`/`$defs`, `minItems`/`maxItems`, `title`/`description`.
struct SchemaSubsetChecker {
    let root: JSONObject
    private static let typeNames: Set<String> = ["object", "array", "string", "number", "integer", "boolean", "null"]

    init(root: JSONObject) { self.root = root }

    private func fail(_ location: String, _ message: String) -> APIError {
        .unsupportedValue(param: ResponseFormat.schemaParam, "schema at \(location): \(message)")
    }

    mutating func check(_ value: JSONValue, at location: String) throws(APIError) {
        guard case .object(let schema) = value else {
            if case .bool = value { return }  // `true`/`false` schemas
            throw fail(location, "a schema must be an object")
        }
        for member in schema {
            let here = "\(location)/\(member.key)"
            switch member.key {
            case "title", "description":
                guard case .string = member.value else { throw fail(here, "must be a string") }
            case "type":
                switch member.value {
                case .string(let name):
                    guard Self.typeNames.contains(name) else { throw fail(here, "unknown type '\(name)'") }
                case .array(let names):
                    for name in names {
                        guard case .string(let text) = name, Self.typeNames.contains(text) else {
                            throw fail(here, "type lists must hold type names")
                        }
                    }
                default: throw fail(here, "must be a type name or a list of them")
                }
            case "properties", "$defs":
                guard case .object(let properties) = member.value else { throw fail(here, "must be an object") }
                for property in properties { try check(property.value, at: "\(here)/\(property.key)") }
            case "required":
                guard case .array(let names) = member.value, names.allSatisfy({ $0.stringValue != nil }) else {
                    throw fail(here, "must be an array of strings")
                }
            case "additionalProperties":
                guard case .bool = member.value else { throw fail(here, "only true or false is supported") }
            case "items": try check(member.value, at: here)
            case "anyOf":
                guard case .array(let options) = member.value, !options.isEmpty else {
                    throw fail(here, "must be a non-empty array of schemas")
                }
                for (index, option) in options.enumerated() { try check(option, at: "\(here)/\(index)") }
            case "enum":
                guard case .array(let values) = member.value, !values.isEmpty else {
                    throw fail(here, "must be a non-empty array")
                }
            case "const": break
            case "minItems", "maxItems":
                guard let count = member.value.intValue, count >= 0 else { throw fail(here, "must be an integer >= 0") }
            case "$ref":
                guard case .string(let reference) = member.value else { throw fail(here, "must be a string") }
                try checkReference(reference, at: here)
            default: throw fail(here, "keyword '\(member.key)' is not supported")
            }
        }
    }

    /// Only local references (`#`, `#/$defs/Name`, `#/properties/...`) that resolve inside the root schema.
    private func checkReference(_ reference: String, at location: String) throws(APIError) {
        guard reference.hasPrefix("#") else { throw fail(location, "only local $ref ('#/...') is supported") }
        var current: JSONValue = .object(root)
        let pointer = reference.dropFirst()
        guard !pointer.isEmpty else { return }
        guard pointer.hasPrefix("/") else { throw fail(location, "invalid $ref '\(reference)'") }
        for rawToken in pointer.dropFirst().split(separator: "/", omittingEmptySubsequences: false) {
            let token = String(rawToken).replacing("~1", with: "/").replacing("~0", with: "~")
            guard let next = current[token] else { throw fail(location, "$ref '\(reference)' does not resolve") }
            current = next
        }
    }
}
