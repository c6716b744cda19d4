import OpenAIAPI
import Testing

@testable import APIServer

/// Runs a machine over steps of text; the last step carries `finish` (EOS appended for `.stopToken`).
private func run(
    _ texts: [String], finish: GenerationFinishReason = .stopToken, options: ChatOutputOptions = ChatOutputOptions()
) -> (items: [[ChatStreamItem]], machine: ChatChoiceMachine) {
    let ids = CallIDs()
    var machine = ChatChoiceMachine(index: 0, options: options, makeCallID: { ids.next() })
    var result: [[ChatStreamItem]] = []
    for (position, text) in texts.enumerated() {
        let last = position == texts.count - 1
        var pieces = [GeneratedPiece(text: Array(text.utf8))]
        if text.isEmpty { pieces = [] }
        if last && finish == .stopToken { pieces.append(GeneratedPiece(text: [], isStopToken: true)) }
        result.append(machine.step(pieces, finish: last ? finish : nil))
        if machine.isFinished { break }
    }
    return (result, machine)
}

private final class CallIDs: Sendable {
    let counter = AtomicCounter()
    func next() -> String { "call_\(counter.next())" }
}

import Synchronization

final class AtomicCounter: Sendable {
    let value = Atomic<Int>(0)
    func next() -> Int { value.wrappingAdd(1, ordering: .relaxed).newValue }
}

private func message(_ items: [[ChatStreamItem]], machine: ChatChoiceMachine) -> ChatChoiceOutput {
    var accumulator = ChatChoiceAccumulator()
    for step in items { accumulator.add(step) }
    return accumulator.output(index: 0, sawReasoning: machine.sawReasoning, logprobsRequested: false)
}

@Suite("Chat choice machine")
struct ChatChoiceMachineTests {
    @Test("Role chunk first, one content chunk per step, finish merged with the last text")
    func plain() {
        let (items, machine) = run(["Hel", "lo"])
        #expect(items[0] == [ChatStreamItem(delta: .role), ChatStreamItem(delta: .content("Hel"))])
        #expect(items[1] == [ChatStreamItem(delta: .content("lo"), finishReason: .stop)])
        #expect(machine.completionTokenCount == 3)
    }

    @Test("A step with only EOS gives an empty finish delta")
    func eosOnly() {
        let (items, _) = run(["Hi", ""])
        #expect(items[1] == [ChatStreamItem(delta: .empty, finishReason: .stop)])
        let (first, _) = run([""])
        #expect(first[0] == [ChatStreamItem(delta: .role), ChatStreamItem(delta: .empty, finishReason: .stop)])
    }

    @Test("Length finish")
    func length() {
        let (items, _) = run(["a", "b"], finish: .length)
        #expect(items[1] == [ChatStreamItem(delta: .content("b"), finishReason: .length)])
    }

    @Test("Stop strings across steps are held back and cut, the engine is told to stop")
    func stopStrings() {
        let (items, machine) = run(["Hello EN", "D more", "never"], finish: .length, options: ChatOutputOptions(stop: ["END"]))
        #expect(items[0] == [ChatStreamItem(delta: .role), ChatStreamItem(delta: .content("Hello "))])
        #expect(items[1] == [ChatStreamItem(delta: .empty, finishReason: .stop)])
        #expect(items.count == 2)
        #expect(machine.wantsEngineStop)
        #expect(machine.completionTokenCount == 2)
        // A false alarm is released.
        let (released, _) = run(["ab E", "x"], options: ChatOutputOptions(stop: ["END"]))
        #expect(released[0].last == ChatStreamItem(delta: .content("ab ")))
        #expect(released[1] == [ChatStreamItem(delta: .content("Ex"), finishReason: .stop)])
    }

