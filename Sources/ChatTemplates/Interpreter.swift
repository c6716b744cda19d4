/// Renders a parsed template. One interpreter per render: it owns the scopes and the output buffers.
///
/// Scoping follows jinja2: each `for` iteration, macro call and `with` block gets a fresh scope whose writes vanish
/// when it ends (hence `namespace()`); `if` blocks share the enclosing scope.
final class Interpreter {
    enum Flow { case normal, breakLoop, continueLoop }

    /// Output larger than this is an error rather than an out-of-memory (a template looping on itself).
    static let maxOutputSize = 64 << 20
    static let maxCallDepth = 200

    private var scopes: [[String: Value]]
    private var buffers: [String] = [""]
    private var outputSize = 0
    private var callDepth = 0

    init(globals: [String: Value]) {
        scopes = [globals]
    }

    func render(_ nodes: [Node]) throws(TemplateError) -> String {
        _ = try execute(nodes)
        return buffers[0]
    }

    // MARK: scopes and output

    func lookup(_ name: String) -> Value {
        for scope in scopes.reversed() {
            if let value = scope[name] { return value }
        }
        return .undefined(.name(name))
    }

    private func assign(_ name: String, _ value: Value) {
        scopes[scopes.count - 1][name] = value
    }

    private func write(_ text: String) throws(TemplateError) {
        outputSize += text.utf8.count
        if outputSize > Interpreter.maxOutputSize {
            throw TemplateError("rendered output exceeds \(Interpreter.maxOutputSize) bytes")
        }
        buffers[buffers.count - 1] += text
    }

    /// Runs `nodes` into a fresh buffer and returns what they printed.
    func capture(_ nodes: [Node]) throws(TemplateError) -> String {
        buffers.append("")
        defer { buffers.removeLast() }
        _ = try execute(nodes)
        return buffers[buffers.count - 1]
    }

    private func withScope<T>(_ scope: [String: Value], _ body: () throws(TemplateError) -> T) throws(TemplateError) -> T {
        scopes.append(scope)
        defer { scopes.removeLast() }
        return try body()
    }

    // Adds the template line to runtime errors (once), leaving `raise_exception` messages as the template wrote them.
    private func located<T>(_ line: Int, _ body: () throws(TemplateError) -> T) throws(TemplateError) -> T {
        do {
            return try body()
        } catch {
            if error.isRaisedByTemplate || error.description.hasPrefix("template error at line") { throw error }
            throw TemplateError("template error at line \(line): \(error.description)")
        }
    }

    // MARK: statements

    func execute(_ nodes: [Node]) throws(TemplateError) -> Flow {
        for node in nodes {
            let flow = try execute(node)
            if flow != .normal { return flow }
        }
        return .normal
    }

    private func execute(_ node: Node) throws(TemplateError) -> Flow {
        switch node {
        case .text(let text):
            try write(text)
        case .output(let expression, let line):
            try located(line) { () throws(TemplateError) in try write(try evaluate(expression).str) }
        case .conditional(let branches, let otherwise, let line):
            for branch in branches where try located(line, { () throws(TemplateError) in try evaluate(branch.condition).isTruthy }) {
                return try execute(branch.body)
            }
            return try execute(otherwise)
        case .forLoop(let target, let iterable, let filter, let body, let otherwise, let line):
            return try runFor(target: target, iterable: iterable, filter: filter, body: body, otherwise: otherwise, line: line)
        case .assign(let target, let expression, let line):
            try located(line) { () throws(TemplateError) in try assign(target, try evaluate(expression)) }
        case .assignBlock(let name, let filters, let body, let line):
            var value = Value.string(try capture(body))
            try located(line) { () throws(TemplateError) in
                for filter in filters { value = try applyFilter(filter.name, to: value, try evaluate(filter.arguments)) }
            }
            assign(name, value)
        case .macro(let name, let parameters, let body, _):
            assign(name, .callable(makeMacro(name: name, parameters: parameters, body: body)))
        case .callBlock(let call, let parameters, let body, let line):
            guard case .call(let callee, let arguments) = call else { return .normal }
            let caller = makeMacro(name: "caller", parameters: parameters, body: body)
            try located(line) { () throws(TemplateError) in
                var values = try evaluate(arguments)
                values.keyword.append(("caller", .callable(caller)))
                try write(try self.call(try evaluate(callee), values).str)
            }
        case .filterBlock(let filters, let body, let line):
            var value = Value.string(try capture(body))
            try located(line) { () throws(TemplateError) in
                for filter in filters { value = try applyFilter(filter.name, to: value, try evaluate(filter.arguments)) }
                try write(value.str)
            }
        case .scope(let assignments, let body, let line):
            var scope: [String: Value] = [:]
            try located(line) { () throws(TemplateError) in
                for assignment in assignments { scope[assignment.name] = try evaluate(assignment.value) }
            }
            return try withScope(scope) { () throws(TemplateError) in try execute(body) }
        case .breakLoop:
            return .breakLoop
        case .continueLoop:
            return .continueLoop
        }
        return .normal
    }

