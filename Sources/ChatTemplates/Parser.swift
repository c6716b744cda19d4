/// Builds the syntax tree from tokens, with jinja2's operator precedence (loosest first):
/// `x if c else y` < `or` < `and` < `not` < comparisons and `in` < `+ -` < `~` < `* / // %` < `**` < unary `- +`
/// < filters `|`, tests `is` and calls < attribute, subscript and call postfixes.
struct Parser {
    private let tokens: [Token]
    private var index = 0
    // Nesting of expressions being parsed; bounded so a hostile template cannot exhaust the stack.
    private var depth = 0
    static let maxDepth = 256
    static let closingKeywords: Set<String> = [
        "elif", "else", "endif", "endfor", "endset", "endmacro", "endcall", "endfilter", "endwith", "endgeneration",
    ]

    static func parse(_ tokens: [Token]) throws(TemplateError) -> [Node] {
        var parser = Parser(tokens: tokens)
        let (nodes, endTag) = try parser.parseNodes(until: [])
        if let endTag {
            throw parser.error("unexpected '\(endTag)' (no block is open)", at: parser.tokens[parser.index - 1])
        }
        return nodes
    }

    private init(tokens: [Token]) { self.tokens = tokens }

    // MARK: token helpers

    private var current: Token { tokens[index] }

    private mutating func advance() -> Token {
        let token = tokens[index]
        if index < tokens.count - 1 { index += 1 }
        return token
    }

    private func describe(_ token: Token) -> String {
        switch token.kind {
        case .text: return "template text"
        case .variableBegin: return "'{{'"
        case .variableEnd: return "'}}'"
        case .blockBegin: return "'{%'"
        case .blockEnd: return "'%}'"
        case .name(let name): return "'\(name)'"
        case .string(let text): return "string '\(text.prefix(20))'"
        case .integer(let value): return "integer \(value)"
        case .float(let value): return "number \(value)"
        case .op(let op): return "'\(op)'"
        case .end: return "end of template"
        }
    }

    func error(_ message: String, at token: Token) -> TemplateError {
        TemplateError("syntax error at line \(token.line), column \(token.column): \(message)")
    }

    private func isOp(_ op: String) -> Bool { current.kind == .op(op) }
    private func isName(_ name: String) -> Bool { current.kind == .name(name) }

    private mutating func skipOp(_ op: String) -> Bool {
        if isOp(op) {
            _ = advance()
            return true
        }
        return false
    }

    private mutating func skipName(_ name: String) -> Bool {
        if isName(name) {
            _ = advance()
            return true
        }
        return false
    }

    private mutating func expectOp(_ op: String, _ context: String) throws(TemplateError) {
        guard skipOp(op) else { throw error("expected '\(op)' \(context), found \(describe(current))", at: current) }
    }

    private mutating func expectName(_ context: String) throws(TemplateError) -> String {
        guard case .name(let name) = current.kind else {
            throw error("expected a name \(context), found \(describe(current))", at: current)
        }
        _ = advance()
        return name
    }

    private mutating func expectBlockEnd(_ statement: String) throws(TemplateError) {
        guard current.kind == .blockEnd else {
            throw error("expected '%}' to end the '\(statement)' tag, found \(describe(current))", at: current)
        }
        _ = advance()
    }

    // MARK: statements

    /// Parses nodes until a `{% name %}` with a name in `endTags` (consumed up to and including the name) or the end.
    private mutating func parseNodes(until endTags: Set<String>) throws(TemplateError) -> ([Node], String?) {
        var nodes: [Node] = []
        while true {
            let token = current
            switch token.kind {
            case .end:
                return (nodes, nil)
            case .text(let text):
                _ = advance()
                nodes.append(.text(text))
            case .variableBegin:
                _ = advance()
                let expression = try parseTuple()
                guard current.kind == .variableEnd else {
                    throw error("expected '}}' to end the expression, found \(describe(current))", at: current)
                }
                _ = advance()
                nodes.append(.output(expression, line: token.line))
            case .blockBegin:
                _ = advance()
                guard case .name(let keyword) = current.kind else {
                    throw error("expected a statement name after '{%', found \(describe(current))", at: current)
                }
                if endTags.contains(keyword) {
                    _ = advance()
                    return (nodes, keyword)
                }
                if Parser.closingKeywords.contains(keyword) {
                    let expected = endTags.sorted().map { "'\($0)'" }.joined(separator: " or ")
                    throw error("unexpected '\(keyword)'" + (endTags.isEmpty ? " (no block is open)" : ", expected \(expected)"), at: current)
                }
                nodes.append(try parseStatement())
            default:
                throw error("unexpected \(describe(token))", at: token)
            }
        }
    }

