import Foundation
import JSON

/// A model's chat template with its special tokens, loaded from `tokenizer_config.json` (and
/// `special_tokens_map.json`), rendering conversations as transformers' `apply_chat_template(tokenize=False)` does.
public struct ChatTemplate: Sendable {
    /// The template used without tools ("default", or the only one).
    public let defaultTemplate: Template
    /// The "tool_use" template, when the config has named templates and one of them is called that.
    public let toolUseTemplate: Template?
    /// Special token strings passed to the template (`bos_token`, `eos_token`, `pad_token`, ...).
    public let specialTokens: [String: String]

    public init(defaultTemplate: Template, toolUseTemplate: Template? = nil, specialTokens: [String: String] = [:]) {
        self.defaultTemplate = defaultTemplate
        self.toolUseTemplate = toolUseTemplate
        self.specialTokens = specialTokens
    }

    /// Loads `tokenizer_config.json` (and `special_tokens_map.json` when present) from a model directory.
    /// A `chat_template.jinja` file next to them takes precedence over the config's `chat_template`, as in
    /// recent transformers.
    public init(modelDirectory: URL) throws(TemplateError) {
        let configURL = modelDirectory.appendingPathComponent("tokenizer_config.json")
        let config = try ChatTemplate.readObject(configURL)
        var specialTokens: [String: String] = [:]
        let mapURL = modelDirectory.appendingPathComponent("special_tokens_map.json")
        if FileManager.default.fileExists(atPath: mapURL.path) {
            specialTokens = ChatTemplate.specialTokens(in: try ChatTemplate.readObject(mapURL))
        }
        for (key, value) in ChatTemplate.specialTokens(in: config) { specialTokens[key] = value }
        let jinjaURL = modelDirectory.appendingPathComponent("chat_template.jinja")
        if let text = try? String(contentsOf: jinjaURL, encoding: .utf8) {
            do {
                self.init(defaultTemplate: try Template(text), specialTokens: specialTokens)
            } catch {
                throw TemplateError("\(jinjaURL.path): \(error.description)")
            }
            return
        }
        try self.init(tokenizerConfig: config, specialTokens: specialTokens, source: configURL.path)
    }

    /// Builds from a parsed `tokenizer_config.json`: `chat_template` is a string or a list of `{name, template}`.
    public init(tokenizerConfig config: JSONObject, specialTokens: [String: String]? = nil, source: String = "tokenizer_config.json") throws(TemplateError) {
        let tokens = specialTokens ?? ChatTemplate.specialTokens(in: config)
        func parse(_ text: String, _ field: String) throws(TemplateError) -> Template {
            do {
                return try Template(text)
            } catch {
                throw TemplateError("\(source): \(field): \(error.description)")
            }
        }
        switch config["chat_template"] {
        case .string(let text)?:
            self.init(defaultTemplate: try parse(text, "chat_template"), specialTokens: tokens)
        case .array(let entries)?:
            var named: [String: String] = [:]
            for (position, entry) in entries.enumerated() {
                guard let name = entry["name"]?.stringValue, let text = entry["template"]?.stringValue else {
                    throw TemplateError("\(source): chat_template[\(position)] must be an object with string 'name' and 'template'")
                }
                named[name] = text
            }
            guard let defaultText = named["default"] ?? (named.count == 1 ? named.values.first : nil) else {
                throw TemplateError("\(source): chat_template has no template named 'default' (found: \(named.keys.sorted().joined(separator: ", ")))")
            }
            let toolUse = try named["tool_use"].map { text throws(TemplateError) in try parse(text, "chat_template[tool_use]") }
            self.init(defaultTemplate: try parse(defaultText, "chat_template[default]"), toolUseTemplate: toolUse, specialTokens: tokens)
        case nil:
            throw TemplateError("\(source): no 'chat_template' field (and no chat_template.jinja)")
        case let other?:
            throw TemplateError("\(source): 'chat_template' must be a string or a list, found \(other.compactJSON().prefix(40))")
        }
    }

