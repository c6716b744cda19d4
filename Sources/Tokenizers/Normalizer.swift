import Foundation

/// The `normalizer` section of tokenizer.json, applied to UTF-8 bytes.
indirect enum Normalizer: Sendable {
    case nfc, nfd, nfkc, nfkd
    case lowercase
    case replace(SplitMatcher, [UInt8])
    case prepend([UInt8])
    case strip(left: Bool, right: Bool)
    case sequence([Normalizer])

    func apply(_ text: [UInt8]) -> [UInt8] {
        switch self {
        case .nfc:
            if UnicodeNormalization.isSurelyNFC(text) { return text }
            return UnicodeNormalization.nfcChunked(text)
        case .nfd:
            return Array(String(decoding: text, as: UTF8.self).decomposedStringWithCanonicalMapping.utf8)
        case .nfkc:
            if UnicodeNormalization.isSurelyNFKC(text) { return text }
            return Array(String(decoding: text, as: UTF8.self).precomposedStringWithCompatibilityMapping.utf8)
        case .nfkd:
            return Array(String(decoding: text, as: UTF8.self).decomposedStringWithCompatibilityMapping.utf8)
        case .lowercase:
            if text.allSatisfy({ $0 < 0x80 }) {
                return text.map { ($0 &- 0x41) < 26 ? $0 | 0x20 : $0 }
            }
            return Array(String(decoding: text, as: UTF8.self).lowercased().utf8)
        case .replace(let matcher, let content):
            var result: [UInt8] = []
            result.reserveCapacity(text.count)
            text.withUnsafeBufferPointer { buffer in
                matcher.forEachSegment(buffer) { range, isMatch in
                    if isMatch { result.append(contentsOf: content) } else { result.append(contentsOf: buffer[range]) }
                }
            }
            return result
        case .prepend(let prefix):
            return text.isEmpty ? text : prefix + text
        case .strip(let left, let right):
            return text.withUnsafeBufferPointer { buffer in
                var start = 0
                var end = buffer.count
                if left {
                    while start < end {
                        let (scalar, length) = decodeScalar(buffer, start)
                        if !isWhitespaceScalar(scalar) { break }
                        start += length
                    }
                }
                if right {
                    while end > start {
                        var lead = end - 1
                        while lead > start && buffer[lead] & 0xC0 == 0x80 { lead -= 1 }
                        let (scalar, _) = decodeScalar(buffer, lead)
                        if !isWhitespaceScalar(scalar) { break }
                        end = lead
                    }
                }
                return Array(buffer[start..<end])
            }
        case .sequence(let normalizers):
            var current = text
            for normalizer in normalizers { current = normalizer.apply(current) }
            return current
        }
    }
}

/// NFC with a fast path. A boundary exists before every character that is a starter and NFC_Quick_Check=Yes, so
/// the text can be cut there and only the chunks holding other characters normalised. `isStable` lists ranges
/// known to be such characters (a subset is enough for correctness; unlisted ones are merely normalised).
enum UnicodeNormalization {
    @inline(__always)
    static func isStable(_ scalar: UInt32) -> Bool {
        scalar < 0x300 || (0x3041...0x3096).contains(scalar) || (0x30A1...0x30FA).contains(scalar)
            || (0x3400...0x4DBF).contains(scalar) || (0x4E00...0x9FFF).contains(scalar)
            || (0xAC00...0xD7A3).contains(scalar) || (0xFF01...0xFF5E).contains(scalar)
            || (0x1F300...0x1FAFF).contains(scalar) || (0x0400...0x0482).contains(scalar)
            || (0x048A...0x052F).contains(scalar) || (0x0E01...0x0E30).contains(scalar)
            || (0x2010...0x2027).contains(scalar)
    }

    static func isSurelyNFC(_ text: [UInt8]) -> Bool {
        text.withUnsafeBufferPointer { buffer in
            var position = 0
            while position < buffer.count {
                if buffer[position] < 0x80 {
                    position += 1
                    continue
                }
                let (scalar, length) = decodeScalar(buffer, position)
                if !isStable(scalar) { return false }
                position += length
            }
            return true
        }
    }

    /// NFKC is the identity on ASCII.
    static func isSurelyNFKC(_ text: [UInt8]) -> Bool { text.allSatisfy { $0 < 0x80 } }

    static func nfcChunked(_ text: [UInt8]) -> [UInt8] {
        text.withUnsafeBufferPointer { buffer in
            var result: [UInt8] = []
            result.reserveCapacity(buffer.count)
            var position = 0
            // Start of the current chunk (a stable character followed by unstable ones), or -1.
            var chunkStart = 0
            var chunkIsStable = true
            func flush(_ end: Int) {
                guard chunkStart < end else { return }
                if chunkIsStable {
                    result.append(contentsOf: buffer[chunkStart..<end])
                } else {
                    let string = String(decoding: buffer[chunkStart..<end], as: UTF8.self)
                    result.append(contentsOf: string.precomposedStringWithCanonicalMapping.utf8)
                }
            }
            while position < buffer.count {
                let (scalar, length) = decodeScalar(buffer, position)
                if isStable(scalar) {
                    flush(position)
                    chunkStart = position
                    chunkIsStable = true
                } else {
                    chunkIsStable = false
                }
                position += length
            }
            flush(buffer.count)
            return result
        }
    }
}