    private func assign(_ target: AssignTarget, _ value: Value) throws(TemplateError) {
        switch target {
        case .name(let name):
            assign(name, value)
        case .tuple(let names):
            let items = try unpack(value, count: names.count)
            for (name, item) in zip(names, items) { assign(name, item) }
        case .attribute(let object, let attribute):
            guard case .namespace(let namespace) = lookup(object) else {
                throw TemplateError("cannot assign attribute on non-namespace object '\(object)'")
            }
            namespace.attributes[attribute] = value
        }
    }

    private func unpack(_ value: Value, count: Int) throws(TemplateError) -> [Value] {
        let items = try iterate(value)
        if items.count < count {
            throw TemplateError("not enough values to unpack (expected \(count), got \(items.count))")
        }
        if items.count > count { throw TemplateError("too many values to unpack (expected \(count))") }
        return items
    }

    private func bindings(_ target: AssignTarget, _ item: Value) throws(TemplateError) -> [String: Value] {
        switch target {
        case .name(let name): return [name: item]
        case .tuple(let names):
            var scope: [String: Value] = [:]
            for (name, value) in zip(names, try unpack(item, count: names.count)) { scope[name] = value }
            return scope
        case .attribute: throw TemplateError("a loop variable cannot be an attribute")
        }
    }

    private func runFor(
        target: AssignTarget, iterable: Expression, filter: Expression?, body: [Node], otherwise: [Node], line: Int
    ) throws(TemplateError) -> Flow {
        var items = try located(line) { () throws(TemplateError) in try iterate(try evaluate(iterable)) }
        if let filter {
            var kept: [Value] = []
            for item in items {
                let keep = try located(line) { () throws(TemplateError) in
                    try withScope(try bindings(target, item)) { () throws(TemplateError) in try evaluate(filter).isTruthy }
                }
                if keep { kept.append(item) }
            }
            items = kept
        }
        if items.isEmpty { return try execute(otherwise) }
        for (index, item) in items.enumerated() {
            var scope = try located(line) { () throws(TemplateError) in try bindings(target, item) }
            scope["loop"] = .loop(LoopState(items: items, index0: index))
            let flow = try withScope(scope) { () throws(TemplateError) in try execute(body) }
            if flow == .breakLoop { break }
        }
        return .normal
    }

    /// Python iteration: lists and tuples by element, dicts by key, strings by code point; undefined is empty.
    func iterate(_ value: Value) throws(TemplateError) -> [Value] {
        switch value {
        case .list(let items), .tuple(let items): return items
        case .dict(let dict): return dict.keys.map(Value.string)
        case .string(let text): return text.unicodeScalars.map { .string(String($0)) }
        case .undefined: return []
        case .namespace(let namespace): return namespace.attributes.keys.map(Value.string)
        default: throw TemplateError("'\(value.pythonTypeName)' object is not iterable")
        }
    }

    /// A macro closes over the scopes around its definition (a `call` block's body sees the loop variables at the
    /// call site); the template's root scope is always the live one, so later top-level `set`s are visible.
    private func makeMacro(name: String, parameters: [MacroParameter], body: [Node]) -> Callable {
        let enclosing = Array(scopes.dropFirst())
        return Callable(name: name) { arguments, interpreter throws(TemplateError) in
            try interpreter.callMacro(name: name, parameters: parameters, body: body, enclosing: enclosing, arguments: arguments)
        }
    }

