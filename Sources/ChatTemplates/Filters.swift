import JSON

/// jinja2's builtin filters (argument names and defaults as in `jinja2/filters.py`), with `tojson` replaced by
/// transformers' version: `json.dumps(x, ensure_ascii=False, indent=indent, separators=separators, sort_keys=sort_keys)`.
extension Interpreter {
    func applyFilter(_ name: String, to value: Value, _ arguments: CallArguments) throws(TemplateError) -> Value {
        func argument(_ position: Int, _ key: String) -> Value? { arguments.value(position, key) }
        func flag(_ position: Int, _ key: String, _ fallback: Bool) -> Bool { argument(position, key)?.isTruthy ?? fallback }
        func text(_ value: Value) -> String { value.str }

        switch name {
        case "tojson":
            var options = PythonDumpsOptions(ensureASCII: flag(0, "ensure_ascii", false), sortKeys: flag(3, "sort_keys", false))
            var indent: String?
            switch argument(1, "indent") {
            case nil, .none?: indent = nil
            case .string(let text)?: indent = text
            case let other?:
                guard let width = other.integerValue else { throw TemplateError("tojson indent must be an int or str") }
                indent = String(repeating: " ", count: max(0, width))
            }
            options = PythonDumpsOptions(indent: indent, ensureASCII: options.ensureASCII, sortKeys: options.sortKeys)
            if let separators = argument(2, "separators"), !separators.pythonEquals(.none) {
                let parts = try iterate(separators)
                guard parts.count == 2, case .string(let item) = parts[0], case .string(let key) = parts[1] else {
                    throw TemplateError("tojson separators must be a (item_separator, key_separator) pair of strings")
                }
                options.itemSeparator = item
                options.keySeparator = key
            }
            return .string(try value.toJSON().pythonDumps(options))
        case "length", "count":
            return .int(try length(of: value))
        case "trim":
            var characters: String?
            if case .string(let chars)? = argument(0, "chars") { characters = chars }
            return .string(PyString.strip(text(value), characters: characters, leading: true, trailing: true))
        case "upper": return .string(text(value).uppercased())
        case "lower": return .string(text(value).lowercased())
        case "capitalize": return .string(PyString.capitalize(text(value)))
        case "title": return .string(jinjaTitle(text(value)))
        case "replace":
            guard case .string(let old)? = argument(0, "old"), let new = argument(1, "new") else {
                throw TemplateError("replace filter needs 'old' and 'new' strings")
            }
            let count = argument(2, "count").flatMap(\.integerValue) ?? -1
            return .string(PyString.replace(text(value), old, new.str, count: count))
        case "default", "d":
            let fallback = argument(0, "default_value") ?? .emptyString
            if value.isUndefined || (flag(1, "boolean", false) && !value.isTruthy) { return fallback }
            return value
        case "first":
            return try iterate(value).first ?? .undefined(Undefined(hint: "No first item, sequence was empty."))
        case "last":
            return try iterate(value).last ?? .undefined(Undefined(hint: "No last item, sequence was empty."))
        case "items":
            switch value {
            case .undefined: return .list([])
            case .dict(let dict): return .list(dict.items.map { .tuple([.string($0.0), $0.1]) })
            default: throw TemplateError("Can only get item pairs from a mapping.")
            }
        case "list": return .list(try iterate(value))
        case "string", "safe": return .string(text(value))
        case "join":
            var items = try iterate(value)
            if let attribute = argument(1, "attribute"), !attribute.pythonEquals(.none) {
                items = try items.map { item throws(TemplateError) in try lookupPath(item, attribute) }
            }
            let separator = argument(0, "d").map(text) ?? ""
            return .string(items.map(\.str).joined(separator: separator))
        case "map":
            return .list(try mapItems(try iterate(value), arguments))
        case "select", "reject", "selectattr", "rejectattr":
            return .list(try selectItems(try iterate(value), name, arguments))
        case "unique":
            var seen: [Value] = []
            var result: [Value] = []
            let caseSensitive = flag(0, "case_sensitive", false)
            for item in try iterate(value) {
                var key = item
                if let attribute = argument(1, "attribute") { key = try lookupPath(item, attribute) }
                if !caseSensitive, case .string(let text) = key { key = .string(text.lowercased()) }
                if !seen.contains(where: { $0.pythonEquals(key) }) {
                    seen.append(key)
                    result.append(item)
                }
            }
            return .list(result)
        case "sort":
            return .list(try sortItems(try iterate(value), reverse: flag(0, "reverse", false),
                caseSensitive: flag(1, "case_sensitive", false), attribute: argument(2, "attribute")))
        case "reverse":
            if case .string(let text) = value { return .string(PyString.string(text.unicodeScalars.reversed())) }
            return .list(try iterate(value).reversed())
        case "dictsort":
            guard case .dict(let dict) = value else { throw TemplateError("dictsort expects a mapping, got \(value.pythonTypeName)") }
            let caseSensitive = flag(0, "case_sensitive", false)
            let byValue: Bool
            switch argument(1, "by") {
            case nil, .string("key")?: byValue = false
            case .string("value")?: byValue = true
            default: throw TemplateError("You can only sort by either \"key\" or \"value\"")
            }
            let pairs: [Value] = dict.items.map { .tuple([.string($0.0), $0.1]) }
            var failure: TemplateError?
            let sorted = pairs.sorted { a, b in
                guard case .tuple(let x) = a, case .tuple(let y) = b else { return false }
                var left = x[byValue ? 1 : 0]
                var right = y[byValue ? 1 : 0]
                if !caseSensitive {
                    if case .string(let text) = left { left = .string(text.lowercased()) }
                    if case .string(let text) = right { right = .string(text.lowercased()) }
                }
                do throws(TemplateError) { return try left.pythonLess(right) } catch {
                    failure = error
                    return false
                }
            }
            if let failure { throw failure }
            return .list(flag(2, "reverse", false) ? sorted.reversed() : sorted)
        case "int":
            let fallback = argument(0, "default") ?? .int(0)
            switch value {
            case .int, .bigInt: return value
            case .bool(let flag): return .int(flag ? 1 : 0)
            case .float(let double):
                return double.isFinite && abs(double) < 9.2e18 ? .int(Int(double)) : fallback
            case .string(let text):
                let trimmed = PyString.strip(text, characters: nil, leading: true, trailing: true).replacingOccurrences("_", "")
                let base = argument(1, "base")?.integerValue ?? 10
                if let integer = Int(trimmed, radix: base) { return .int(integer) }
                if let double = Double(trimmed), double.isFinite, abs(double) < 9.2e18 { return .int(Int(double)) }
                return fallback
            default: return fallback
            }
        case "float":
            let fallback = argument(0, "default") ?? .float(0)
            switch value {
            case .float: return value
            case .int, .bool, .bigInt: return .float(value.numericValue ?? 0)
            case .string(let text):
                return Double(PyString.strip(text, characters: nil, leading: true, trailing: true)).map(Value.float) ?? fallback
            default: return fallback
            }
        case "abs":
            switch value {
            case .int(let integer):
                guard integer != .min else { throw TemplateError("integer overflow in abs") }
                return .int(abs(integer))
            case .bool(let flag): return .int(flag ? 1 : 0)
            case .float(let double): return .float(abs(double))
            default: throw TemplateError("bad operand type for abs(): '\(value.pythonTypeName)'")
            }
        case "round":
            let precision = argument(0, "precision")?.integerValue ?? 0
            let method = argument(1, "method")?.str ?? "common"
            guard let number = value.numericValue else { throw TemplateError("round filter expects a number") }
            let scale = pow10(precision)
            switch method {
            case "common":
                if let integer = value.integerValue, precision >= 0 { return .int(integer) }
                return .float(precision == 0 ? number.rounded(.toNearestOrEven) : (number * scale).rounded(.toNearestOrEven) / scale)
            case "ceil": return .float((number * scale).rounded(.up) / scale)
            case "floor": return .float((number * scale).rounded(.down) / scale)
            default: throw TemplateError("method must be common, ceil or floor")
            }
        case "indent":
            return .string(indent(text(value), arguments))
        case "escape", "e", "forceescape":
            return .string(htmlEscape(text(value)))
        case "wordcount":
            var count = 0
            var inWord = false
            for scalar in text(value).unicodeScalars {
                let isWord = scalar.properties.isAlphabetic || scalar.properties.numericType != nil || scalar == "_"
                if isWord && !inWord { count += 1 }
                inWord = isWord
            }
            return .int(count)
        case "batch":
            guard let size = argument(0, "linecount")?.integerValue, size > 0 else { throw TemplateError("batch needs a positive line count") }
            let fill = argument(1, "fill_with")
            var batches: [Value] = []
            var current: [Value] = []
            for item in try iterate(value) {
                current.append(item)
                if current.count == size {
                    batches.append(.list(current))
                    current = []
                }
            }
            if !current.isEmpty {
                if let fill, !fill.pythonEquals(.none) {
                    current += Array(repeating: fill, count: size - current.count)
                }
                batches.append(.list(current))
            }
            return .list(batches)
        case "sum":
            var total = argument(2, "start") ?? .int(0)
            for item in try iterate(value) {
                let term = try argument(0, "attribute").map { attribute throws(TemplateError) in try lookupPath(item, attribute) } ?? item
                total = try binary(.add, total, term)
            }
            return total
        case "min", "max":
            let items = try sortItems(try iterate(value), reverse: name == "max",
                caseSensitive: flag(0, "case_sensitive", false), attribute: argument(1, "attribute"))
            return items.first ?? .undefined(Undefined(hint: "No aggregated item, sequence was empty."))
        case "attr":
            guard case .string(let attribute)? = argument(0, "name") else { throw TemplateError("attr filter needs a name") }
            return try self.attribute(of: value, attribute)
        case "format":
            if !arguments.positional.isEmpty && !arguments.keyword.isEmpty {
                throw TemplateError("can't handle positional and keyword arguments at the same time")
            }
            var mapping = Dict()
            for keyword in arguments.keyword { mapping[keyword.name] = keyword.value }
            return .string(try PercentFormat.format(text(value), arguments.keyword.isEmpty ? .tuple(arguments.positional) : .dict(mapping)))
        case "center":
            let width = argument(0, "width")?.integerValue ?? 80
            let string = text(value)
            let count = string.unicodeScalars.count
            guard width > count else { return .string(string) }
            let left = (width - count) / 2 + ((width - count) & width & 1)
            return .string(String(repeating: " ", count: left) + string + String(repeating: " ", count: width - count - left))
        default:
            throw TemplateError("no filter named '\(name)'")
        }
    }

