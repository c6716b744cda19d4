import Foundation
import JSON
import Testing

@testable import ChatTemplates

@Suite("Template errors and limits")
struct TemplateErrorTests {
    private func parseError(_ source: String) -> String? {
        do {
            _ = try Template(source)
            return nil
        } catch {
            return error.description
        }
    }

    private func renderError(_ source: String, _ variables: JSONObject = JSONObject()) -> TemplateError? {
        do {
            _ = try Template(source).render(variables)
            return nil
        } catch {
            return error
        }
    }

    @Test("Syntax errors name what is wrong, with line and column")
    func syntaxErrors() {
        #expect(parseError("line 1\n{% for x in xs %}\n  {{ x }}\n")
            == "syntax error at line 3, column 10: unexpected end of template: expected 'else' or 'endfor' to close the 'for' opened at line 2, column 4")
        #expect(parseError("a\nb {{ 1 + }}") == "syntax error at line 2, column 10: expected an expression, found '}}'")
        #expect(parseError("{% if x %}{% endfor %}") == "syntax error at line 1, column 14: unexpected 'endfor', expected 'elif' or 'else' or 'endif'")
        #expect(parseError("\n\n   {% frobnicate %}") == "syntax error at line 3, column 7: unknown statement 'frobnicate'")
        #expect(parseError("{{ 'open }}") == "syntax error at line 1, column 4: string literal is not closed")
        #expect(parseError("x {# never") == "syntax error at line 1, column 3: comment is not closed with '#}'")
        #expect(parseError("{{ x | }}")?.contains("expected a name as a filter name") == true)
        #expect(parseError("{% endif %}")?.contains("unexpected 'endif'") == true)
        #expect(parseError("{{ " + String(repeating: "(", count: 10_000) + "1" + String(repeating: ")", count: 10_000) + " }}")?
            .contains("nested deeper") == true)
    }

    @Test("Runtime errors name the template line; raise_exception keeps its message")
    func runtimeErrors() {
        let undefined = renderError("ok\n{{ missing.attr }}")
        #expect(undefined?.description == "template error at line 2: 'missing' is undefined")
        #expect(undefined?.isRaisedByTemplate == false)
        let raised = renderError("{% if true %}\n{{ raise_exception('Roles must alternate') }}{% endif %}")
        #expect(raised?.description == "Roles must alternate")
        #expect(raised?.isRaisedByTemplate == true)
        #expect(renderError("{{ 'a' + 1 }}")?.description.contains("unsupported operand") == true)
        #expect(renderError("{{ nofilter|frob }}")?.description.contains("no filter named 'frob'") == true)
        #expect(renderError("{{ 1 is frob }}")?.description.contains("no test named 'frob'") == true)
    }

    @Test("Limits: range size, output size, string doubling, macro recursion")
    func limits() {
        #expect(renderError("{{ range(100001)|length }}")?.description.contains("MAX_RANGE") == true)
        #expect(renderError("{% for i in range(100000) %}{{ 'x' * 1000 }}{% endfor %}")?.description.contains("exceeds") == true)
        let doubling = "{% set ns = namespace(s='x') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}"
        #expect(renderError(doubling)?.description.contains("exceeds") == true)
        #expect(renderError("{{ 'x' * 9000000000000000000 }}")?.description.contains("exceeds") == true)
        #expect(renderError("{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}")?.description.contains("nested deeper") == true)
    }

    @Test("strftime_now formats the given time")
    func strftime() throws {
        let rendered = try Template("{{ strftime_now('%Y-%m') }}").render(JSONObject(), now: 1_700_000_000)
        #expect(rendered == "2023-11")
    }
}

@Suite("ChatTemplate loading")
struct ChatTemplateLoadingTests {
    private func modelDirectory(_ files: [String: String]) throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("chat-template-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        for (name, text) in files { try Data(text.utf8).write(to: directory.appendingPathComponent(name)) }
        return directory
    }