    @Test("Reasoning split: tags removed, newlines held back, never both kinds in one chunk")
    func reasoning() {
        let (items, machine) = run(["<think>\nI think", "\n", "\n</think>\n\nAnswer"])
        #expect(items[0] == [ChatStreamItem(delta: .role), ChatStreamItem(delta: .reasoning("I think"))])
        #expect(items[1] == [])
        #expect(items[2] == [ChatStreamItem(delta: .content("Answer"), finishReason: .stop)])
        let output = message(items, machine: machine)
        #expect(output.reasoningContent == "I think")
        #expect(output.content == "Answer")
        #expect(machine.reasoningTokenCount == 3)
        let (inner, _) = run(["<think>a\n", "\nb</think>c"])
        #expect(inner[0].last == ChatStreamItem(delta: .reasoning("a")))
        #expect(inner[1] == [ChatStreamItem(delta: .reasoning("\n\nb")), ChatStreamItem(delta: .content("c"), finishReason: .stop)])
    }

    @Test("Think block without </think>: all reasoning, content empty")
    func unterminatedThink() {
        let (items, machine) = run(["  <thi", "nk>\nstill thinking\n"], finish: .length)
        let output = message(items, machine: machine)
        #expect(output.reasoningContent == "still thinking")
        #expect(output.content == "")
        #expect(output.finishReason == .length)
        let (plain, plainMachine) = run(["<thinking is fun"])
        #expect(message(plain, machine: plainMachine).content == "<thinking is fun")
        #expect(message(plain, machine: plainMachine).reasoningContent == nil)
    }