    private mutating func parseBody(_ statement: String, opener: Token, until endTags: Set<String>) throws(TemplateError) -> ([Node], String) {
        let (nodes, endTag) = try parseNodes(until: endTags)
        guard let endTag else {
            let expected = endTags.sorted().map { "'\($0)'" }.joined(separator: " or ")
            throw error("unexpected end of template: expected \(expected) to close the '\(statement)' opened at line \(opener.line), column \(opener.column)", at: current)
        }
        return (nodes, endTag)
    }

    private mutating func parseStatement() throws(TemplateError) -> Node {
        let token = advance()
        guard case .name(let keyword) = token.kind else { throw error("expected a statement", at: token) }
        switch keyword {
        case "if": return try parseIf(opener: token)
        case "for": return try parseFor(opener: token)
        case "set": return try parseSet(opener: token)
        case "macro": return try parseMacro(opener: token)
        case "call": return try parseCallBlock(opener: token)
        case "filter":
            let filters = try parseFilterChain(requireFirst: true)
            try expectBlockEnd("filter")
            let (body, _) = try parseBody("filter", opener: token, until: ["endfilter"])
            try expectBlockEnd("endfilter")
            return .filterBlock(filters: filters, body: body, line: token.line)
        case "with":
            var assignments: [(name: String, value: Expression)] = []
            while current.kind != .blockEnd {
                if !assignments.isEmpty { try expectOp(",", "between 'with' assignments") }
                let name = try expectName("in 'with'")
                try expectOp("=", "in 'with'")
                assignments.append((name, try parseExpression()))
            }
            try expectBlockEnd("with")
            let (body, _) = try parseBody("with", opener: token, until: ["endwith"])
            try expectBlockEnd("endwith")
            return .scope(assignments: assignments, body: body, line: token.line)
        case "generation":
            // transformers' AssistantTracker extension: marks assistant text, renders its body unchanged.
            try expectBlockEnd("generation")
            let (body, _) = try parseBody("generation", opener: token, until: ["endgeneration"])
            try expectBlockEnd("endgeneration")
            return .scope(assignments: [], body: body, line: token.line)
        case "break":
            try expectBlockEnd("break")
            return .breakLoop
        case "continue":
            try expectBlockEnd("continue")
            return .continueLoop
        default:
            throw error("unknown statement '\(keyword)'", at: token)
        }
    }

    private mutating func parseIf(opener: Token) throws(TemplateError) -> Node {
        var branches: [(condition: Expression, body: [Node])] = []
        var condition = try parseTuple(allowConditional: true)
        try expectBlockEnd("if")
        while true {
            let (body, endTag) = try parseBody("if", opener: opener, until: ["elif", "else", "endif"])
            branches.append((condition, body))
            switch endTag {
            case "elif":
                condition = try parseTuple(allowConditional: true)
                try expectBlockEnd("elif")
            case "else":
                try expectBlockEnd("else")
                let (otherwise, _) = try parseBody("if", opener: opener, until: ["endif"])
                try expectBlockEnd("endif")
                return .conditional(branches: branches, otherwise: otherwise, line: opener.line)
            default:
                try expectBlockEnd("endif")
                return .conditional(branches: branches, otherwise: [], line: opener.line)
            }
        }
    }