    private func callMacro(
        name: String, parameters: [MacroParameter], body: [Node], enclosing: [[String: Value]], arguments: CallArguments
    ) throws(TemplateError) -> Value {
        if arguments.positional.count > parameters.count {
            throw TemplateError("macro '\(name)' takes not more than \(parameters.count) argument(s)")
        }
        callDepth += 1
        defer { callDepth -= 1 }
        if callDepth > Interpreter.maxCallDepth { throw TemplateError("macro calls nested deeper than \(Interpreter.maxCallDepth)") }
        // A macro sees the root scope, its definition's enclosing scopes and its arguments, not its caller's locals.
        let saved = scopes
        scopes = [scopes[0]] + enclosing + [[:]]
        defer { scopes = saved }
        for (position, parameter) in parameters.enumerated() {
            if position < arguments.positional.count {
                assign(parameter.name, arguments.positional[position])
            } else if let keyword = arguments.keyword.first(where: { $0.name == parameter.name }) {
                assign(parameter.name, keyword.value)
            } else if let defaultValue = parameter.defaultValue {
                assign(parameter.name, try evaluate(defaultValue))
            } else {
                assign(parameter.name, .undefined(.name(parameter.name)))
            }
        }
        for keyword in arguments.keyword where keyword.name == "caller" { assign("caller", keyword.value) }
        for keyword in arguments.keyword where keyword.name != "caller" && !parameters.contains(where: { $0.name == keyword.name }) {
            throw TemplateError("macro '\(name)' takes no keyword argument '\(keyword.name)'")
        }
        return .string(try capture(body))
    }

    // MARK: expressions

    func evaluate(_ arguments: Arguments) throws(TemplateError) -> CallArguments {
        var values = CallArguments()
        for expression in arguments.positional { values.positional.append(try evaluate(expression)) }
        for keyword in arguments.keyword { values.keyword.append((keyword.name, try evaluate(keyword.value))) }
        return values
    }

    func call(_ callee: Value, _ arguments: CallArguments) throws(TemplateError) -> Value {
        switch callee {
        case .callable(let callable): return try callable.body(arguments, self)
        case .undefined(let undefined): throw undefined.error
        default: throw TemplateError("'\(callee.pythonTypeName)' object is not callable")
        }
    }

    func evaluate(_ expression: Expression) throws(TemplateError) -> Value {
        switch expression {
        case .none: return .none
        case .boolean(let flag): return .bool(flag)
        case .integer(let value): return .int(value)
        case .float(let value): return .float(value)
        case .string(let text): return .string(text)
        case .name(let name): return lookup(name)
        case .list(let items):
            var values: [Value] = []
            for item in items { values.append(try evaluate(item)) }
            return .list(values)
        case .tuple(let items):
            var values: [Value] = []
            for item in items { values.append(try evaluate(item)) }
            return .tuple(values)
        case .dict(let pairs):
            var dict = Dict()
            for pair in pairs {
                guard case .string(let key) = try evaluate(pair.key) else {
                    throw TemplateError("dict literal keys must be strings")
                }
                dict[key] = try evaluate(pair.value)
            }
            return .dict(dict)
        case .attribute(let base, let name):
            return try attribute(of: try evaluate(base), name)
        case .item(let base, let key):
            return try item(of: try evaluate(base), try evaluate(key))
        case .slice(let base, let start, let stop, let step):
            let value = try evaluate(base)
            return try slice(
                value, start: try start.map { e throws(TemplateError) in try evaluate(e) },
                stop: try stop.map { e throws(TemplateError) in try evaluate(e) },
                step: try step.map { e throws(TemplateError) in try evaluate(e) })
        case .call(let callee, let arguments):
            return try call(try evaluate(callee), try evaluate(arguments))
        case .filter(let base, let name, let arguments):
            return try applyFilter(name, to: try evaluate(base), try evaluate(arguments))
        case .test(let base, let name, let arguments, let negated):
            let result = try applyTest(name, to: try evaluate(base), try evaluate(arguments))
            return .bool(result != negated)
        case .not(let operand):
            return .bool(!(try evaluate(operand)).isTruthy)
        case .negate(let operand):
            return try negate(try evaluate(operand))
        case .plus(let operand):
            let value = try evaluate(operand)
            guard value.numericValue != nil else { throw TemplateError("bad operand type for unary +: '\(value.pythonTypeName)'") }
            return value
        case .binary(let op, let left, let right):
            return try binary(op, try evaluate(left), try evaluate(right))
        case .and(let left, let right):
            let value = try evaluate(left)
            return value.isTruthy ? try evaluate(right) : value
        case .or(let left, let right):
            let value = try evaluate(left)
            return value.isTruthy ? value : try evaluate(right)
        case .compare(let first, let operations):
            var left = try evaluate(first)
            for operation in operations {
                let right = try evaluate(operation.operand)
                guard try compare(operation.op, left, right) else { return .bool(false) }
                left = right
            }
            return .bool(true)
        case .conditional(let condition, let then, let otherwise):
            if try evaluate(condition).isTruthy { return try evaluate(then) }
            if let otherwise { return try evaluate(otherwise) }
            return .undefined(Undefined(hint: "the inline if-expression evaluated to false and no else section was defined"))
        }
    }