    @Test("Tool calls stream with index on every delta and id/name only first; arguments concatenate exactly")
    func toolCallsStreaming() {
        let options = ChatOutputOptions(parseToolCalls: true)
        let (items, machine) = run(
            ["Let me look. \n<tool_call>\n{\"name\": \"read", "_file\", \"arguments\": {\"path\"", ": \"a.py\"}}\n</tool_call>\n<tool_call>\n{\"name\": \"ls\", \"arguments\": {}}\n</tool_call>"],
            options: options)
        let flat = items.flatMap { $0 }
        #expect(flat[0] == ChatStreamItem(delta: .role))
        #expect(flat[1] == ChatStreamItem(delta: .content("Let me look.")))
        #expect(flat[2] == ChatStreamItem(delta: .toolCallStart(index: 0, id: "call_1", name: "read_file")))
        #expect(flat[3] == ChatStreamItem(delta: .toolCallArguments(index: 0, fragment: "{\"path\"")))
        #expect(flat[4] == ChatStreamItem(delta: .toolCallArguments(index: 0, fragment: ": \"a.py\"}")))
        #expect(flat[5] == ChatStreamItem(delta: .toolCallStart(index: 1, id: "call_2", name: "ls")))
        #expect(flat[6] == ChatStreamItem(delta: .toolCallArguments(index: 1, fragment: "{}"), finishReason: .toolCalls))
        #expect(flat.count == 7)
        let output = message(items, machine: machine)
        #expect(output.content == "Let me look.")
        #expect(output.toolCalls == [
            ToolCallOutput(id: "call_1", name: "read_file", arguments: "{\"path\": \"a.py\"}"),
            ToolCallOutput(id: "call_2", name: "ls", arguments: "{}"),
        ])
        #expect(output.finishReason == .toolCalls)
    }

    @Test("String arguments, missing arguments, arguments-first order, invalid blocks, named choice")
    func toolCallVariants() {
        let options = ChatOutputOptions(parseToolCalls: true)
        let (stringItems, stringMachine) = run(
            ["<tool_call>\n{\"name\": \"f\", \"arguments\": \"{\\\"a\\\": 1}\"}\n</tool_call>"], options: options)
        let stringOutput = message(stringItems, machine: stringMachine)
        #expect(stringOutput.toolCalls.map(\.arguments) == ["{\"a\": 1}"])
        #expect(stringOutput.content == nil)

        let (missing, missingMachine) = run(["<tool_call>\n{\"name\": \"f\"}\n</tool_call>"], options: options)
        #expect(message(missing, machine: missingMachine).toolCalls.map(\.arguments) == ["{}"])

        let (nullItems, nullMachine) = run(["<tool_call>{\"name\": \"f\", \"arguments\": null}</tool_call>"], options: options)
        #expect(message(nullItems, machine: nullMachine).toolCalls.map(\.arguments) == ["{}"])

        let (reversed, reversedMachine) = run(
            ["<tool_call>\n{\"arguments\": {\"b\": [1, 2]}, \"name\": \"g\"}\n</tool_call>"], options: options)
        #expect(message(reversed, machine: reversedMachine).toolCalls == [ToolCallOutput(id: "call_1", name: "g", arguments: "{\"b\": [1, 2]}")])

        let (invalid, invalidMachine) = run(["Hi <tool_call>\n{\"nam\": 1}\n</tool_call>"], options: options)
        let invalidOutput = message(invalid, machine: invalidMachine)
        #expect(invalidOutput.toolCalls.isEmpty)
        #expect(invalidOutput.content == "Hi<tool_call>\n{\"nam\": 1}\n</tool_call>")
        #expect(invalidOutput.finishReason == .stop)

        let named = ChatOutputOptions(parseToolCalls: true, namedToolChoice: true)
        let (namedItems, namedMachine) = run(["<tool_call>{\"name\": \"f\", \"arguments\": {}}</tool_call>"], options: named)
        #expect(message(namedItems, machine: namedMachine).finishReason == .stop)

        let (cut, cutMachine) = run(["<tool_call>\n{\"name\": \"f\", \"arguments\": {\"x\": \"ab"], finish: .length, options: options)
        let cutOutput = message(cut, machine: cutMachine)
        #expect(cutOutput.toolCalls.map(\.arguments) == ["{\"x\": \"ab"])
        #expect(cutOutput.finishReason == .length)

        let (unopened, unopenedMachine) = run(["x <tool_call>{\"na"], finish: .length, options: options)
        #expect(message(unopened, machine: unopenedMachine).content == "x<tool_call>{\"na")
    }

    @Test("parallel_tool_calls false ends the choice at the first </tool_call>")
    func singleCall() {
        let options = ChatOutputOptions(parseToolCalls: true, parallelToolCalls: false)
        let (items, machine) = run(
            ["<tool_call>{\"name\": \"f\", \"arguments\": {}}</tool_call>\n<tool_call>{\"name\": \"g\"}", "</tool_call>"],
            finish: .length, options: options)
        #expect(machine.wantsEngineStop)
        #expect(items.count == 1)
        let output = message(items, machine: machine)
        #expect(output.toolCalls.map(\.name) == ["f"])
        #expect(output.finishReason == .toolCalls)
    }

    @Test("Tool-call parsing off: the text is content")
    func toolsOff() {
        let (items, machine) = run(["<tool_call>{\"name\": \"f\"}</tool_call>"])
        #expect(message(items, machine: machine).content == "<tool_call>{\"name\": \"f\"}</tool_call>")
    }

    @Test("Logprobs ride on the chunk that releases the step, never on the role chunk")
    func logprobs() {
        var machine = ChatChoiceMachine(index: 0, options: ChatOutputOptions(logprobs: true), makeCallID: { "call_x" })
        let entry = LogprobEntry(token: "a", logprob: -0.5, bytes: [97], topLogprobs: [])
        let first = machine.step([GeneratedPiece(text: [97], logprob: entry)], finish: nil)
        #expect(first[0].logprobs == nil)
        #expect(first[1].logprobs == [entry])
        let last = machine.step([GeneratedPiece(text: [], isStopToken: true)], finish: .stopToken)
        #expect(last == [ChatStreamItem(delta: .empty, logprobs: [], finishReason: .stop)])
    }
}

@Suite("Completion choice machine")
struct CompletionChoiceMachineTests {
    @Test("Echo, stop strings, legacy logprobs")
    func completion() {
        var machine = CompletionChoiceMachine(index: 0, stop: ["\n\n"], logprobs: true, echo: "Say:")
        let a = LogprobEntry(token: " hi", logprob: -1, bytes: Array(" hi".utf8), topLogprobs: [.init(token: " hi", logprob: -1, bytes: [])])
        let first = machine.step([GeneratedPiece(text: Array(" hi".utf8), logprob: a)], finish: nil)
        #expect(first.map(\.text) == ["Say: hi"])
        #expect(first[0].logprobs?.textOffset == [4])
        let second = machine.step([GeneratedPiece(text: Array("\n\nmore".utf8), logprob: a)], finish: nil)
        #expect(second.map(\.text) == [""])
        #expect(second[0].finishReason == .stop)
        #expect(machine.wantsEngineStop)
        #expect(machine.completionTokenCount == 2)
    }
}
