import JSON

/// A runtime value, modelled on the Python objects jinja2 handles (str, int, float, bool, None, list, tuple, dict,
/// Undefined, namespace, callables), so that printing, truthiness, equality and `tojson` behave as in Python.
enum Value {
    case undefined(Undefined)
    case none
    case bool(Bool)
    case int(Int)
    case float(Double)
    /// An integer beyond 64 bits from JSON input, kept as its decimal text (printed and dumped exactly).
    case bigInt(String)
    case string(String)
    case list([Value])
    case tuple([Value])
    case dict(Dict)
    case namespace(Namespace)
    case callable(Callable)
    case loop(LoopState)

    static var emptyString: Value { .string("") }
}

/// jinja2's default `Undefined`: prints as "", is falsy and iterates as empty; other uses raise the error it
/// describes (`'x' is undefined`, `'dict object' has no attribute 'y'`).
struct Undefined {
    let hint: String

    static func name(_ name: String) -> Undefined { Undefined(hint: "'\(name)' is undefined") }
    static func attribute(_ name: String, of value: Value) -> Undefined {
        Undefined(hint: "'\(value.pythonTypeName) object' has no attribute '\(name)'")
    }
    static func item(_ key: Value, of value: Value) -> Undefined {
        Undefined(hint: "'\(value.pythonTypeName) object' has no item \(key.repr)")
    }

    var error: TemplateError { TemplateError(hint) }
}

/// An insertion-ordered dict with string keys (what JSON objects and template dict literals produce).
struct Dict {
    private(set) var keys: [String] = []
    private var storage: [String: Value] = [:]

    init() {}

    var count: Int { keys.count }
    var isEmpty: Bool { keys.isEmpty }
    var values: [Value] { keys.map { storage[$0] ?? .none } }
    var items: [(String, Value)] { keys.map { ($0, storage[$0] ?? .none) } }

    subscript(key: String) -> Value? {
        get { storage[key] }
        set {
            if let newValue {
                if storage.updateValue(newValue, forKey: key) == nil { keys.append(key) }
            } else if storage.removeValue(forKey: key) != nil {
                keys.removeAll { $0 == key }
            }
        }
    }
}

/// `namespace(...)`: the one mutable object templates may assign attributes to (`set ns.x = ...`), shared by reference.
final class Namespace {
    var attributes: Dict
    init(_ attributes: Dict) { self.attributes = attributes }
}

/// A builtin function, bound method or macro.
struct Callable {
    let name: String
    let body: (_ arguments: CallArguments, _ interpreter: Interpreter) throws(TemplateError) -> Value
}

struct CallArguments {
    var positional: [Value] = []
    var keyword: [(name: String, value: Value)] = []

    /// The argument at `position`, or the keyword argument `name`, or nil.
    func value(_ position: Int, _ name: String) -> Value? {
        if position < positional.count { return positional[position] }
        return keyword.first { $0.name == name }?.value
    }
}

/// The `loop` variable of a `for` block.
struct LoopState {
    let items: [Value]
    let index0: Int
}

extension Value {
    // MARK: conversion from and to JSON

    init(_ json: JSONValue) {
        switch json {
        case .null: self = .none
        case .bool(let flag): self = .bool(flag)
        case .number(.int(let value)): self = Int(exactly: value).map(Value.int) ?? .bigInt(String(value))
        case .number(.bigInt(let text)): self = .bigInt(text)
        case .number(.double(let value)): self = .float(value)
        case .string(let text): self = .string(text)
        case .array(let elements): self = .list(elements.map(Value.init))
        case .object(let object):
            var dict = Dict()
            for member in object { dict[member.key] = Value(member.value) }
            self = .dict(dict)
        }
    }

    /// The JSON form `json.dumps` would produce; values JSON cannot express are an error, as in Python.
    func toJSON() throws(TemplateError) -> JSONValue {
        switch self {
        case .none: return .null
        case .bool(let flag): return .bool(flag)
        case .int(let value): return .number(.int(Int64(value)))
        case .bigInt(let text): return .number(.bigInt(text))
        case .float(let value): return .number(.double(value))
        case .string(let text): return .string(text)
        case .list(let items), .tuple(let items):
            var elements: [JSONValue] = []
            for item in items { elements.append(try item.toJSON()) }
            return .array(elements)
        case .dict(let dict):
            var object = JSONObject()
            for (key, value) in dict.items { object[key] = try value.toJSON() }
            return .object(object)
        case .undefined, .namespace, .callable, .loop:
            throw TemplateError("Object of type \(pythonTypeName) is not JSON serializable")
        }
    }

    // MARK: Python semantics

    var pythonTypeName: String {
        switch self {
        case .undefined: return "Undefined"
        case .none: return "NoneType"
        case .bool: return "bool"
        case .int, .bigInt: return "int"
        case .float: return "float"
        case .string: return "str"
        case .list: return "list"
        case .tuple: return "tuple"
        case .dict: return "dict"
        case .namespace: return "Namespace"
        case .callable: return "function"
        case .loop: return "LoopContext"
        }
    }

    var isUndefined: Bool {
        if case .undefined = self { return true }
        return false
    }

