import Foundation

/// A JSON value from `JSONSerialization` with the path it was read from, so errors name the field at fault.
struct JSONNode {
    let value: Any
    let path: String

    static func parse(_ data: Data, file: String) throws -> JSONNode {
        do {
            let value = try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
            return JSONNode(value: value, path: file)
        } catch {
            throw TokenizerError("\(file): not valid JSON (\(error.localizedDescription))")
        }
    }

    var isNull: Bool { value is NSNull }

    /// The member `key`, or nil when absent or null.
    subscript(_ key: String) -> JSONNode? {
        guard let object = value as? [String: Any], let member = object[key], !(member is NSNull) else { return nil }
        return JSONNode(value: member, path: "\(path).\(key)")
    }

    func required(_ key: String) throws -> JSONNode {
        guard value is [String: Any] else { throw TokenizerError("\(path): expected an object") }
        guard let member = self[key] else { throw TokenizerError("\(path).\(key): missing") }
        return member
    }

    func object() throws -> [String: JSONNode] {
        guard let object = value as? [String: Any] else { throw TokenizerError("\(path): expected an object") }
        var result: [String: JSONNode] = [:]
        for (key, member) in object { result[key] = JSONNode(value: member, path: "\(path).\(key)") }
        return result
    }

    func array() throws -> [JSONNode] {
        guard let array = value as? [Any] else { throw TokenizerError("\(path): expected an array") }
        return array.enumerated().map { JSONNode(value: $1, path: "\(path)[\($0)]") }
    }

    func string() throws -> String {
        guard let string = value as? String else { throw TokenizerError("\(path): expected a string") }
        return string
    }

    func int() throws -> Int {
        // NOTE: corelibs Foundation bridges the NSNumber 0 and 1 to Bool too, so `is Bool` cannot reject booleans.
        if let int = value as? Int { return int }
        if let number = value as? NSNumber, let int = Int(exactly: number.doubleValue) { return int }
        throw TokenizerError("\(path): expected an integer")
    }

    func bool() throws -> Bool {
        if let bool = value as? Bool { return bool }
        throw TokenizerError("\(path): expected true or false")
    }

    func string(_ key: String, default fallback: String) throws -> String { try self[key]?.string() ?? fallback }
    func bool(_ key: String, default fallback: Bool) throws -> Bool { try self[key]?.bool() ?? fallback }
    func int(_ key: String, default fallback: Int) throws -> Int { try self[key]?.int() ?? fallback }
}