    func length(of value: Value) throws(TemplateError) -> Int {
        switch value {
        case .string(let text): return text.unicodeScalars.count
        case .list(let items), .tuple(let items): return items.count
        case .dict(let dict): return dict.count
        case .undefined: return 0
        default: throw TemplateError("object of type '\(value.pythonTypeName)' has no len()")
        }
    }

    /// jinja2's attribute getter for `map(attribute=...)`, `sort(attribute=...)`: dotted paths, integer parts index.
    /// With a `fallback`, an undefined step is replaced by it before the next step, as jinja2's `make_attrgetter` does.
    func lookupPath(_ item: Value, _ path: Value, fallback: Value? = nil) throws(TemplateError) -> Value {
        let parts: [Value] = path.integerValue.map { [.int($0)] }
            ?? path.str.split(separator: ".", omittingEmptySubsequences: false).map { Int($0).map(Value.int) ?? .string(String($0)) }
        var current = item
        for part in parts {
            current = try self.item(of: current, part)
            if let fallback, current.isUndefined { current = fallback }
        }
        return current
    }

    private func mapItems(_ items: [Value], _ arguments: CallArguments) throws(TemplateError) -> [Value] {
        if let attribute = arguments.keyword.first(where: { $0.name == "attribute" })?.value {
            let fallback = arguments.keyword.first { $0.name == "default" }?.value
            return try items.map { item throws(TemplateError) in try lookupPath(item, attribute, fallback: fallback) }
        }
        guard case .string(let filter)? = arguments.positional.first else {
            throw TemplateError("map filter needs a filter name or attribute=")
        }
        let rest = CallArguments(positional: Array(arguments.positional.dropFirst()), keyword: arguments.keyword)
        return try items.map { item throws(TemplateError) in try applyFilter(filter, to: item, rest) }
    }

