/// The `decoder` section of tokenizer.json: turns token strings back into text (`Decoder::decode_chain`).
indirect enum TokenDecoder: Sendable {
    case byteLevel
    case metaspace(replacement: String, prependScheme: MetaspacePrependScheme)
    case byteFallback
    case fuse
    case strip(content: Unicode.Scalar, start: Int, stop: Int)
    case replace(pattern: String, content: String)
    case sequence([TokenDecoder])

    func decodeChain(_ tokens: [String]) -> [String] {
        switch self {
        case .byteLevel:
            var bytes: [UInt8] = []
            for token in tokens {
                if let raw = ByteLevelAlphabet.decode(token) {
                    bytes.append(contentsOf: raw)
                } else {
                    bytes.append(contentsOf: token.utf8)
                }
            }
            return [String(decoding: bytes, as: UTF8.self)]
        case .metaspace(let replacement, let prependScheme):
            return tokens.enumerated().map { index, token in
                var text = token.replacingAll(replacement, with: " ")
                if index == 0 && prependScheme != .never && text.hasPrefix(" ") { text.removeFirst() }
                return text
            }
        case .byteFallback:
            var result: [String] = []
            var pendingBytes: [UInt8] = []
            func flush() {
                guard !pendingBytes.isEmpty else { return }
                if let valid = String(validating: pendingBytes, as: UTF8.self) {
                    result.append(valid)
                } else {
                    result.append(contentsOf: Array(repeating: "\u{FFFD}", count: pendingBytes.count))
                }
                pendingBytes.removeAll()
            }
            for token in tokens {
                if let byte = Self.fallbackByte(token) {
                    pendingBytes.append(byte)
                } else {
                    flush()
                    result.append(token)
                }
            }
            flush()
            return result
        case .fuse:
            return [tokens.joined()]
        case .strip(let content, let start, let stop):
            return tokens.map { token in
                let scalars = Array(token.unicodeScalars)
                var startCut = 0
                while startCut < min(start, scalars.count) && scalars[startCut] == content { startCut += 1 }
                var stopCut = scalars.count
                var taken = 0
                while taken < stop && stopCut > startCut && scalars[stopCut - 1] == content {
                    stopCut -= 1
                    taken += 1
                }
                var view = String.UnicodeScalarView()
                view.append(contentsOf: scalars[startCut..<stopCut])
                return String(view)
            }
        case .replace(let pattern, let content):
            return tokens.map { $0.replacingAll(pattern, with: content) }
        case .sequence(let decoders):
            var current = tokens
            for decoder in decoders { current = decoder.decodeChain(current) }
            return current
        }
    }

    /// `<0xAB>` -> 0xAB.
    private static func fallbackByte(_ token: String) -> UInt8? {
        let utf8 = Array(token.utf8)
        guard utf8.count == 6, utf8[0] == 0x3C, utf8[1] == 0x30, utf8[2] == 0x78, utf8[5] == 0x3E else { return nil }
        return UInt8(String(decoding: utf8[3..<5], as: UTF8.self), radix: 16)
    }
}

extension String {
    /// Literal replacement on Unicode scalars (not grapheme-aware comparison, which would be wrong for tokens).
    func replacingAll(_ pattern: String, with replacement: String) -> String {
        let source = Array(utf8)
        let needle = Array(pattern.utf8)
        guard !needle.isEmpty, source.count >= needle.count else { return self }
        var result: [UInt8] = []
        result.reserveCapacity(source.count)
        var position = 0
        while position < source.count {
            if position + needle.count <= source.count && source[position] == needle[0]
                && source[position..<(position + needle.count)].elementsEqual(needle)
            {
                result.append(contentsOf: replacement.utf8)
                position += needle.count
            } else {
                result.append(source[position])
                position += 1
            }
        }
        return String(decoding: result, as: UTF8.self)
    }
}
