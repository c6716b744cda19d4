import OpenAIAPI
import Testing

@testable import APIServer

/// However the output is cut into engine steps, the non-streaming message must be the same (streaming and
/// non-streaming agree by construction, so this also checks the streamed deltas).
@Suite("Output does not depend on step boundaries")
struct ChunkingInvarianceTests {
    static let outputs: [String] = [
        "Sure.\n\n<tool_call>\n{\"name\": \"read_file\", \"arguments\": {\"path\": \"a \\\"b\\\" }.py\"}}\n</tool_call>\n<tool_call>\n{\"arguments\": [1, {\"x\": null}], \"name\": \"g\"}\n</tool_call>",
        "<think>\nplan: call\n\n</think>\n\n<tool_call>{\"name\": \"f\", \"arguments\": \"{\\\"k\\\": 1}\"}</tool_call> trailing",
        "text <tool_call>{\"bad\": true}</tool_call> more STOP never",
        "  <think>\n\nonly thinking\n\n",
        "héllo wörld STOP",
    ]

    private func message(_ output: String, cuts: [Int]) -> (ChatChoiceOutput, Int) {
        let bytes = Array(output.utf8)
        var machine = ChatChoiceMachine(
            index: 0, options: ChatOutputOptions(stop: ["STOP"], parseToolCalls: true), makeCallID: { "call_x" })
        var accumulator = ChatChoiceAccumulator()
        var start = 0
        let bounds = (cuts + [bytes.count]).filter { $0 > 0 && $0 <= bytes.count }.sorted()
        for (position, end) in bounds.enumerated() where end > start {
            // Cut only at character boundaries, as the incremental decoder does.
            var cut = end
            while cut < bytes.count && (bytes[cut] & 0xC0) == 0x80 { cut += 1 }
            guard cut > start else { continue }
            let last = position == bounds.count - 1 || cut == bytes.count
            accumulator.add(machine.step([GeneratedPiece(text: Array(bytes[start..<cut]))], finish: last ? .length : nil))
            start = cut
            if machine.isFinished { break }
        }
        if !machine.isFinished { accumulator.add(machine.step([], finish: .length)) }
        return (accumulator.output(index: 0, sawReasoning: machine.sawReasoning, logprobsRequested: false), machine.completionTokenCount)
    }

    @Test("Every two-cut split gives the one-step message", arguments: outputs)
    func invariance(_ output: String) {
        let (reference, _) = message(output, cuts: [])
        let count = output.utf8.count
        for first in stride(from: 1, to: count, by: 1) {
            for second in stride(from: first + 1, to: count, by: 3) {
                let (split, _) = message(output, cuts: [first, second])
                #expect(split.content == reference.content, "cuts \(first), \(second)")
                #expect(split.reasoningContent == reference.reasoningContent, "cuts \(first), \(second)")
                #expect(split.toolCalls == reference.toolCalls, "cuts \(first), \(second)")
                #expect(split.finishReason == reference.finishReason, "cuts \(first), \(second)")
                if split != reference { return }
            }
        }
    }

    @Test("The reference messages are what the contract says")
    func references() {
        let (tools, _) = message(Self.outputs[0], cuts: [])
        #expect(tools.content == "Sure.")
        #expect(tools.toolCalls == [
            ToolCallOutput(id: "call_x", name: "read_file", arguments: "{\"path\": \"a \\\"b\\\" }.py\"}"),
            ToolCallOutput(id: "call_x", name: "g", arguments: "[1, {\"x\": null}]"),
        ])
        #expect(tools.finishReason == .length)  // the harness ends every run with "length"
        let (thinking, _) = message(Self.outputs[1], cuts: [])
        #expect(thinking.reasoningContent == "plan: call")
        #expect(thinking.toolCalls.map(\.arguments) == ["{\"k\": 1}"])
        #expect(thinking.content == " trailing")
        let (bad, _) = message(Self.outputs[2], cuts: [])
        #expect(bad.content == "text<tool_call>{\"bad\": true}</tool_call> more")
        #expect(bad.finishReason == .stop)
        let (only, _) = message(Self.outputs[3], cuts: [])
        #expect(only.reasoningContent == "only thinking" && only.content == "")
        let (plain, _) = message(Self.outputs[4], cuts: [])
        #expect(plain.content == "héllo wörld ")
    }
}
