import JSON

/// Mutations of JSON documents for the loader fuzz tests (safetensors headers, tokenizer.json, config.json).
///
/// Byte mutations mostly give text that no longer parses, which only tests the parser; tree mutations keep the
/// document valid JSON and put adversarial values (huge, negative and fractional numbers, wrong types, deep
/// nesting, long strings) where the loader expects sizes, offsets and ids. Deterministic for a given generator.
public enum JSONMutation {
    /// What a hostile file puts where a size, an offset or an id belongs.
    public static let adversarialValues: [JSONValue] = [
        -1, 0, 1, 2, 255, 65_536, 16_777_216, 4_294_967_295, 4_294_967_296, .number(.int(1 << 40)), .number(.int(Int64.max)),
        .number(.int(Int64.min)), .number(.int(Int64.max - 7)), .number(.bigInt("18446744073709551616")),
        .number(.bigInt("-99999999999999999999999")), 1e308, -1e308, 0.5, -0.0, 1e-320, "", "F32", "BF16",
        .string(String(repeating: "\u{0120}", count: 300)), true, false, nil, [], [:], [-1, -1], [0, .number(.int(Int64.max))],
        deeplyNested(200), deeplyNested(60),
    ]

    /// `depth` nested arrays around a 1: past the parser's limit (64) it is an error, below it a wrong type.
    public static func deeplyNested(_ depth: Int) -> JSONValue {
        var value: JSONValue = 1
        for _ in 0..<depth { value = [value] }
        return value
    }

    /// One to three tree or byte mutations of `document`, returned as text.
    public static func mutate(_ document: JSONValue, using generator: inout SplitMix) -> [UInt8] {
        var value = document
        let treeSteps = 1 + generator.below(3)
        for _ in 0..<treeSteps { value = mutateTree(value, using: &generator) }
        var bytes = Array(value.compactJSON().utf8)
        if generator.below(4) == 0 { bytes = mutateBytes(bytes, using: &generator) }
        return bytes
    }

    /// Replaces the node at a random pre-order position with an adversarial value, removes an object member or
    /// array element, or duplicates an element.
    public static func mutateTree(_ value: JSONValue, using generator: inout SplitMix) -> JSONValue {
        var target = generator.below(nodeCount(value))
        return rewrite(value, target: &target, using: &generator)
    }

    /// A byte flip, a random byte, a truncation or an insertion.
    public static func mutateBytes(_ input: [UInt8], using generator: inout SplitMix) -> [UInt8] {
        var bytes = input
        guard !bytes.isEmpty else { return bytes }
        switch generator.below(4) {
        case 0: bytes[generator.below(bytes.count)] ^= UInt8(1 << generator.below(8))
        case 1: bytes[generator.below(bytes.count)] = UInt8(truncatingIfNeeded: generator.next())
        case 2: bytes = Array(bytes.prefix(generator.below(bytes.count + 1)))
        default:
            let filler = [UInt8](repeating: UInt8(truncatingIfNeeded: generator.next()), count: 1 + generator.below(8))
            bytes.insert(contentsOf: filler, at: generator.below(bytes.count + 1))
        }
        return bytes
    }

    private static func nodeCount(_ value: JSONValue) -> Int {
        switch value {
        case .array(let elements): return 1 + elements.reduce(0) { $0 + nodeCount($1) }
        case .object(let object): return 1 + object.values.reduce(0) { $0 + nodeCount($1) }
        default: return 1
        }
    }

    // `target` counts down in pre-order; the node where it reaches zero is mutated.
    private static func rewrite(_ value: JSONValue, target: inout Int, using generator: inout SplitMix) -> JSONValue {
        if target == 0 {
            target = -1
            return replacement(for: value, using: &generator)
        }
        target -= 1
        switch value {
        case .array(let elements):
            var result: [JSONValue] = []
            result.reserveCapacity(elements.count)
            for element in elements {
                result.append(target >= 0 ? rewrite(element, target: &target, using: &generator) : element)
            }
            return .array(result)
        case .object(let object):
            var result = JSONObject()
            for member in object {
                result[member.key] = target >= 0 ? rewrite(member.value, target: &target, using: &generator) : member.value
            }
            return .object(result)
        default:
            return value
        }
    }

    private static func replacement(for value: JSONValue, using generator: inout SplitMix) -> JSONValue {
        switch (value, generator.below(5)) {
        case (.object(var object), 0) where !object.isEmpty:
            object[object.keys[generator.below(object.count)]] = nil
            return .object(object)
        case (.array(var elements), 0) where !elements.isEmpty:
            elements.remove(at: generator.below(elements.count))
            return .array(elements)
        case (.array(let elements), 1) where !elements.isEmpty:
            return .array(elements + [elements[generator.below(elements.count)]])
        default:
            return adversarialValues[generator.below(adversarialValues.count)]
        }
    }
}
