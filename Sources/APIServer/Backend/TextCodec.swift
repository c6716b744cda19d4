import JSON

/// The tokenizer side the API layer needs; the coordinator implements it with `Tokenizers`.
public protocol TextCodec: Sendable {
    /// Text to ids (no BOS: Ling sets `add_bos_token=false`); `addSpecialTokens` as in Hugging Face.
    func encode(_ text: String, addSpecialTokens: Bool) -> [Int]
    /// Ids to text; invalid UTF-8 becomes U+FFFD.
    func decode(_ tokenIds: [Int]) -> String
    /// The exact bytes of one token (byte-level BPE), used for logprobs `bytes` and stop matching.
    func tokenBytes(_ tokenId: Int) -> [UInt8]
    /// A streaming decoder for one sequence.
    func makeIncrementalDecoder() -> any IncrementalDecoder
    /// End-of-sequence ids from `generation_config.json`.
    var eosTokenIds: Set<Int> { get }
    /// Id of `<tool_call>` / `</tool_call>` when they are single tokens.
    var toolCallStartTokenId: Int? { get }
    var toolCallEndTokenId: Int? { get }
    /// Largest valid id.
    var maxTokenId: Int { get }
}

/// Turns token ids into text pieces that end on complete UTF-8 characters: bytes of an unfinished character are
/// kept until the token that completes it (the piece for that token is then longer than its own bytes).
public protocol IncrementalDecoder {
    /// The UTF-8 bytes this token releases (possibly empty).
    mutating func append(_ tokenId: Int) -> [UInt8]
    /// Bytes still pending at the end of the sequence (an incomplete character, as U+FFFD).
    mutating func finish() -> [UInt8]
}

/// Renders chat messages to the prompt string with the model's template (`add_generation_prompt` as given, tools
/// as sent). The coordinator implements it with `ChatTemplates`.
public protocol PromptRenderer: Sendable {
    /// - Parameters:
    ///   - messages: each as `ChatMessage.templateValue` (developer already mapped to system).
    ///   - tools: the request's tools as sent, nil when none.
    func render(messages: [JSONValue], tools: JSONValue?, addGenerationPrompt: Bool) throws -> String
    /// The same with extra template variables (`enable_thinking`, the templates' thinking switch).
    func render(messages: [JSONValue], tools: JSONValue?, addGenerationPrompt: Bool, variables: JSONObject) throws -> String
}

extension PromptRenderer {
    /// Renderers without template variables ignore them.
    public func render(
        messages: [JSONValue], tools: JSONValue?, addGenerationPrompt: Bool, variables: JSONObject
    ) throws -> String {
        try render(messages: messages, tools: tools, addGenerationPrompt: addGenerationPrompt)
    }
}

extension TextCodec {
    /// `token` as logprobs show it: the token decoded on its own (invalid UTF-8 replaced).
    public func tokenString(_ tokenId: Int) -> String { String(decoding: tokenBytes(tokenId), as: UTF8.self) }
}
