/// Reads the `model` section (type BPE) of tokenizer.json.
enum BPEModelLoader {
    static func vocabulary(_ node: JSONNode) throws -> [String: Int] {
        let type = try node.string("type", default: "BPE")
        guard type == "BPE" else { throw TokenizerError("\(node.path).type: unsupported model \(type.debugDescription)") }
        var vocabulary: [String: Int] = [:]
        let vocabNode = try node.required("vocab")
        guard case .object(let object) = vocabNode.value else {
            throw TokenizerError("\(vocabNode.path): expected an object of token -> id")
        }
        vocabulary.reserveCapacity(object.count)
        for member in object {
            guard case .number(.int(let value)) = member.value, value >= 0, value <= TokenizerLoader.maxTokenId else {
                throw TokenizerError(
                    "\(vocabNode.path).\(member.key.debugDescription): expected an integer id in 0...\(TokenizerLoader.maxTokenId)")
            }
            vocabulary[member.key] = Int(value)
        }
        return vocabulary
    }

    static func load(_ node: JSONNode, vocabulary: [String: Int], isByteLevel: Bool) throws -> BPEModel {
        if let prefix = node["continuing_subword_prefix"], try !prefix.string().isEmpty {
            throw TokenizerError("\(prefix.path): continuing_subword_prefix is not supported")
        }
        if let suffix = node["end_of_word_suffix"], try !suffix.string().isEmpty {
            throw TokenizerError("\(suffix.path): end_of_word_suffix is not supported")
        }
        let byteFallback = try node.bool("byte_fallback", default: false)
        let ignoreMerges = try node.bool("ignore_merges", default: false)
        let fuseUnknown = try node.bool("fuse_unk", default: false)
        var unknownId: UInt32? = nil
        if let unknownNode = node["unk_token"] {
            let unknown = try unknownNode.string()
            guard let id = vocabulary[unknown] else {
                throw TokenizerError("\(unknownNode.path): \(unknown.debugDescription) is not in the vocabulary")
            }
            unknownId = UInt32(id)
        }

        var idsByBytes: [[UInt8]: UInt32] = [:]
        idsByBytes.reserveCapacity(vocabulary.count)
        var byteIds = [Int32](repeating: -1, count: 256)
        for (token, id) in vocabulary {
            if isByteLevel {
                guard let bytes = ByteLevelAlphabet.decode(token) else { continue }
                idsByBytes[bytes] = UInt32(id)
                if bytes.count == 1 { byteIds[Int(bytes[0])] = Int32(id) }
            } else {
                idsByBytes[Array(token.utf8)] = UInt32(id)
            }
        }
        var fallbackIds: [Int32] = []
        if byteFallback {
            fallbackIds = (0..<256).map { byte in
                let name = "<0x" + (byte < 16 ? "0" : "") + String(byte, radix: 16, uppercase: true) + ">"
                return vocabulary[name].map { Int32($0) } ?? -1
            }
        }

        let mergesNode = try node.required("merges")
        let mergeList = try mergesNode.array()
        var merges = PairRankTable(expectedCount: mergeList.count)
        for (rank, entry) in mergeList.enumerated() {
            let left: String
            let right: String
            if case .string(let text) = entry.value {
                let parts = text.split(separator: " ", omittingEmptySubsequences: false)
                guard parts.count == 2 else {
                    throw TokenizerError("\(entry.path): expected \"left right\", got \(text.debugDescription)")
                }
                left = String(parts[0])
                right = String(parts[1])
            } else if case .array(let pair) = entry.value, pair.count == 2, case .string(let first) = pair[0],
                case .string(let second) = pair[1]
            {
                left = first
                right = second
            } else {
                throw TokenizerError("\(entry.path): expected a \"left right\" string or a [left, right] pair")
            }
            guard let leftId = vocabulary[left], let rightId = vocabulary[right] else {
                throw TokenizerError("\(entry.path): \(left.debugDescription) or \(right.debugDescription) not in vocab")
            }
            guard let mergedId = vocabulary[left + right] else {
                throw TokenizerError("\(entry.path): merged token \((left + right).debugDescription) not in vocab")
            }
            merges.insert(left: UInt32(leftId), right: UInt32(rightId), rank: UInt32(rank), merged: UInt32(mergedId))
        }
        return BPEModel(
            byteIds: byteIds, fallbackIds: fallbackIds, idsByBytes: idsByBytes, merges: merges, isByteLevel: isByteLevel,
            ignoreMerges: ignoreMerges, unknownId: unknownId, fuseUnknown: fuseUnknown)
    }
}
