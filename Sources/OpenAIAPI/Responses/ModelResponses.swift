import JSON

/// The served model as `/v1/models` lists it (§8; Anthropic fields of `agent-protocols.md` §1.5).
public struct ModelCard: Sendable, Equatable {
    /// The first `--served-model-name`.
    public var id: String
    /// The model directory's name (`vllm bench serve` reads `data[0].root`).
    public var root: String
    public var created: Int
    public var maxModelLength: Int
    /// Also accepted in `model` fields, never listed.
    public var aliases: [String]
    /// Further `--served-model-name` values: accepted and listed after `id`.
    public var additionalIDs: [String]
    /// How the weights are stored ("Q8_0", "BF16") and what the linears compute with ("int8", "bf16", "f32").
    public var weightFormat: String?
    public var computeDType: String?

    public init(
        id: String, root: String, created: Int, maxModelLength: Int, aliases: [String] = [], additionalIDs: [String] = [],
        weightFormat: String? = nil, computeDType: String? = nil
    ) {
        self.weightFormat = weightFormat
        self.computeDType = computeDType
        self.id = id
        self.root = root
        self.created = created
        self.maxModelLength = maxModelLength
        self.aliases = aliases
        self.additionalIDs = additionalIDs
    }

    /// Every listed id, `id` first.
    public var servedIDs: [String] { [id] + additionalIDs.filter { $0 != id } }

    public func matches(_ name: String) -> Bool { servedIDs.contains(name) || aliases.contains(name) }

    func jsonValue(id listedID: String) -> JSONValue {
        var object = JSONObject()
        object["id"] = .string(listedID)
        object["object"] = "model"
        object["created"] = .int(created)
        object["owned_by"] = "lingserve"
        object["root"] = .string(root)
        object["parent"] = .null
        object["max_model_len"] = .int(maxModelLength)
        // Anthropic `ModelInfo` fields, so both SDKs can read the list.
        object["type"] = "model"
        object["display_name"] = .string(listedID)
        object["created_at"] = .string(Self.rfc3339(created))
        object["max_input_tokens"] = .int(maxModelLength)
        if let weightFormat { object["weight_format"] = .string(weightFormat) }
        if let computeDType { object["compute_dtype"] = .string(computeDType) }
        return .object(object)
    }

    /// The entry for one served name (`/v1/models/{id}`); the first id when `name` is an unlisted alias.
    public func encoded(for name: String) -> [UInt8] {
        Array(jsonValue(id: servedIDs.contains(name) ? name : id).compactJSON().utf8)
    }

    public var encoded: [UInt8] { encoded(for: id) }

    public var listEncoded: [UInt8] {
        let ids = servedIDs
        let list: JSONValue = [
            "object": "list", "data": .array(ids.map { jsonValue(id: $0) }), "has_more": false,
            "first_id": .string(ids[0]), "last_id": .string(ids[ids.count - 1]),
        ]
        return Array(list.compactJSON().utf8)
    }

    /// `YYYY-MM-DDTHH:MM:SSZ` for seconds since the epoch (proleptic Gregorian, days-from-civil inverted).
    static func rfc3339(_ seconds: Int) -> String {
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let secondOfDay = seconds - days * 86_400
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        func two(_ value: Int) -> String { value < 10 ? "0\(value)" : String(value) }
        let yearText = String(year)
        return String(repeating: "0", count: max(0, 4 - yearText.count)) + yearText + "-\(two(month))-\(two(day))T"
            + "\(two(secondOfDay / 3600)):\(two(secondOfDay / 60 % 60)):\(two(secondOfDay % 60))Z"
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