    private func compare(_ op: CompareOperator, _ left: Value, _ right: Value) throws(TemplateError) -> Bool {
        switch op {
        case .equal: return left.pythonEquals(right)
        case .notEqual: return !left.pythonEquals(right)
        case .less: return try left.pythonLess(right)
        case .greater: return try right.pythonLess(left)
        case .lessEqual: return try left.pythonLess(right) || left.pythonEquals(right)
        case .greaterEqual: return try right.pythonLess(left) || left.pythonEquals(right)
        case .isIn: return try contains(right, left)
        case .notIn: return !(try contains(right, left))
        }
    }

    /// Python `needle in container`.
    func contains(_ container: Value, _ needle: Value) throws(TemplateError) -> Bool {
        switch container {
        case .string(let text):
            guard case .string(let part) = needle else {
                throw TemplateError("'in <string>' requires string as left operand, not \(needle.pythonTypeName)")
            }
            return PyString.find(Array(text.unicodeScalars), Array(part.unicodeScalars), from: 0) != nil
        case .list(let items), .tuple(let items): return items.contains { $0.pythonEquals(needle) }
        case .dict(let dict):
            guard case .string(let key) = needle else { return false }
            return dict[key] != nil
        case .undefined: return false
        case .namespace(let namespace):
            guard case .string(let key) = needle else { return false }
            return namespace.attributes[key] != nil
        default: throw TemplateError("argument of type '\(container.pythonTypeName)' is not iterable")
        }
    }

    // MARK: attribute and item access

    /// `value.name`: jinja2 tries the Python attribute first (methods such as `items` or `startswith`), then the item.
    func attribute(of value: Value, _ name: String) throws(TemplateError) -> Value {
        switch value {
        case .undefined(let undefined): throw undefined.error
        case .dict(let dict):
            if let method = dictMethod(dict, name) { return .callable(method) }
            return dict[name] ?? .undefined(.attribute(name, of: value))
        case .string(let text):
            if let method = stringMethod(text, name) { return .callable(method) }
        case .namespace(let namespace):
            return namespace.attributes[name] ?? .undefined(.attribute(name, of: value))
        case .loop(let loop):
            return loopAttribute(loop, name) ?? .undefined(.attribute(name, of: value))
        default:
            break
        }
        return .undefined(.attribute(name, of: value))
    }

    /// `value[key]`: jinja2 tries the item first, then (for string keys) the attribute.
    func item(of value: Value, _ key: Value) throws(TemplateError) -> Value {
        switch (value, key) {
        case (.undefined(let undefined), _): throw undefined.error
        case (.dict(let dict), .string(let name)):
            if let found = dict[name] { return found }
        case (.list(let items), _), (.tuple(let items), _):
            if let index = key.integerValue {
                let position = index < 0 ? items.count + index : index
                if items.indices.contains(position) { return items[position] }
                return .undefined(.item(key, of: value))
            }
        case (.string(let text), _):
            if let index = key.integerValue {
                let scalars = Array(text.unicodeScalars)
                let position = index < 0 ? scalars.count + index : index
                if scalars.indices.contains(position) { return .string(String(scalars[position])) }
                return .undefined(.item(key, of: value))
            }
        default:
            break
        }
        if case .string(let name) = key { return try attribute(of: value, name) }
        return .undefined(.item(key, of: value))
    }

    private func slice(_ value: Value, start: Value?, stop: Value?, step: Value?) throws(TemplateError) -> Value {
        func bound(_ value: Value?) throws(TemplateError) -> Int? {
            guard let value, !(value.isUndefined), value.pythonEquals(.none) == false else { return nil }
            guard let integer = value.integerValue else { throw TemplateError("slice indices must be integers or None") }
            return integer
        }
        let stepValue = try bound(step) ?? 1
        guard stepValue != 0 else { throw TemplateError("slice step cannot be zero") }
        func indices(count: Int) throws(TemplateError) -> [Int] {
            PySlice.indices(count: count, start: try bound(start), stop: try bound(stop), step: stepValue)
        }
        switch value {
        case .list(let items): return .list(try indices(count: items.count).map { items[$0] })
        case .tuple(let items): return .tuple(try indices(count: items.count).map { items[$0] })
        case .string(let text):
            let scalars = Array(text.unicodeScalars)
            var output = String.UnicodeScalarView()
            for index in try indices(count: scalars.count) { output.append(scalars[index]) }
            return .string(String(output))
        case .undefined(let undefined): throw undefined.error
        default: throw TemplateError("'\(value.pythonTypeName)' object is not subscriptable")
        }
    }

