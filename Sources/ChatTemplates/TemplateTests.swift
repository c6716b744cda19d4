/// jinja2's builtin tests (`x is string`, `x is divisibleby 3`, ...).
extension Interpreter {
    func applyTest(_ name: String, to value: Value, _ arguments: CallArguments) throws(TemplateError) -> Bool {
        func other() throws(TemplateError) -> Value {
            guard let argument = arguments.value(0, "other") else { throw TemplateError("test '\(name)' needs an argument") }
            return argument
        }
        switch name {
        case "defined": return !value.isUndefined
        case "undefined": return value.isUndefined
        case "none": if case .none = value { return true } else { return false }
        case "string": if case .string = value { return true } else { return false }
        case "number":
            switch value {
            case .int, .float, .bool, .bigInt: return true
            default: return false
            }
        case "integer":
            switch value {
            case .int, .bigInt: return true
            default: return false
            }
        case "float": if case .float = value { return true } else { return false }
        case "boolean": if case .bool = value { return true } else { return false }
        case "true": if case .bool(true) = value { return true } else { return false }
        case "false": if case .bool(false) = value { return true } else { return false }
        case "mapping": if case .dict = value { return true } else { return false }
        case "iterable":
            switch value {
            case .list, .tuple, .dict, .string, .undefined, .namespace: return true
            default: return false
            }
        case "sequence":
            switch value {
            case .list, .tuple, .dict, .string, .undefined: return true
            default: return false
            }
        case "callable": if case .callable = value { return true } else { return false }
        case "odd", "even":
            guard let integer = value.integerValue else { throw TemplateError("test '\(name)' needs an integer, got \(value.pythonTypeName)") }
            return (integer & 1 == 1) == (name == "odd")
        case "divisibleby":
            guard let integer = value.integerValue, let divisor = try other().integerValue else {
                throw TemplateError("test 'divisibleby' needs integers")
            }
            guard divisor != 0 else { throw TemplateError("integer division or modulo by zero") }
            return integer % divisor == 0
        case "eq", "equalto", "==": return value.pythonEquals(try other())
        case "ne", "!=": return !value.pythonEquals(try other())
        case "lt", "lessthan", "<": return try value.pythonLess(try other())
        case "gt", "greaterthan", ">": return try other().pythonLess(value)
        case "le", "<=": let o = try other(); return try value.pythonLess(o) || value.pythonEquals(o)
        case "ge", ">=": let o = try other(); return try o.pythonLess(value) || value.pythonEquals(o)
        case "in":
            guard let container = arguments.value(0, "seq") else { throw TemplateError("test 'in' needs a container") }
            return try contains(container, value)
        case "sameas":
            let o = try other()
            switch (value, o) {
            case (.none, .none), (.undefined, .undefined): return true
            case (.bool(let a), .bool(let b)): return a == b
            case (.namespace(let a), .namespace(let b)): return a === b
            default: return false
            }
        case "lower": if case .string(let text) = value { return text == text.lowercased() } else { return false }
        case "upper": if case .string(let text) = value { return text == text.uppercased() } else { return false }
        case "escaped": return false
        default: throw TemplateError("no test named '\(name)'")
        }
    }
}
