import ArgumentParser
import ChatTemplates
import Foundation
import JSON

/// `ling-serve render-chat`: renders a conversation with a model's chat template, exactly as the server builds its
/// prompts, and prints it unchanged (no newline added), so it can be diffed against transformers' output.
struct RenderChatCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "render-chat",
        abstract: "Render messages with the model's chat template and print the prompt."
    )

    @Option(help: "Model directory or Hugging Face repository (ORG/NAME[@REVISION]) holding tokenizer_config.json (and special_tokens_map.json or chat_template.jinja).")
    var model: String
    @OptionGroup var hub: HubOptions

    @Option(help: "JSON file: an array of messages, or a chat request object with \"messages\" (and \"tools\").")
    var messages: String

    @Option(help: "JSON file: an array of tools (overrides \"tools\" in the messages file).")
    var tools: String?

    @Option(name: .customLong("template-kwargs"), help: "JSON object of extra template variables, e.g. '{\"enable_thinking\": false}'.")
    var templateKwargs: String?

    @Flag(name: .customLong("no-generation-prompt"), help: "Do not append the assistant header (add_generation_prompt=false).")
    var noGenerationPrompt = false

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    mutating func validate() throws { model = try hub.resolve(model) }

    func run() throws {
        let template: ChatTemplate
        do {
            template = try ModelFiles.chatTemplate(model)
        } catch {
            throw Failure(description: "\(error)")
        }
        let input = try Self.readJSON(messages)
        var messageList: [JSONValue]
        var toolList: [JSONValue]?
        if let array = input.arrayValue {
            messageList = array
        } else if let array = input["messages"]?.arrayValue {
            messageList = array
            toolList = input["tools"]?.arrayValue
        } else {
            throw Failure(description: "\(messages): expected an array of messages or an object with a \"messages\" array")
        }
        if let tools {
            guard let array = try Self.readJSON(tools).arrayValue else { throw Failure(description: "\(tools): expected an array of tools") }
            toolList = array
        }
        var extra = JSONObject()
        if let templateKwargs {
            guard let object = try? JSONParser.parse(templateKwargs).objectValue else {
                throw Failure(description: "--template-kwargs: expected a JSON object")
            }
            extra = object
        }
        // OpenAI's `developer` role is rendered as `system` (docs/openai-compat.md section 6.1).
        messageList = messageList.map { message in
            guard var object = message.objectValue, object["role"]?.stringValue == "developer" else { return message }
            object["role"] = .string("system")
            return .object(object)
        }
        let prompt: String
        do {
            prompt = try template.render(messages: messageList, tools: toolList, addGenerationPrompt: !noGenerationPrompt, extra: extra)
        } catch {
            throw Failure(description: "rendering the chat template failed: \(error.description)")
        }
        FileHandle.standardOutput.write(Data(prompt.utf8))
    }

    private static func readJSON(_ path: String) throws -> JSONValue {
        guard let data = FileManager.default.contents(atPath: path) else { throw Failure(description: "cannot read \(path)") }
        do {
            return try JSONParser.parse(Array(data), limits: JSONParser.Limits(maxDepth: 256))
        } catch {
            throw Failure(description: "\(path): invalid JSON at byte \(error.offset): \(error.description)")
        }
    }
}
