import ChatTemplates
import Foundation
import JSON
import Tokenizers

/// `TextCodec` over the model's `tokenizer.json`.
public struct TokenizerCodec: TextCodec {
    public let tokenizer: Tokenizer
    public let eosTokenIds: Set<Int>
    public let toolCallStartTokenId: Int?
    public let toolCallEndTokenId: Int?
    public let maxTokenId: Int
    /// `Tokenizer.tokenBytes` of every id. // [maxTokenId + 1]
    private let bytesById: [[UInt8]]

    public init(tokenizer: Tokenizer, eosTokenIds: Set<Int>, vocabularySize: Int) {
        self.tokenizer = tokenizer
        self.eosTokenIds = eosTokenIds
        toolCallStartTokenId = tokenizer.id(forToken: "<tool_call>")
        toolCallEndTokenId = tokenizer.id(forToken: "</tool_call>")
        maxTokenId = max(vocabularySize, tokenizer.vocabularySize) - 1
        // Cached per id: logprobs and stop matching ask for the same tokens over and over.
        bytesById = (0..<max(0, maxTokenId + 1)).map { tokenizer.tokenBytes($0) }  // padding ids above the vocabulary: []
    }

    public func encode(_ text: String, addSpecialTokens: Bool) -> [Int] {
        tokenizer.encode(text, addSpecialTokens: addSpecialTokens)
    }

    public func decode(_ tokenIds: [Int]) -> String {
        tokenizer.decode(tokenIds.filter { $0 >= 0 && $0 < tokenizer.vocabularySize }, skipSpecialTokens: false)
    }

    public func tokenBytes(_ tokenId: Int) -> [UInt8] {
        bytesById.indices.contains(tokenId) ? bytesById[tokenId] : []
    }

    public func makeIncrementalDecoder() -> any IncrementalDecoder {
        ByteDecoder(codec: self)
    }

    /// Releases bytes at complete UTF-8 characters: the API layer's contract for `IncrementalDecoder`.
    struct ByteDecoder: IncrementalDecoder {
        let codec: TokenizerCodec
        var pending: [UInt8] = []

        mutating func append(_ tokenId: Int) -> [UInt8] {
            pending.append(contentsOf: codec.tokenBytes(tokenId))
            // Release everything up to the last complete character.
            var end = pending.count
            var index = pending.count - 1
            var continuation = 0
            while index >= 0 && pending[index] & 0xC0 == 0x80 && continuation < 3 {
                continuation += 1
                index -= 1
            }
            if index >= 0 {
                let lead = pending[index]
                let length = lead < 0x80 ? 1 : lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1
                if length > continuation + 1 { end = index }  // incomplete last character: hold it
            }
            let released = Array(pending[..<end])
            pending.removeFirst(end)
            return released
        }

        mutating func finish() -> [UInt8] {
            defer { pending = [] }
            return pending.isEmpty ? [] : Array(String(decoding: pending, as: UTF8.self).utf8)
        }
    }
}

/// `PromptRenderer` over the model's chat template.
public struct TemplateRenderer: PromptRenderer {
    public let template: ChatTemplate

    public init(template: ChatTemplate) { self.template = template }

    public func render(messages: [JSONValue], tools: JSONValue?, addGenerationPrompt: Bool) throws -> String {
        let toolList: [JSONValue]? = if case .array(let items) = tools { items } else { nil }
        return try template.render(messages: messages, tools: toolList, addGenerationPrompt: addGenerationPrompt)
    }

    public func render(
        messages: [JSONValue], tools: JSONValue?, addGenerationPrompt: Bool, variables: JSONObject
    ) throws -> String {
        let toolList: [JSONValue]? = if case .array(let items) = tools { items } else { nil }
        return try template.render(
            messages: messages, tools: toolList, addGenerationPrompt: addGenerationPrompt, extra: variables)
    }
}
