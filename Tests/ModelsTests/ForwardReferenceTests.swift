import Foundation
import Models
import Testing

@Suite("Forward pass against the PyTorch reference (f32 mode)")
struct ForwardReferenceTests {
    @Test("last-position logits of every prompt within 1e-3", arguments: ReferenceFixture.names)
    func lastLogits(name: String) throws {
        let fixture = try ReferenceFixture.load(name)
        let model = try LingModel(directory: fixture.directory, threadCount: 1)
        for prompt in fixture.prompts {
            let ids = ints(prompt["input_ids"])
            let f32 = prompt["f32"] as? [String: Any] ?? [:]
            let out = try Session(model: model).run(ids)
            let error = maxAbsDifference(out.row(0), floats(f32["last_logits"]))
            #expect(error <= 1e-3, "\(name) prompt \(prompt["name"] ?? ""): max abs error \(error)")
        }
    }

    @Test("all-position logits and MTP valid rows within 1e-3", arguments: ReferenceFixture.names)
    func allPositions(name: String) throws {
        let fixture = try ReferenceFixture.load(name)
        let model = try LingModel(directory: fixture.directory, threadCount: 1)
        let ids = ints(fixture.allPositions["input_ids"])
        let f32 = fixture.allPositions["f32"] as? [String: Any] ?? [:]
        let expected = floatRows(f32["logits"])
        let session = try Session(model: model)
        let out = try session.run(ids, all: true, hidden: true)
        #expect(out.rowCount == ids.count && expected.count == ids.count)
        for t in 0..<min(out.rowCount, expected.count) {
            let error = maxAbsDifference(out.row(t), expected[t])
            #expect(error <= 1e-3, "\(name) position \(t): max abs error \(error)")
        }
        let mtpExpected = floatRows(f32["mtp_logits_valid_rows"])
        let mtp = try session.mtp(tokens: ids, hidden: out.hidden)
        #expect(mtp.rowCount == ids.count - 1 && mtpExpected.count == ids.count - 1)
        for t in 0..<min(mtp.rowCount, mtpExpected.count) {
            let error = maxAbsDifference(mtp.row(t), mtpExpected[t])
            #expect(error <= 1e-3, "\(name) MTP row \(t): max abs error \(error)")
        }
    }

    @Test("routing identical to debug_short_prompt_f64 (MoE layers and MTP)", arguments: ReferenceFixture.names)
    func routing(name: String) throws {
        let fixture = try ReferenceFixture.load(name)
        let model = try LingModel(directory: fixture.directory, threadCount: 1)
        let ids = ints(fixture.allPositions["input_ids"])
        nonisolated(unsafe) var seen: [Int: [Int32]] = [:]
        model.routingObserver = { layer, experts, _ in seen[layer] = experts }
        let session = try Session(model: model)
        let out = try session.run(ids, all: true, hidden: true)
        // The reference's MTP pass covers every row, the last one with token 0 (roll fill).
        _ = try model.forwardMTP(.single(tokens: (ids.dropFirst() + [0]).map { Int32($0) }, startPosition: 0,
                                         blockTable: session.table), hidden: out.hidden, kv: session.kv)
        let routing = fixture.debug["routing"] as? [[String: Any]] ?? []
        #expect(routing.count == model.config.layerCount - model.config.firstDenseLayerCount + 1)
        for entry in routing {
            let label = entry["layer"] as? String ?? ""
            let layer = label == "mtp" ? model.config.layerCount : Int(label.dropFirst("layer".count)) ?? -1
            let expected = (entry["expert_ids"] as? [Any] ?? []).map(ints)
            let k = model.config.expertsPerToken
            let actual = seen[layer] ?? []
            #expect(actual.count == expected.count * k, "\(name) \(label): no routing recorded")
            for t in 0..<min(expected.count, actual.count / k) {
                #expect(actual[(t * k)..<((t + 1) * k)].map { Int($0) } == expected[t], "\(name) \(label) token \(t)")
            }
        }
    }

    @Test("greedy ids: recomputed and incremental with the KV cache", arguments: ReferenceFixture.names)
    func greedy(name: String) throws {
        let fixture = try ReferenceFixture.load(name)
        let model = try LingModel(directory: fixture.directory, threadCount: 1)
        for prompt in fixture.prompts {
            let ids = ints(prompt["input_ids"])
            let f32 = prompt["f32"] as? [String: Any] ?? [:]
            let expected = ints(f32["greedy_ids"])
            #expect(expected.count == 16)
            var recomputed: [Int] = []
            for _ in 0..<expected.count {
                let out = try Session(model: model).run(ids + recomputed)
                recomputed.append(argmax(out.row(0)))
            }
            #expect(recomputed == expected, "\(name) \(prompt["name"] ?? ""): recomputed greedy")
            let session = try Session(model: model)
            var incremental: [Int] = []
            var out = try session.run(ids)
            for step in 0..<expected.count {
                let next = argmax(out.row(0))
                incremental.append(next)
                if step + 1 < expected.count { out = try session.run([next], start: ids.count + step) }
            }
            #expect(incremental == expected, "\(name) \(prompt["name"] ?? ""): incremental greedy")
        }
    }

    @Test("MTP draft after the first greedy token", arguments: ReferenceFixture.names)
    func mtpDraft(name: String) throws {
        let fixture = try ReferenceFixture.load(name)
        let model = try LingModel(directory: fixture.directory, threadCount: 1)
        for prompt in fixture.prompts {
            let ids = ints(prompt["input_ids"])
            let f32 = prompt["f32"] as? [String: Any] ?? [:]
            let draft = f32["mtp_draft"] as? [String: Any] ?? [:]
            let tokens = ids + [ints(f32["greedy_ids"])[0]]
            let session = try Session(model: model)
            let out = try session.run(tokens, hidden: true)
            let mtp = try session.mtp(tokens: tokens, hidden: out.hidden)
            let position = (draft["position"] as? NSNumber)?.intValue ?? -1
            #expect(position == ids.count - 1)
            let error = maxAbsDifference(mtp.row(ids.count - 1), floats(draft["logits"]))
            #expect(error <= 1e-3, "\(name) \(prompt["name"] ?? ""): MTP draft max abs error \(error)")
        }
    }
}
