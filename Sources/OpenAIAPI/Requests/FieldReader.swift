import JSON

/// Typed access to the members of one request object, with errors that name the member by its JSON path
/// (`messages[2].role`). `null` and a missing key both read as "not given" (nil).
public struct FieldReader: Sendable {
    public let object: JSONObject
    /// Path of this object, "" for the top level.
    public let path: String

    public init(_ object: JSONObject, path: String = "") {
        self.object = object
        self.path = path
    }

    /// Reads `value` as an object, or throws `invalid_type` naming `path`.
    public init(_ value: JSONValue, path: String) throws(APIError) {
        guard case .object(let object) = value else { throw .invalidType(param: path, expected: "an object") }
        self.init(object, path: path)
    }

    public func path(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    /// The raw value, nil for missing or null.
    public func value(_ key: String) -> JSONValue? {
        guard let value = object[key], value != .null else { return nil }
        return value
    }

    public func has(_ key: String) -> Bool { value(key) != nil }

    public func string(_ key: String) throws(APIError) -> String? {
        guard let value = value(key) else { return nil }
        guard case .string(let text) = value else { throw .invalidType(param: path(key), expected: "a string") }
        return text
    }

    public func requiredString(_ key: String) throws(APIError) -> String {
        guard let text = try string(key) else { throw .missing(param: path(key)) }
        return text
    }

    public func bool(_ key: String) throws(APIError) -> Bool? {
        guard let value = value(key) else { return nil }
        guard case .bool(let flag) = value else { throw .invalidType(param: path(key), expected: "a boolean") }
        return flag
    }

    /// An integer; integral floats such as `5.0` are accepted as Python clients sometimes send them.
    public func int64(_ key: String) throws(APIError) -> Int64? {
        guard let value = value(key) else { return nil }
        return try Self.int64(value, param: path(key))
    }

    public func int(_ key: String) throws(APIError) -> Int? {
        guard let value = try int64(key) else { return nil }
        guard let result = Int(exactly: value) else {
            throw .invalidValue(param: path(key), "\(path(key)) is out of range")
        }
        return result
    }

    /// An integer in `range`, checked before any arithmetic sees it: values outside it (also those beyond 64 bits,
    /// ±1e400 or a fraction where an integer is expected) are a 400 naming the field, never a trap downstream. The
    /// one place every endpoint's integer fields go through (chat, completions, responses, messages).
    public func int(_ key: String, in range: ClosedRange<Int>) throws(APIError) -> Int? {
        guard let value = value(key) else { return nil }
        return try Self.int(value, param: path(key), in: range)
    }

    static func int(_ value: JSONValue, param: String, in range: ClosedRange<Int>) throws(APIError) -> Int {
        let outOfRange = { (shown: String) -> APIError in
            .invalidValue(param: param, "\(param) must be between \(range.lowerBound) and \(range.upperBound), got \(shown)")
        }
        switch value {
        case .number(.int(let integer)):
            guard let result = Int(exactly: integer), range.contains(result) else { throw outOfRange(String(integer)) }
            return result
        case .number(.bigInt(let text)):
            throw outOfRange(text.count > 40 ? String(text.prefix(40)) + "..." : text)
        case .number(.double(let double)):
            guard double.isFinite else { throw outOfRange(double < 0 ? "-infinity" : "infinity") }
            guard double.rounded() == double else { throw .invalidType(param: param, expected: "an integer") }
            // Compared as doubles first: Int(double) itself traps beyond the 64-bit range.
            guard double >= Double(range.lowerBound) && double <= Double(range.upperBound),
                let result = Int(exactly: double), range.contains(result)
            else { throw outOfRange(format(double)) }
            return result
        default: throw .invalidType(param: param, expected: "an integer")
        }
    }

    public func double(_ key: String) throws(APIError) -> Double? {
        guard let value = value(key) else { return nil }
        guard case .number(let number) = value else { throw .invalidType(param: path(key), expected: "a number") }
        let result = number.doubleValue
        guard result.isFinite else { throw .invalidValue(param: path(key), "\(path(key)) must be finite") }
        return result
    }

    public func array(_ key: String) throws(APIError) -> [JSONValue]? {
        guard let value = value(key) else { return nil }
        guard case .array(let elements) = value else { throw .invalidType(param: path(key), expected: "an array") }
        return elements
    }

    public func object(_ key: String) throws(APIError) -> FieldReader? {
        guard let value = value(key) else { return nil }
        return try FieldReader(value, path: path(key))
    }

    /// A number in a closed or half-open range, with the contract's message ("must be between 0 and 2, got 3.5").
    public func double(
        _ key: String, in range: ClosedRange<Double>, lowerExclusive: Bool = false
    ) throws(APIError) -> Double? {
        guard let result = try double(key) else { return nil }
        let tooLow = lowerExclusive ? result <= range.lowerBound : result < range.lowerBound
        if tooLow || result > range.upperBound {
            let low = lowerExclusive ? "greater than \(Self.format(range.lowerBound))" : "between \(Self.format(range.lowerBound))"
            let message = lowerExclusive
                ? "\(path(key)) must be \(low) and at most \(Self.format(range.upperBound)), got \(Self.format(result))"
                : "\(path(key)) must be \(low) and \(Self.format(range.upperBound)), got \(Self.format(result))"
            throw .invalidValue(param: path(key), message)
        }
        return result
    }

    static func int64(_ value: JSONValue, param: String) throws(APIError) -> Int64 {
        switch value {
        case .number(.int(let integer)): return integer
        case .number(.double(let double)) where double.rounded() == double && abs(double) < 9.2e18:
            return Int64(double)
        case .number(.bigInt): throw .invalidValue(param: param, "\(param) does not fit in a 64-bit integer")
        default: throw .invalidType(param: param, expected: "an integer")
        }
    }

    static func format(_ value: Double) -> String {
        if value.rounded() == value && abs(value) < 1e15 { return String(Int64(value)) }
        return String(value)
    }
}