    private mutating func parseFor(opener: Token) throws(TemplateError) -> Node {
        var names = [try expectName("as the 'for' loop variable")]
        while skipOp(",") {
            if isName("in") { break }
            names.append(try expectName("as a 'for' loop variable"))
        }
        guard skipName("in") else { throw error("expected 'in' in the 'for' statement, found \(describe(current))", at: current) }
        let iterable = try parseTuple(allowConditional: false)
        var filter: Expression?
        if skipName("if") { filter = try parseExpression() }
        if isName("recursive") { throw error("recursive for loops are not supported", at: current) }
        try expectBlockEnd("for")
        let (body, endTag) = try parseBody("for", opener: opener, until: ["else", "endfor"])
        var otherwise: [Node] = []
        if endTag == "else" {
            try expectBlockEnd("else")
            (otherwise, _) = try parseBody("for", opener: opener, until: ["endfor"])
        }
        try expectBlockEnd("endfor")
        let target: AssignTarget = names.count == 1 ? .name(names[0]) : .tuple(names)
        return .forLoop(target: target, iterable: iterable, filter: filter, body: body, otherwise: otherwise, line: opener.line)
    }

    private mutating func parseSet(opener: Token) throws(TemplateError) -> Node {
        let first = try expectName("after 'set'")
        var target = AssignTarget.name(first)
        if skipOp(".") {
            target = .attribute(first, try expectName("after '.' in 'set'"))
        } else if isOp(",") {
            var names = [first]
            while skipOp(",") { names.append(try expectName("in the 'set' targets")) }
            target = .tuple(names)
        }
        if skipOp("=") {
            let value = try parseTuple()
            try expectBlockEnd("set")
            return .assign(target: target, value: value, line: opener.line)
        }
        guard case .name(let name) = target else {
            throw error("expected '=' after the 'set' target, found \(describe(current))", at: current)
        }
        let filters = try parseFilterChain(requireFirst: false)
        try expectBlockEnd("set")
        let (body, _) = try parseBody("set", opener: opener, until: ["endset"])
        try expectBlockEnd("endset")
        return .assignBlock(name: name, filters: filters, body: body, line: opener.line)
    }

    private mutating func parseFilterChain(requireFirst: Bool) throws(TemplateError) -> [FilterCall] {
        var filters: [FilterCall] = []
        if requireFirst { filters.append(try parseFilterCall()) }
        while skipOp("|") { filters.append(try parseFilterCall()) }
        return filters
    }

    private mutating func parseFilterCall() throws(TemplateError) -> FilterCall {
        var name = try expectName("as a filter name")
        while skipOp(".") { name += "." + (try expectName("in a filter name")) }
        let arguments = isOp("(") ? try parseCallArguments() : Arguments()
        return FilterCall(name: name, arguments: arguments)
    }

    private mutating func parseParameters() throws(TemplateError) -> [MacroParameter] {
        var parameters: [MacroParameter] = []
        try expectOp("(", "to open the parameter list")
        while !skipOp(")") {
            if !parameters.isEmpty { try expectOp(",", "between parameters") }
            if skipOp(")") { break }
            let name = try expectName("as a parameter")
            let defaultValue = skipOp("=") ? try parseExpression() : nil
            parameters.append(MacroParameter(name: name, defaultValue: defaultValue))
        }
        return parameters
    }

    private mutating func parseMacro(opener: Token) throws(TemplateError) -> Node {
        let name = try expectName("after 'macro'")
        let parameters = try parseParameters()
        try expectBlockEnd("macro")
        let (body, _) = try parseBody("macro", opener: opener, until: ["endmacro"])
        try expectBlockEnd("endmacro")
        return .macro(name: name, parameters: parameters, body: body, line: opener.line)
    }

    private mutating func parseCallBlock(opener: Token) throws(TemplateError) -> Node {
        let parameters = isOp("(") ? try parseParameters() : []
        let call = try parseExpression()
        guard case .call = call else { throw error("expected a macro call after 'call'", at: opener) }
        try expectBlockEnd("call")
        let (body, _) = try parseBody("call", opener: opener, until: ["endcall"])
        try expectBlockEnd("endcall")
        return .callBlock(call: call, parameters: parameters, body: body, line: opener.line)
    }

    // MARK: expressions

    /// An expression, or a tuple when commas follow (`{{ a, b }}`, `set x = 1, 2`, `for x in a, b`).
    private mutating func parseTuple(allowConditional: Bool = true) throws(TemplateError) -> Expression {
        let first = allowConditional ? try parseExpression() : try parseOr()
        guard isOp(",") else { return first }
        var items = [first]
        while skipOp(",") {
            if current.kind == .blockEnd || current.kind == .variableEnd || isName("if") { break }
            items.append(allowConditional ? try parseExpression() : try parseOr())
        }
        return .tuple(items)
    }

