import JSON

/// A parsed Jinja template, rendered the way transformers' `apply_chat_template` renders chat templates:
/// jinja2 `ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)` with the `loopcontrols` extension,
/// transformers' `tojson`, `raise_exception` and `strftime_now`. Immutable and `Sendable`: parse once, render
/// from any thread.
public struct Template: Sendable {
    let nodes: [Node]

    /// Parses `source`. Syntax errors name the line and column.
    public init(_ source: String) throws(TemplateError) {
        nodes = try Parser.parse(try Lexer.tokenize(source))
    }

    /// Renders with the given variables. `now` (seconds since the epoch) fixes `strftime_now` for reproducible output.
    public func render(_ variables: JSONObject, now: Int? = nil) throws(TemplateError) -> String {
        var globals = Globals.values(now: now)
        for member in variables { globals[member.key] = Value(member.value) }
        return try Interpreter(globals: globals).render(nodes)
    }
}