    @Test("String template, AddedToken special tokens and special_tokens_map.json")
    func stringTemplate() throws {
        let directory = try modelDirectory([
            "tokenizer_config.json": #"{"chat_template": "{{ bos_token }}{% for m in messages %}{{ m.role }}:{{ m.content }}{{ eos_token }}{% endfor %}{% if add_generation_prompt %}A:{% endif %}", "bos_token": {"content": "<s>", "lstrip": false}, "gmask_token": "[gMASK]"}"#,
            "special_tokens_map.json": #"{"eos_token": "</s>", "bos_token": "<ignored>"}"#,
        ])
        defer { try? FileManager.default.removeItem(at: directory) }
        let template = try ChatTemplate(modelDirectory: directory)
        #expect(template.specialTokens == ["bos_token": "<s>", "eos_token": "</s>"])
        let rendered = try template.render(messages: [["role": "user", "content": "hi"]])
        #expect(rendered == "<s>user:hi</s>A:")
        #expect(try template.render(messages: [["role": "user", "content": "hi"]], addGenerationPrompt: false) == "<s>user:hi</s>")
    }

    @Test("Named templates: default, and tool_use when tools are given")
    func namedTemplates() throws {
        let config = try JSONParser.parse(#"{"chat_template": [{"name": "default", "template": "plain"}, {"name": "tool_use", "template": "tools={{ tools|length }}"}]}"#)
        let template = try ChatTemplate(tokenizerConfig: config.objectValue ?? JSONObject())
        let messages: [JSONValue] = [["role": "user", "content": "x"]]
        #expect(try template.render(messages: messages) == "plain")
        #expect(try template.render(messages: messages, tools: [["type": "function"]]) == "tools=1")
    }

    @Test("chat_template.jinja takes precedence over the config")
    func jinjaFile() throws {
        let directory = try modelDirectory([
            "tokenizer_config.json": #"{"chat_template": "from config"}"#,
            "chat_template.jinja": "from file {{ messages|length }}\n",
        ])
        defer { try? FileManager.default.removeItem(at: directory) }
        #expect(try ChatTemplate(modelDirectory: directory).render(messages: [["role": "user", "content": "x"]]) == "from file 1")
    }

    @Test("Malformed configs and templates give errors naming the file and the place")
    func malformed() throws {
        func loadError(_ files: [String: String]) throws -> String {
            let directory = try modelDirectory(files)
            defer { try? FileManager.default.removeItem(at: directory) }
            do {
                _ = try ChatTemplate(modelDirectory: directory)
                return ""
            } catch {
                return error.description
            }
        }
        #expect(try loadError([:]).contains("cannot read"))
        #expect(try loadError(["tokenizer_config.json": "{\"chat_template\": "]).contains("invalid JSON at byte 18"))
        #expect(try loadError(["tokenizer_config.json": "{}"]).contains("no 'chat_template' field"))
        #expect(try loadError(["tokenizer_config.json": #"{"chat_template": 5}"#]).contains("must be a string or a list"))
        #expect(try loadError(["tokenizer_config.json": #"{"chat_template": [{"name": "x"}]}"#]).contains("chat_template[0]"))
        let syntax = try loadError(["tokenizer_config.json": #"{"chat_template": "ok\n{% if x %}"}"#])
        #expect(syntax.contains("tokenizer_config.json: chat_template: syntax error at line 2"))
    }

    @Test("Messages are prepared like transformers: null keys dropped, reasoning aliased")
    func prepare() throws {
        let message = try JSONParser.parse(#"{"role": "assistant", "content": null, "reasoning": "r", "tool_calls": [{"id": null}]}"#)
        let prepared = ChatTemplate.prepare(message.objectValue ?? JSONObject())
        #expect(prepared.keys == ["thinking", "role", "reasoning", "tool_calls", "reasoning_content"])
        #expect(prepared["reasoning_content"] == "r")
        #expect(prepared["tool_calls"] == [["id": nil]])  // only top-level keys are dropped
        let template = ChatTemplate(defaultTemplate: try Template("{{ messages[0].content is defined }}"))
        #expect(try template.render(messages: [message]) == "False")
        #expect(throws: TemplateError.self) { _ = try template.render(messages: []) }
        #expect(throws: TemplateError.self) { _ = try template.render(messages: ["not an object"]) }
        #expect(throws: TemplateError.self) { _ = try template.render(messages: [message], extra: ["messages": []]) }
        let tokens = ChatTemplate(defaultTemplate: try Template("{{ eos_token }}{{ flag }}"), specialTokens: ["eos_token": "</s>"])
        #expect(try tokens.render(messages: [message], extra: ["eos_token": "E", "flag": true]) == "ETrue")
    }
}