    private func selectItems(_ items: [Value], _ name: String, _ arguments: CallArguments) throws(TemplateError) -> [Value] {
        let byAttribute = name.hasSuffix("attr")
        let keep = name.hasPrefix("select")
        var positional = arguments.positional
        var attribute: Value?
        if byAttribute {
            guard !positional.isEmpty else { throw TemplateError("\(name) needs an attribute name") }
            attribute = positional.removeFirst()
        }
        var testName: String?
        if !positional.isEmpty {
            guard case .string(let test) = positional.removeFirst() else { throw TemplateError("\(name): test name must be a string") }
            testName = test
        }
        let testArguments = CallArguments(positional: positional, keyword: arguments.keyword)
        var result: [Value] = []
        for item in items {
            let subject = try attribute.map { attribute throws(TemplateError) in try lookupPath(item, attribute) } ?? item
            let passed = try testName.map { test throws(TemplateError) in try applyTest(test, to: subject, testArguments) } ?? subject.isTruthy
            if passed == keep { result.append(item) }
        }
        return result
    }

    private func sortItems(_ items: [Value], reverse: Bool, caseSensitive: Bool, attribute: Value?) throws(TemplateError) -> [Value] {
        var keyed: [(key: Value, item: Value)] = []
        for item in items {
            var key = item
            if let attribute, !attribute.pythonEquals(.none) { key = try lookupPath(item, attribute) }
            if !caseSensitive, case .string(let text) = key { key = .string(text.lowercased()) }
            keyed.append((key, item))
        }
        var failure: TemplateError?
        // Stable sort; `reverse` keeps equal items in order, as Python's sorted(reverse=True) does.
        let sorted = keyed.enumerated().sorted { a, b in
            do throws(TemplateError) {
                if try a.element.key.pythonLess(b.element.key) { return !reverse }
                if try b.element.key.pythonLess(a.element.key) { return reverse }
            } catch {
                failure = error
            }
            return a.offset < b.offset
        }
        if let failure { throw failure }
        return sorted.map { $0.element.item }
    }