    private mutating func enter() throws(TemplateError) {
        depth += 1
        if depth > Parser.maxDepth { throw error("expression nested deeper than \(Parser.maxDepth) levels", at: current) }
    }

    private mutating func parseExpression() throws(TemplateError) -> Expression {
        try enter()
        defer { depth -= 1 }
        var expression = try parseOr()
        while skipName("if") {
            let condition = try parseOr()
            let otherwise = skipName("else") ? try parseExpression() : nil
            expression = .conditional(condition: condition, then: expression, otherwise: otherwise)
        }
        return expression
    }

    private mutating func parseOr() throws(TemplateError) -> Expression {
        var left = try parseAnd()
        while skipName("or") { left = .or(left, try parseAnd()) }
        return left
    }

    private mutating func parseAnd() throws(TemplateError) -> Expression {
        var left = try parseNot()
        while skipName("and") { left = .and(left, try parseNot()) }
        return left
    }

    private mutating func parseNot() throws(TemplateError) -> Expression {
        if skipName("not") {
            try enter()
            defer { depth -= 1 }
            return .not(try parseNot())
        }
        return try parseCompare()
    }

    private mutating func parseCompare() throws(TemplateError) -> Expression {
        let left = try parseMath1()
        var operations: [(op: CompareOperator, operand: Expression)] = []
        while true {
            if case .op(let op) = current.kind, let compare = CompareOperator(rawValue: op), compare != .isIn, compare != .notIn {
                _ = advance()
                operations.append((compare, try parseMath1()))
            } else if skipName("in") {
                operations.append((.isIn, try parseMath1()))
            } else if isName("not"), index + 1 < tokens.count, tokens[index + 1].kind == .name("in") {
                index += 2
                operations.append((.notIn, try parseMath1()))
            } else {
                break
            }
        }
        return operations.isEmpty ? left : .compare(left, operations)
    }

    private mutating func parseMath1() throws(TemplateError) -> Expression {
        var left = try parseConcat()
        while true {
            if skipOp("+") {
                left = .binary(.add, left, try parseConcat())
            } else if skipOp("-") {
                left = .binary(.subtract, left, try parseConcat())
            } else {
                return left
            }
        }
    }

    private mutating func parseConcat() throws(TemplateError) -> Expression {
        var left = try parseMath2()
        while skipOp("~") { left = .binary(.concat, left, try parseMath2()) }
        return left
    }

    private mutating func parseMath2() throws(TemplateError) -> Expression {
        var left = try parsePower()
        while true {
            if case .op(let op) = current.kind, ["*", "/", "//", "%"].contains(op), let binary = BinaryOperator(rawValue: op) {
                _ = advance()
                left = .binary(binary, left, try parsePower())
            } else {
                return left
            }
        }
    }

    private mutating func parsePower() throws(TemplateError) -> Expression {
        var left = try parseUnary(withFilter: true)
        while skipOp("**") { left = .binary(.power, left, try parseUnary(withFilter: true)) }
        return left
    }

    private mutating func parseUnary(withFilter: Bool) throws(TemplateError) -> Expression {
        try enter()
        defer { depth -= 1 }
        var expression: Expression
        if skipOp("-") {
            expression = .negate(try parseUnary(withFilter: false))
        } else if skipOp("+") {
            expression = .plus(try parseUnary(withFilter: false))
        } else {
            expression = try parsePrimary()
        }
        expression = try parsePostfix(expression)
        if withFilter { expression = try parseFilterExpression(expression) }
        return expression
    }

