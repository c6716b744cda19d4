import Foundation
import JSON
import Testing

@testable import ChatTemplates

/// The differential corpus (Fixtures/snippet_cases.json, from scripts/templates/expression_cases.py): expressions,
/// statements, whitespace-control combinations and syntax errors, each rendered by jinja2 through transformers.
@Suite("Template snippet goldens")
struct SnippetGoldenTests {
    @Test("Snippets render byte-identically, fail where jinja2 fails, and syntax errors name line and column")
    func snippets() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/snippet_cases.json")
        let document = try JSONParser.parse(Array(try Data(contentsOf: url)))
        var specialTokens: [String: String] = [:]
        for member in document["special_tokens"]?.objectValue ?? JSONObject() { specialTokens[member.key] = member.value.stringValue }
        let extra = document["extra"]?.objectValue ?? JSONObject()
        let cases = document["cases"]?.arrayValue ?? []
        #expect(cases.count > 1500)
        var failures = 0
        for testCase in cases {
            guard let source = testCase["source"]?.stringValue, let kind = testCase["kind"]?.stringValue else { continue }
            let expected = testCase["expected"]?.stringValue
            let expectedError = testCase["error"]?.stringValue
            let label = "\(kind): \(source.debugDescription)"
            let template: ChatTemplate
            do {
                template = ChatTemplate(defaultTemplate: try Template(source), specialTokens: specialTokens)
            } catch {
                if kind == "syntax" {
                    #expect(error.description.contains("line "), "\(label): \(error.description)")
                } else if expectedError == nil {
                    failures += 1
                    Issue.record("\(label): parse failed: \(error.description)")
                }
                continue
            }
            do {
                let rendered = try template.render(messages: [["role": "user", "content": "Hi"]], addGenerationPrompt: true, extra: extra)
                if let expected {
                    if rendered != expected { failures += 1 }
                    #expect(rendered == expected, "\(label)")
                } else {
                    failures += 1
                    Issue.record("\(label): rendered \(rendered.debugDescription), jinja2 failed with \(expectedError ?? "")")
                }
            } catch {
                if expected != nil {
                    failures += 1
                    Issue.record("\(label): unexpected error \(error.description)")
                } else if let expectedError, expectedError.hasPrefix("TemplateError: ") {
                    #expect(error.description == String(expectedError.dropFirst("TemplateError: ".count)), "\(label)")
                }
            }
        }
        #expect(failures == 0)
    }
}
