/// The syntax tree of a template. Values are resolved only at render time, so a parsed template is immutable,
/// `Sendable`, and can be rendered concurrently.
indirect enum Expression: Sendable {
    case none
    case boolean(Bool)
    case integer(Int)
    case float(Double)
    case string(String)
    case name(String)
    case list([Expression])
    case tuple([Expression])
    case dict([(key: Expression, value: Expression)])
    case attribute(Expression, String)
    case item(Expression, Expression)
    case slice(Expression, start: Expression?, stop: Expression?, step: Expression?)
    case call(Expression, Arguments)
    case filter(Expression, name: String, Arguments)
    case test(Expression, name: String, Arguments, negated: Bool)
    case not(Expression)
    case negate(Expression)
    case plus(Expression)
    case binary(BinaryOperator, Expression, Expression)
    case and(Expression, Expression)
    case or(Expression, Expression)
    case compare(Expression, [(op: CompareOperator, operand: Expression)])
    case conditional(condition: Expression, then: Expression, otherwise: Expression?)
}

struct Arguments: Sendable {
    var positional: [Expression] = []
    var keyword: [(name: String, value: Expression)] = []
}

enum BinaryOperator: String, Sendable {
    case add = "+", subtract = "-", multiply = "*", divide = "/", floorDivide = "//", modulo = "%", power = "**"
    case concat = "~"
}

enum CompareOperator: String, Sendable {
    case equal = "==", notEqual = "!=", less = "<", lessEqual = "<=", greater = ">", greaterEqual = ">="
    case isIn = "in", notIn = "not in"
}

/// Where an assignment goes: `x`, `a, b` or `ns.attr`.
enum AssignTarget: Sendable {
    case name(String)
    case tuple([String])
    case attribute(String, String)
}

struct MacroParameter: Sendable {
    let name: String
    let defaultValue: Expression?
}

struct FilterCall: Sendable {
    let name: String
    let arguments: Arguments
}

indirect enum Node: Sendable {
    case text(String)
    case output(Expression, line: Int)
    case conditional(branches: [(condition: Expression, body: [Node])], otherwise: [Node], line: Int)
    case forLoop(target: AssignTarget, iterable: Expression, filter: Expression?, body: [Node], otherwise: [Node], line: Int)
    case assign(target: AssignTarget, value: Expression, line: Int)
    case assignBlock(name: String, filters: [FilterCall], body: [Node], line: Int)
    case macro(name: String, parameters: [MacroParameter], body: [Node], line: Int)
    case callBlock(call: Expression, parameters: [MacroParameter], body: [Node], line: Int)
    case filterBlock(filters: [FilterCall], body: [Node], line: Int)
    case scope(assignments: [(name: String, value: Expression)], body: [Node], line: Int)
    case breakLoop
    case continueLoop
}
