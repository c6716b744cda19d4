/// Constrained decoding hook (tool_choice required/named, `json_object`, `json_schema`): the engine asks, before
/// each sampling step of one choice, which tokens are allowed. Implementations compile a grammar once per request
/// (the factory) and keep per-choice state (the constraint).
///
/// NOTE: the engine does not call this yet; the API layer validates the parameters and builds the description
/// (`ConstraintSpec`) so a grammar compiler can be plugged in without touching the protocol.
public protocol TokenConstraintFactory: Sendable {
    /// What the constraint enforces, for logging and for the compiler.
    var spec: ConstraintSpec { get }
    /// A fresh state machine for one choice.
    func makeConstraint() -> any TokenConstraint
}

public protocol TokenConstraint {
    /// Called after each accepted token of this choice.
    mutating func accept(tokenId: Int)
    /// The allowed ids for the next step, given everything accepted so far; `.all` means unconstrained.
    func allowedTokens() -> AllowedTokens
}

public enum AllowedTokens: Sendable, Equatable {
    case all
    /// Sorted, unique ids.
    case only([Int])
    /// Bit i set = id i allowed. [ceil(vocabularySize / 64)]
    case mask([UInt64])
}

/// What must be enforced; schemas are kept as compact JSON text.
public enum ConstraintSpec: Sendable, Equatable {
    /// After any think block: one or more `<tool_call>` blocks with one of these names (one name when named);
    /// `parallel` allows more than one block. Each name's parameter schema as JSON text ("{}" when absent).
    case toolCalls(names: [String], parameterSchemas: [String], parallel: Bool)
    case jsonObject
    case jsonSchema(String)
}
