import Foundation
import JSON

/// A JSON value of tokenizer.json with the path it was read from, so errors name the field at fault.
struct JSONNode {
    let value: JSONValue
    let path: String

    static func parse(_ data: Data, file: String) throws -> JSONNode {
        do {
            return JSONNode(value: try JSONParser.parse([UInt8](data)), path: file)
        } catch {
            throw TokenizerError("\(file): not valid JSON (\(error.description) at byte \(error.offset))")
        }
    }

    var isNull: Bool { value == .null }

    /// The member `key`, or nil when absent or null.
    subscript(_ key: String) -> JSONNode? {
        guard case .object(let object) = value, let member = object[key], member != .null else { return nil }
        return JSONNode(value: member, path: "\(path).\(key)")
    }

    func required(_ key: String) throws -> JSONNode {
        guard case .object = value else { throw TokenizerError("\(path): expected an object") }
        guard let member = self[key] else { throw TokenizerError("\(path).\(key): missing") }
        return member
    }

    /// The members in file order.
    func members() throws -> [(key: String, node: JSONNode)] {
        guard case .object(let object) = value else { throw TokenizerError("\(path): expected an object") }
        return object.members.map { ($0.key, JSONNode(value: $0.value, path: "\(path).\($0.key)")) }
    }

    func object() throws -> [String: JSONNode] {
        var result: [String: JSONNode] = [:]
        for (key, node) in try members() { result[key] = node }
        return result
    }

    func array() throws -> [JSONNode] {
        guard case .array(let array) = value else { throw TokenizerError("\(path): expected an array") }
        return array.enumerated().map { JSONNode(value: $1, path: "\(path)[\($0)]") }
    }

    func string() throws -> String {
        guard case .string(let string) = value else { throw TokenizerError("\(path): expected a string") }
        return string
    }

    /// An integer that fits in Int; integral floats (`5.0`) are accepted as `json.loads` readers do.
    func int() throws -> Int {
        switch value {
        case .number(.int(let integer)): if let int = Int(exactly: integer) { return int }
        case .number(.double(let double)): if let int = Int(exactly: double) { return int }
        default: break
        }
        throw TokenizerError("\(path): expected an integer")
    }

    /// A token id: an integer in `0...TokenizerLoader.maxTokenId`, so it converts to UInt32 and sizes tables safely.
    func tokenId() throws -> Int {
        let id = try int()
        guard id >= 0 && id <= TokenizerLoader.maxTokenId else {
            throw TokenizerError("\(path): token id \(id) is outside 0...\(TokenizerLoader.maxTokenId)")
        }
        return id
    }

    func bool() throws -> Bool {
        guard case .bool(let bool) = value else { throw TokenizerError("\(path): expected true or false") }
        return bool
    }

    func string(_ key: String, default fallback: String) throws -> String { try self[key]?.string() ?? fallback }
    func bool(_ key: String, default fallback: Bool) throws -> Bool { try self[key]?.bool() ?? fallback }
    func int(_ key: String, default fallback: Int) throws -> Int { try self[key]?.int() ?? fallback }
}