    private mutating func parsePrimary() throws(TemplateError) -> Expression {
        let token = advance()
        switch token.kind {
        case .name(let name):
            switch name {
            case "true", "True": return .boolean(true)
            case "false", "False": return .boolean(false)
            case "none", "None": return .none
            default: return .name(name)
            }
        case .string(var text):
            // Adjacent string literals concatenate, as in Python.
            while case .string(let more) = current.kind {
                text += more
                _ = advance()
            }
            return .string(text)
        case .integer(let value): return .integer(value)
        case .float(let value): return .float(value)
        case .op("("):
            if skipOp(")") { return .tuple([]) }
            let first = try parseExpression()
            if skipOp(")") { return first }
            var items = [first]
            while skipOp(",") {
                if isOp(")") { break }
                items.append(try parseExpression())
            }
            try expectOp(")", "to close the parenthesis")
            return .tuple(items)
        case .op("["):
            var items: [Expression] = []
            while !skipOp("]") {
                if !items.isEmpty { try expectOp(",", "between list items") }
                if skipOp("]") { break }
                items.append(try parseExpression())
            }
            return .list(items)
        case .op("{"):
            var pairs: [(key: Expression, value: Expression)] = []
            while !skipOp("}") {
                if !pairs.isEmpty { try expectOp(",", "between dict items") }
                if skipOp("}") { break }
                let key = try parseExpression()
                try expectOp(":", "after a dict key")
                pairs.append((key, try parseExpression()))
            }
            return .dict(pairs)
        default:
            throw error("expected an expression, found \(describe(token))", at: token)
        }
    }

    private mutating func parsePostfix(_ base: Expression) throws(TemplateError) -> Expression {
        var expression = base
        while true {
            if skipOp(".") {
                let token = advance()
                switch token.kind {
                case .name(let name): expression = .attribute(expression, name)
                case .integer(let value): expression = .item(expression, .integer(value))
                default: throw error("expected an attribute name after '.', found \(describe(token))", at: token)
                }
            } else if skipOp("[") {
                expression = try parseSubscript(expression)
            } else if isOp("(") {
                expression = .call(expression, try parseCallArguments())
            } else {
                return expression
            }
        }
    }

    private mutating func parseSubscript(_ base: Expression) throws(TemplateError) -> Expression {
        var start: Expression?
        if !isOp(":") { start = try parseExpression() }
        if skipOp("]") {
            guard let start else { throw error("empty subscript", at: current) }
            return .item(base, start)
        }
        try expectOp(":", "in a subscript")
        var stop: Expression?
        var step: Expression?
        if !isOp("]") && !isOp(":") { stop = try parseExpression() }
        if skipOp(":") && !isOp("]") { step = try parseExpression() }
        try expectOp("]", "to close the subscript")
        return .slice(base, start: start, stop: stop, step: step)
    }

    private mutating func parseCallArguments() throws(TemplateError) -> Arguments {
        try expectOp("(", "to open the arguments")
        var arguments = Arguments()
        var first = true
        while !skipOp(")") {
            if !first { try expectOp(",", "between arguments") }
            first = false
            if skipOp(")") { break }
            if case .name(let name) = current.kind, index + 1 < tokens.count, tokens[index + 1].kind == .op("=") {
                index += 2
                arguments.keyword.append((name, try parseExpression()))
            } else {
                if !arguments.keyword.isEmpty { throw error("positional argument after a keyword argument", at: current) }
                arguments.positional.append(try parseExpression())
            }
        }
        return arguments
    }

    private mutating func parseFilterExpression(_ base: Expression) throws(TemplateError) -> Expression {
        var expression = base
        while true {
            if skipOp("|") {
                let filter = try parseFilterCall()
                expression = .filter(expression, name: filter.name, filter.arguments)
            } else if skipName("is") {
                let negated = skipName("not")
                var name = try expectName("as a test name after 'is'")
                while skipOp(".") { name += "." + (try expectName("in a test name")) }
                var arguments = Arguments()
                if isOp("(") {
                    arguments = try parseCallArguments()
                } else if startsBareTestArgument() {
                    arguments.positional = [try parsePostfix(try parsePrimary())]
                }
                expression = .test(expression, name: name, arguments, negated: negated)
            } else if isOp("(") {
                expression = .call(expression, try parseCallArguments())
            } else {
                return expression
            }
        }
    }

    // `x is divisibleby 3`, `x is equalto 'a'`: a single argument without parentheses.
    private func startsBareTestArgument() -> Bool {
        switch current.kind {
        case .name(let name): return !["else", "or", "and", "if", "is", "in", "not"].contains(name)
        case .string, .integer, .float: return true
        case .op(let op): return op == "[" || op == "{"
        default: return false
        }
    }
}
