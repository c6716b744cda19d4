/// Python methods templates call on strings and dicts (`content.split('</think>')`, `message.get('x')`,
/// `tool.items()`). Mutating methods (`append`, `update`, `pop`, ...) are absent, as in jinja2's immutable sandbox:
/// looking them up gives an undefined value that fails when called.
extension Interpreter {
    func stringMethod(_ text: String, _ name: String) -> Callable? {
        func method(_ body: @escaping (CallArguments) throws(TemplateError) -> Value) -> Callable {
            Callable(name: "str.\(name)") { arguments, _ throws(TemplateError) in try body(arguments) }
        }
        func optionalString(_ arguments: CallArguments, _ position: Int, _ key: String) throws(TemplateError) -> String? {
            switch arguments.value(position, key) {
            case nil, .none?: return nil
            case .string(let value)?: return value
            case let other?: throw TemplateError("str.\(name)() argument must be str or None, not \(other.pythonTypeName)")
            }
        }
        func requiredString(_ arguments: CallArguments, _ position: Int, _ key: String) throws(TemplateError) -> String {
            guard case .string(let value)? = arguments.value(position, key) else {
                throw TemplateError("str.\(name)() argument '\(key)' must be a str")
            }
            return value
        }
        func integer(_ arguments: CallArguments, _ position: Int, _ key: String, _ fallback: Int) throws(TemplateError) -> Int {
            guard let value = arguments.value(position, key) else { return fallback }
            guard let integer = value.integerValue else { throw TemplateError("str.\(name)() argument '\(key)' must be an int") }
            return integer
        }
        switch name {
        case "startswith", "endswith":
            return method { arguments throws(TemplateError) in
                guard let affix = arguments.value(0, "prefix") else { throw TemplateError("str.\(name)() takes at least 1 argument") }
                var candidates: [String] = []
                switch affix {
                case .string(let value): candidates = [value]
                case .tuple(let items), .list(let items):
                    for item in items {
                        guard case .string(let value) = item else { throw TemplateError("str.\(name)() tuple must hold str") }
                        candidates.append(value)
                    }
                default: throw TemplateError("\(name) first arg must be str or a tuple of str, not \(affix.pythonTypeName)")
                }
                let scalars = Array(text.unicodeScalars)
                let count = scalars.count
                func clamp(_ value: Int) -> Int { value < 0 ? max(0, count + value) : min(value, count) }
                let start = clamp(try integer(arguments, 1, "start", 0))
                let end = clamp(try integer(arguments, 2, "end", count))
                guard start <= end else { return .bool(false) }
                let window = scalars[start..<end]
                return .bool(candidates.contains { candidate in
                    let affixScalars = Array(candidate.unicodeScalars)
                    return name == "startswith" ? window.starts(with: affixScalars) : window.reversed().starts(with: affixScalars.reversed())
                })
            }
        case "split", "rsplit":
            return method { arguments throws(TemplateError) in
                let separator = try optionalString(arguments, 0, "sep")
                let maxSplit = try integer(arguments, 1, "maxsplit", -1)
                let parts = name == "split"
                    ? try PyString.split(text, separator: separator, maxSplit: maxSplit)
                    : try PyString.rsplit(text, separator: separator, maxSplit: maxSplit)
                return .list(parts.map(Value.string))
            }
        case "strip", "lstrip", "rstrip":
            return method { arguments throws(TemplateError) in
                let characters = try optionalString(arguments, 0, "chars")
                return .string(PyString.strip(text, characters: characters, leading: name != "rstrip", trailing: name != "lstrip"))
            }
        case "upper": return method { _ in .string(text.uppercased()) }
        case "lower": return method { _ in .string(text.lowercased()) }
        case "title": return method { _ in .string(PyString.title(text)) }
        case "capitalize": return method { _ in .string(PyString.capitalize(text)) }
        case "replace":
            return method { arguments throws(TemplateError) in
                let old = try requiredString(arguments, 0, "old")
                let new = try requiredString(arguments, 1, "new")
                return .string(PyString.replace(text, old, new, count: try integer(arguments, 2, "count", -1)))
            }
        case "count":
            return method { arguments throws(TemplateError) in .int(PyString.count(text, try requiredString(arguments, 0, "sub"))) }
        case "find", "rfind", "index", "rindex":
            return method { arguments throws(TemplateError) in
                let needle = Array(try requiredString(arguments, 0, "sub").unicodeScalars)
                let scalars = Array(text.unicodeScalars)
                let found = name.hasPrefix("r")
                    ? PyString.rfind(scalars, needle, before: scalars.count) : PyString.find(scalars, needle, from: 0)
                if found == nil && name.hasSuffix("index") { throw TemplateError("substring not found") }
                return .int(found ?? -1)
            }
        case "join":
            return method { arguments throws(TemplateError) in
                guard let iterable = arguments.value(0, "iterable") else { throw TemplateError("str.join() takes exactly one argument") }
                var parts: [String] = []
                for item in try self.iterate(iterable) {
                    guard case .string(let part) = item else {
                        throw TemplateError("sequence item \(parts.count): expected str instance, \(item.pythonTypeName) found")
                    }
                    parts.append(part)
                }
                return .string(parts.joined(separator: text))
            }
        case "splitlines": return method { _ in .list(PyString.splitLines(text).map(Value.string)) }
        case "isdigit", "isnumeric", "isdecimal":
            return method { _ in .bool(!text.isEmpty && text.unicodeScalars.allSatisfy { $0.properties.numericType != nil }) }
        case "isalpha": return method { _ in .bool(!text.isEmpty && text.unicodeScalars.allSatisfy { $0.properties.isAlphabetic }) }
        case "isspace": return method { _ in .bool(!text.isEmpty && text.unicodeScalars.allSatisfy(PyString.isWhitespace)) }
        case "islower": return method { _ in .bool(text.contains { $0.isLetter } && text == text.lowercased()) }
        case "isupper": return method { _ in .bool(text.contains { $0.isLetter } && text == text.uppercased()) }
        case "format":
            return method { arguments throws(TemplateError) in .string(try PyFormat.format(text, arguments)) }
        default:
            return nil
        }
    }