    private func loopAttribute(_ loop: LoopState, _ name: String) -> Value? {
        let count = loop.items.count
        switch name {
        case "index": return .int(loop.index0 + 1)
        case "index0": return .int(loop.index0)
        case "revindex": return .int(count - loop.index0)
        case "revindex0": return .int(count - loop.index0 - 1)
        case "first": return .bool(loop.index0 == 0)
        case "last": return .bool(loop.index0 == count - 1)
        case "length": return .int(count)
        case "depth": return .int(1)
        case "depth0": return .int(0)
        case "previtem":
            return loop.index0 > 0 ? loop.items[loop.index0 - 1] : .undefined(Undefined(hint: "there is no previous item"))
        case "nextitem":
            return loop.index0 + 1 < count ? loop.items[loop.index0 + 1] : .undefined(Undefined(hint: "there is no next item"))
        case "cycle":
            return .callable(Callable(name: "cycle") { arguments, _ throws(TemplateError) in
                guard !arguments.positional.isEmpty else { throw TemplateError("no items for cycling given") }
                return arguments.positional[loop.index0 % arguments.positional.count]
            })
        default: return nil
        }
    }

    // MARK: operators

    private func negate(_ value: Value) throws(TemplateError) -> Value {
        switch value {
        case .bool(let flag): return .int(flag ? -1 : 0)
        case .int(let integer):
            let (result, overflow) = (0).subtractingReportingOverflow(integer)
            if overflow { throw TemplateError("integer overflow") }
            return .int(result)
        case .float(let double): return .float(-double)
        case .undefined(let undefined): throw undefined.error
        default: throw TemplateError("bad operand type for unary -: '\(value.pythonTypeName)'")
        }
    }

    func binary(_ op: BinaryOperator, _ left: Value, _ right: Value) throws(TemplateError) -> Value {
        let result = try unboundedBinary(op, left, right)
        // Strings and lists built by doubling in a loop would exhaust memory long before anything is printed.
        switch result {
        case .string(let text) where text.utf8.count > Interpreter.maxOutputSize:
            throw TemplateError("string result exceeds \(Interpreter.maxOutputSize) bytes")
        case .list(let items) where items.count > Interpreter.maxOutputSize / 8:
            throw TemplateError("list result exceeds \(Interpreter.maxOutputSize / 8) items")
        default:
            return result
        }
    }

    private func unboundedBinary(_ op: BinaryOperator, _ left: Value, _ right: Value) throws(TemplateError) -> Value {
        if op == .concat { return .string(left.str + right.str) }
        if case .undefined(let undefined) = left { throw undefined.error }
        if case .undefined(let undefined) = right { throw undefined.error }
        switch (op, left, right) {
        case (.modulo, .string(let template), _): return .string(try PercentFormat.format(template, right))
        case (.add, .string(let a), .string(let b)): return .string(a + b)
        case (.add, .list(let a), .list(let b)): return .list(a + b)
        case (.add, .tuple(let a), .tuple(let b)): return .tuple(a + b)
        case (.multiply, .string(let text), _), (.multiply, _, .string(let text)):
            guard let count = (left.integerValue ?? right.integerValue) else { break }
            if count > 0 && text.utf8.count > Interpreter.maxOutputSize / count {
                throw TemplateError("string result exceeds \(Interpreter.maxOutputSize) bytes")
            }
            return .string(String(repeating: text, count: max(0, count)))
        case (.multiply, .list(let items), _), (.multiply, _, .list(let items)):
            guard let count = (left.integerValue ?? right.integerValue) else { break }
            if count > 0 && items.count > Interpreter.maxOutputSize / 8 / count {
                throw TemplateError("list result exceeds \(Interpreter.maxOutputSize / 8) items")
            }
            return .list(Array(repeating: items, count: max(0, count)).flatMap { $0 })
        default:
            break
        }
        if let a = left.integerValue, let b = right.integerValue {
            return try PyNumber.integer(op, a, b)
        }
        if let a = left.numericValue, let b = right.numericValue {
            return try PyNumber.float(op, a, b)
        }
        throw TemplateError(
            "unsupported operand type(s) for \(op.rawValue): '\(left.pythonTypeName)' and '\(right.pythonTypeName)'")
    }
}