    private func indent(_ text: String, _ arguments: CallArguments) -> String {
        var indentation = "    "
        switch arguments.value(0, "width") {
        case .string(let custom)?: indentation = custom
        case let width? where width.integerValue != nil: indentation = String(repeating: " ", count: max(0, width.integerValue ?? 4))
        default: break
        }
        let first = arguments.value(1, "first")?.isTruthy ?? false
        let blank = arguments.value(2, "blank")?.isTruthy ?? false
        let lines = PyString.splitLines(text + "\n")
        var result: String
        if blank {
            result = lines.joined(separator: "\n" + indentation)
        } else {
            result = lines.first ?? ""
            let rest = lines.dropFirst()
            if !rest.isEmpty {
                result += "\n" + rest.map { $0.isEmpty ? $0 : indentation + $0 }.joined(separator: "\n")
            }
        }
        return first ? indentation + result : result
    }

    // jinja2's `title` filter: upper-case the first character of each word, split on `[-\s({\[<]+`.
    private func jinjaTitle(_ text: String) -> String {
        var output = ""
        var atWordStart = true
        for scalar in text.unicodeScalars {
            let isSeparator = PyString.isWhitespace(scalar) || "-({[<".unicodeScalars.contains(scalar)
            if isSeparator {
                output.unicodeScalars.append(scalar)
                atWordStart = true
            } else if atWordStart {
                output += scalar.properties.uppercaseMapping
                atWordStart = false
            } else {
                output += scalar.properties.lowercaseMapping
            }
        }
        return output
    }

    private func htmlEscape(_ text: String) -> String {
        var output = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": output += "&amp;"
            case "<": output += "&lt;"
            case ">": output += "&gt;"
            case "\"": output += "&#34;"
            case "'": output += "&#39;"
            default: output.unicodeScalars.append(scalar)
            }
        }
        return output
    }

    private func pow10(_ exponent: Int) -> Double {
        var result = 1.0
        for _ in 0..<min(abs(exponent), 400) { result *= 10 }
        return exponent < 0 ? 1 / result : result
    }
}

extension String {
    fileprivate func replacingOccurrences(_ target: String, _ replacement: String) -> String {
        PyString.replace(self, target, replacement, count: -1)
    }
}
