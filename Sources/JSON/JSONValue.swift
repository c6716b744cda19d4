/// A JSON document as a value. Objects keep the order their keys arrived in (Python's `dict` does the same, and chat
/// templates render `tojson` in that order); numbers keep whether they were written as integers or floats.
public enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case number(JSONNumber)
    case string(String)
    case array([JSONValue])
    case object(JSONObject)
}

/// A JSON number as Python's `json` module sees it: text without `.`, `e` or `E` is an integer (kept exactly, as text
/// when it does not fit in 64 bits), anything else is a double.
public enum JSONNumber: Sendable, Equatable {
    case int(Int64)
    /// An integer outside the Int64 range, kept as its canonical decimal text (sign and digits, no leading zeros).
    case bigInt(String)
    case double(Double)

    /// The number as a double (big integers are rounded, as `float(int)` does in Python).
    public var doubleValue: Double {
        switch self {
        case .int(let value): return Double(value)
        case .bigInt(let text): return Double(text) ?? .nan
        case .double(let value): return value
        }
    }
}

extension JSONValue {
    public static func int(_ value: Int) -> JSONValue { .number(.int(Int64(value))) }
    public static func double(_ value: Double) -> JSONValue { .number(.double(value)) }

    /// `value["key"]`: the member of an object, or nil when this is not an object or has no such key.
    public subscript(key: String) -> JSONValue? {
        if case .object(let object) = self { return object[key] }
        return nil
    }

    /// `value[i]`: the element of an array, or nil when this is not an array or `i` is out of range.
    public subscript(index: Int) -> JSONValue? {
        if case .array(let elements) = self, elements.indices.contains(index) { return elements[index] }
        return nil
    }

    public var isNull: Bool { self == .null }

    public var stringValue: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    public var boolValue: Bool? {
        if case .bool(let value) = self { return value }
        return nil
    }

    /// The integer value; nil for floats (even integral ones such as `1.0`), big integers and non-numbers.
    public var intValue: Int? {
        if case .number(.int(let value)) = self { return Int(exactly: value) }
        return nil
    }

    /// Any number as a double.
    public var doubleValue: Double? {
        if case .number(let number) = self { return number.doubleValue }
        return nil
    }

    public var arrayValue: [JSONValue]? {
        if case .array(let elements) = self { return elements }
        return nil
    }

    public var objectValue: JSONObject? {
        if case .object(let object) = self { return object }
        return nil
    }
}

extension JSONValue: ExpressibleByNilLiteral, ExpressibleByBooleanLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByFloatLiteral, ExpressibleByStringLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral
{
    public init(nilLiteral: ()) { self = .null }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(integerLiteral value: Int64) { self = .number(.int(value)) }
    public init(floatLiteral value: Double) { self = .number(.double(value)) }
    public init(stringLiteral value: String) { self = .string(value) }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        var object = JSONObject()
        for (key, value) in elements { object[key] = value }
        self = .object(object)
    }
}
