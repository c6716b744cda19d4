import ArgumentParser
import JSON
import Foundation
import Tokenizers

/// `ling-serve detokenize`: prints the text of comma-separated ids as `{"text": "..."}`.
struct DetokenizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "detokenize", abstract: "Print the text of token ids as JSON: {\"text\": \"...\"}.")

    @Option(help: "Model directory or Hugging Face repository (ORG/NAME[@REVISION]) holding tokenizer.json (and tokenizer_config.json).")
    var model: String
    @OptionGroup var hub: HubOptions

    @Option(help: "Comma-separated token ids, e.g. 1,2,3.")
    var tokenIds: String

    @Flag(help: "Leave out special tokens, like skip_special_tokens=True.")
    var skipSpecialTokens = false

    mutating func validate() throws { model = try hub.resolve(model) }

    func run() throws {
        let tokenizer = try ModelFiles.tokenizer(model)
        var ids: [Int] = []
        for field in tokenIds.split(separator: ",", omittingEmptySubsequences: false) {
            let trimmed = field.trimmingCharacters(in: .whitespaces)
            guard let id = Int(trimmed), id >= 0, id < tokenizer.vocabularySize, tokenizer.tokenString(id: id) != nil
            else {
                throw ValidationError(
                    "--token-ids: \(String(trimmed).debugDescription) is not an id of this vocabulary "
                        + "(0..<\(tokenizer.vocabularySize))")
            }
            ids.append(id)
        }
        let text = tokenizer.decode(ids, skipSpecialTokens: skipSpecialTokens)
        print(JSONValue.object(JSONObject([("text", .string(text))])).pythonDumps())
    }
}