    func dictMethod(_ dict: Dict, _ name: String) -> Callable? {
        switch name {
        case "items":
            return Callable(name: "dict.items") { _, _ in .list(dict.items.map { .tuple([.string($0.0), $0.1]) }) }
        case "keys":
            return Callable(name: "dict.keys") { _, _ in .list(dict.keys.map(Value.string)) }
        case "values":
            return Callable(name: "dict.values") { _, _ in .list(dict.values) }
        case "get":
            return Callable(name: "dict.get") { arguments, _ throws(TemplateError) in
                guard let key = arguments.value(0, "key") else { throw TemplateError("get expected at least 1 argument, got 0") }
                let fallback = arguments.value(1, "default") ?? .none
                guard case .string(let name) = key else { return fallback }
                return dict[name] ?? fallback
            }
        case "copy":
            return Callable(name: "dict.copy") { _, _ in .dict(dict) }
        default:
            return nil
        }
    }
}

/// `str.format` with `{}`, `{0}`, `{name}` and `{{`/`}}`; format specs are not supported (an error says so).
enum PyFormat {
    static func format(_ text: String, _ arguments: CallArguments) throws(TemplateError) -> String {
        var output = ""
        var automatic = 0
        var iterator = Array(text.unicodeScalars).makeIterator()
        while let scalar = iterator.next() {
            if scalar == "}" {
                guard iterator.next() == "}" else { throw TemplateError("Single '}' encountered in format string") }
                output += "}"
                continue
            }
            guard scalar == "{" else {
                output.unicodeScalars.append(scalar)
                continue
            }
            var field = ""
            var closed = false
            while let next = iterator.next() {
                if next == "{" && field.isEmpty {
                    output += "{"
                    closed = true
                    field = "{"
                    break
                }
                if next == "}" {
                    closed = true
                    break
                }
                field.unicodeScalars.append(next)
            }
            guard closed else { throw TemplateError("Single '{' encountered in format string") }
            if field == "{" { continue }
            if field.contains(":") || field.contains("!") { throw TemplateError("format specs are not supported in str.format") }
            let value: Value?
            if field.isEmpty {
                value = automatic < arguments.positional.count ? arguments.positional[automatic] : nil
                automatic += 1
            } else if let position = Int(field) {
                value = position < arguments.positional.count ? arguments.positional[position] : nil
            } else {
                value = arguments.keyword.first { $0.name == field }?.value
            }
            guard let value else { throw TemplateError("format field '{\(field)}' has no matching argument") }
            output += value.str
        }
        return output
    }
}
