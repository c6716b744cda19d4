import Foundation
import JSON
import Testing

@testable import ChatTemplates

/// Byte identity with transformers' `apply_chat_template` (jinja2) for every case in Fixtures/chat_cases.json,
/// made by scripts/templates/make_chat_goldens.py.
@Suite("Chat template goldens")
struct ChatTemplateGoldenTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    struct Golden {
        let template: String
        let title: String
        let messages: [JSONValue]
        let tools: [JSONValue]?
        let addGenerationPrompt: Bool
        let extra: JSONObject
        let expected: String?
        let error: String?
    }

    static func load() throws -> (specialTokens: [String: String], cases: [Golden]) {
        let data = try Data(contentsOf: fixtures.appendingPathComponent("chat_cases.json"))
        let document = try JSONParser.parse(Array(data))
        var specialTokens: [String: String] = [:]
        for member in document["special_tokens"]?.objectValue ?? JSONObject() {
            specialTokens[member.key] = member.value.stringValue
        }
        let cases = (document["cases"]?.arrayValue ?? []).map { value in
            Golden(
                template: value["template"]?.stringValue ?? "", title: value["title"]?.stringValue ?? "",
                messages: value["messages"]?.arrayValue ?? [], tools: value["tools"]?.arrayValue,
                addGenerationPrompt: value["add_generation_prompt"]?.boolValue ?? false,
                extra: value["extra"]?.objectValue ?? JSONObject(),
                expected: value["expected"]?.stringValue, error: value["error"]?.stringValue)
        }
        return (specialTokens, cases)
    }

    @Test("Every golden renders byte-identically (or fails where jinja2 fails)")
    func goldens() throws {
        let (specialTokens, cases) = try Self.load()
        #expect(cases.count >= 100)
        #expect(cases.filter { $0.template == "ling" }.count >= 30)
        var templates: [String: ChatTemplate] = [:]
        var mismatches = 0
        for golden in cases {
            if templates[golden.template] == nil {
                let url = Self.fixtures.appendingPathComponent("templates/\(golden.template).jinja")
                let text = try String(contentsOf: url, encoding: .utf8)
                templates[golden.template] = ChatTemplate(defaultTemplate: try Template(text), specialTokens: specialTokens)
            }
            guard let template = templates[golden.template] else { continue }
            let label = "[\(golden.template)] \(golden.title)"
            do {
                let rendered = try template.render(
                    messages: golden.messages, tools: golden.tools, addGenerationPrompt: golden.addGenerationPrompt,
                    extra: golden.extra)
                if let expected = golden.expected {
                    if rendered != expected { mismatches += 1 }
                    #expect(rendered == expected, "\(label)")
                } else {
                    Issue.record("\(label): rendered, but jinja2 failed with \(golden.error ?? "")")
                }
            } catch {
                if let expectedError = golden.error {
                    // raise_exception messages must come through unchanged.
                    if expectedError.hasPrefix("TemplateError: ") {
                        #expect(error.isRaisedByTemplate, "\(label)")
                        #expect(error.description == String(expectedError.dropFirst("TemplateError: ".count)), "\(label)")
                    }
                } else {
                    Issue.record("\(label): unexpected error \(error.description)")
                }
            }
        }
        #expect(mismatches == 0)
    }
}