    /// Python truthiness.
    var isTruthy: Bool {
        switch self {
        case .undefined, .none: return false
        case .bool(let flag): return flag
        case .int(let value): return value != 0
        case .bigInt: return true
        case .float(let value): return value != 0
        case .string(let text): return !text.isEmpty
        case .list(let items), .tuple(let items): return !items.isEmpty
        case .dict(let dict): return !dict.isEmpty
        case .namespace, .callable, .loop: return true
        }
    }

    /// `str(value)` as jinja2 prints it (undefined prints nothing).
    var str: String {
        switch self {
        case .undefined: return ""
        case .string(let text): return text
        default: return repr
        }
    }

    /// Python `repr(value)`.
    var repr: String {
        switch self {
        case .undefined: return ""
        case .none: return "None"
        case .bool(let flag): return flag ? "True" : "False"
        case .int(let value): return String(value)
        case .bigInt(let text): return text
        case .float(let value): return pythonFloatRepr(value)
        case .string(let text): return pythonStringRepr(text)
        case .list(let items): return "[" + items.map(\.repr).joined(separator: ", ") + "]"
        case .tuple(let items):
            return items.count == 1 ? "(" + items[0].repr + ",)" : "(" + items.map(\.repr).joined(separator: ", ") + ")"
        case .dict(let dict):
            return "{" + dict.items.map { pythonStringRepr($0.0) + ": " + $0.1.repr }.joined(separator: ", ") + "}"
        case .namespace(let namespace):
            return "<Namespace " + Value.dict(namespace.attributes).repr + ">"
        case .callable(let callable): return "<function \(callable.name)>"
        case .loop(let loop): return "<LoopContext \(loop.index0 + 1)/\(loop.items.count)>"
        }
    }

    /// Python `==`.
    func pythonEquals(_ other: Value) -> Bool {
        switch (self, other) {
        case (.undefined, .undefined), (.none, .none): return true
        case (.string(let a), .string(let b)): return a.unicodeScalars.elementsEqual(b.unicodeScalars)
        case (.list(let a), .list(let b)), (.tuple(let a), .tuple(let b)):
            return a.count == b.count && zip(a, b).allSatisfy { $0.pythonEquals($1) }
        case (.dict(let a), .dict(let b)):
            return a.count == b.count && a.items.allSatisfy { key, value in b[key].map { value.pythonEquals($0) } ?? false }
        case (.bigInt(let a), .bigInt(let b)): return a == b
        case (.namespace(let a), .namespace(let b)): return a === b
        default:
            if let a = numericValue, let b = other.numericValue { return a == b }
            return false
        }
    }

    /// Numbers (bool counts as a number in Python) as a Double, for mixed comparisons.
    var numericValue: Double? {
        switch self {
        case .bool(let flag): return flag ? 1 : 0
        case .int(let value): return Double(value)
        case .float(let value): return value
        case .bigInt(let text): return Double(text)
        default: return nil
        }
    }

    /// An exact integer for bool and int (Python's `int` subclass rule).
    var integerValue: Int? {
        switch self {
        case .bool(let flag): return flag ? 1 : 0
        case .int(let value): return value
        default: return nil
        }
    }

    /// Python ordering (`<`); mixed types are a TypeError.
    func pythonLess(_ other: Value) throws(TemplateError) -> Bool {
        switch (self, other) {
        case (.int(let a), .int(let b)): return a < b
        case (.string(let a), .string(let b)):
            return a.unicodeScalars.lexicographicallyPrecedes(b.unicodeScalars) { $0.value < $1.value }
        case (.list(let a), .list(let b)), (.tuple(let a), .tuple(let b)):
            for (x, y) in zip(a, b) where !x.pythonEquals(y) { return try x.pythonLess(y) }
            return a.count < b.count
        default:
            if let a = numericValue, let b = other.numericValue { return a < b }
            throw TemplateError("'<' not supported between instances of '\(pythonTypeName)' and '\(other.pythonTypeName)'")
        }
    }
}

/// Python `repr(str)`: single quotes unless the text has a single quote and no double quote.
func pythonStringRepr(_ text: String) -> String {
    let useDouble = text.contains("'") && !text.contains("\"")
    let quote: Character = useDouble ? "\"" : "'"
    var output = String(quote)
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\\": output += "\\\\"
        case "\n": output += "\\n"
        case "\r": output += "\\r"
        case "\t": output += "\\t"
        case "'" where !useDouble: output += "\\'"
        default:
            let value = scalar.value
            if value < 0x20 || (value >= 0x7F && value < 0xA0) {
                output += "\\x" + (value < 0x10 ? "0" : "") + String(value, radix: 16)
            } else if !isPythonPrintable(scalar) {
                let hex = String(value, radix: 16)
                output += value <= 0xFFFF
                    ? "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                    : "\\U" + String(repeating: "0", count: 8 - hex.count) + hex
            } else {
                output.unicodeScalars.append(scalar)
            }
        }
    }
    output.append(quote)
    return output
}

// str.isprintable: not in categories Cc, Cf, Cs, Co, Cn, Zl, Zp, Zs (except the ASCII space).
private func isPythonPrintable(_ scalar: Unicode.Scalar) -> Bool {
    if scalar == " " { return true }
    switch scalar.properties.generalCategory {
    case .control, .format, .surrogate, .privateUse, .unassigned, .lineSeparator, .paragraphSeparator, .spaceSeparator:
        return false
    default:
        return true
    }
}
