import JSON

/// The served model as `/v1/models` lists it (§8).
public struct ModelCard: Sendable, Equatable {
    /// `--served-model-name`.
    public var id: String
    /// The model directory's name (`vllm bench serve` reads `data[0].root`).
    public var root: String
    public var created: Int
    public var maxModelLength: Int
    /// Also accepted in `model` fields, never listed.
    public var aliases: [String]

    public init(id: String, root: String, created: Int, maxModelLength: Int, aliases: [String] = []) {
        self.id = id
        self.root = root
        self.created = created
        self.maxModelLength = maxModelLength
        self.aliases = aliases
    }

    public func matches(_ name: String) -> Bool { name == id || aliases.contains(name) }

    var jsonValue: JSONValue {
        var object = JSONObject()
        object["id"] = .string(id)
        object["object"] = "model"
        object["created"] = .int(created)
        object["owned_by"] = "lingserve"
        object["root"] = .string(root)
        object["parent"] = .null
        object["max_model_len"] = .int(maxModelLength)
        return .object(object)
    }

    public var encoded: [UInt8] { Array(jsonValue.compactJSON().utf8) }

    public var listEncoded: [UInt8] {
        let list: JSONValue = ["object": "list", "data": .array([jsonValue])]
        return Array(list.compactJSON().utf8)
    }
}

public enum TokenizerResponses {
    /// `{"count", "max_model_len", "tokens", "token_strs"}`.
    public static func tokenize(tokens: [Int], maxModelLength: Int, tokenStrings: [String]?) -> [UInt8] {
        var object = JSONObject()
        object["count"] = .int(tokens.count)
        object["max_model_len"] = .int(maxModelLength)
        object["tokens"] = .array(tokens.map(JSONValue.int))
        object["token_strs"] = tokenStrings.map { .array($0.map(JSONValue.string)) } ?? .null
        return Array(JSONValue.object(object).compactJSON().utf8)
    }

    public static func detokenize(text: String) -> [UInt8] {
        Array(JSONValue.object(JSONObject([("prompt", .string(text))])).compactJSON().utf8)
    }
}

extension APIErrorBody {
    /// The body as compact JSON, all four keys present.
    public var encoded: [UInt8] {
        var detail = JSONObject()
        detail["message"] = .string(error.message)
        detail["type"] = .string(error.type)
        detail["param"] = error.param.map(JSONValue.string) ?? .null
        detail["code"] = error.code.map(JSONValue.string) ?? .null
        return Array(JSONValue.object(JSONObject([("error", .object(detail))])).compactJSON().utf8)
    }
}