    /// Renders a conversation. `messages` and `tools` are passed to the template as the client sent them (key order
    /// kept); `extra` adds template variables (such as `enable_thinking`) and may override special tokens, but not
    /// `messages`, `tools`, `documents` or `add_generation_prompt` (an error, as in transformers). Messages are
    /// prepared like transformers 5.x does (see `prepare`). `now` fixes `strftime_now`.
    public func render(
        messages: [JSONValue], tools: [JSONValue]? = nil, addGenerationPrompt: Bool = true, extra: JSONObject = JSONObject(),
        now: Int? = nil
    ) throws(TemplateError) -> String {
        guard !messages.isEmpty else {
            throw TemplateError("Cannot apply chat template to an empty conversation. Provide at least one message.")
        }
        var variables = JSONObject()
        for (key, value) in specialTokens.sorted(by: { $0.key < $1.key }) { variables[key] = .string(value) }
        var prepared: [JSONValue] = []
        for (position, message) in messages.enumerated() {
            guard let object = message.objectValue else {
                throw TemplateError("messages[\(position)] must be an object, found \(message.compactJSON().prefix(40))")
            }
            prepared.append(.object(ChatTemplate.prepare(object)))
        }
        variables["messages"] = .array(prepared)
        variables["tools"] = tools.map(JSONValue.array) ?? .null
        variables["documents"] = .null
        variables["add_generation_prompt"] = .bool(addGenerationPrompt)
        for member in extra {
            // transformers passes these as explicit arguments next to **kwargs, so Python rejects duplicates.
            if ["messages", "tools", "documents", "add_generation_prompt"].contains(member.key) {
                throw TemplateError("got multiple values for template variable '\(member.key)'")
            }
            variables[member.key] = member.value
        }
        let template = (tools != nil ? toolUseTemplate : nil) ?? defaultTemplate
        return try template.render(variables, now: now)
    }

    /// What transformers (5.x) does to each message before rendering: keys whose value is null are dropped (so the
    /// template sees them as undefined), and a reasoning text given as `reasoning_content`, `thinking` or `reasoning`
    /// is exposed under both `thinking` (first key) and `reasoning_content`.
    static func prepare(_ message: JSONObject) -> JSONObject {
        var kept = JSONObject()
        for member in message where member.value != .null { kept[member.key] = member.value }
        let reasoningKeys = ["reasoning_content", "thinking", "reasoning"]
        guard let reasoning = reasoningKeys.lazy.compactMap({ kept[$0] }).first else { return kept }
        var aliased = JSONObject()
        aliased["thinking"] = reasoning
        for member in kept { aliased[member.key] = member.value }
        aliased["reasoning_content"] = reasoning
        return aliased
    }

    /// Names of the special tokens transformers passes to templates (`SPECIAL_TOKENS_ATTRIBUTES`).
    public static let specialTokenNames = ["bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"]

    /// The named special tokens (`specialTokenNames`) that are strings or AddedToken objects (`{"content": ...}`).
    public static func specialTokens(in object: JSONObject) -> [String: String] {
        var tokens: [String: String] = [:]
        for member in object where specialTokenNames.contains(member.key) {
            if let text = member.value.stringValue {
                tokens[member.key] = text
            } else if let content = member.value["content"]?.stringValue {
                tokens[member.key] = content
            }
        }
        return tokens
    }

    private static func readObject(_ url: URL) throws(TemplateError) -> JSONObject {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw TemplateError("cannot read \(url.path): \(error.localizedDescription)")
        }
        do {
            guard let object = try JSONParser.parse(Array(data), limits: JSONParser.Limits(maxDepth: 256)).objectValue else {
                throw TemplateError("\(url.path): expected a JSON object")
            }
            return object
        } catch let error as JSONError {
            throw TemplateError("\(url.path): invalid JSON at byte \(error.offset): \(error.description)")
        } catch let error as TemplateError {
            throw error
        } catch {
            throw TemplateError("\(url.path): \(error)")
        }
    }
}
