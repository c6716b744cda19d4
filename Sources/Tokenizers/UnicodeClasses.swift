/// Character classes the GPT-style pre-tokenizer patterns test, per Unicode scalar.
///
/// `\p{L}` is general category L (Lu, Ll, Lt, Lm, Lo), `\p{N}` is N (Nd, Nl, No) and `\s` is the White_Space
/// property, as Oniguruma (the engine `tokenizers` uses) defines them. The table is built once from the standard
/// library's Unicode data: a two-stage lookup (`blockIndex[scalar >> 8]` then 256 entries per distinct block), so a
/// lookup is two loads and never allocates.
enum CharClass: UInt8 {
    case other = 0
    case letter = 1
    case number = 2
    case whitespace = 3
}

struct UnicodeClassTable: Sendable {
    static let shared = UnicodeClassTable()

    private let blockIndex: [UInt16]  // [0x1100]: scalar >> 8 -> block number
    private let blocks: [UInt8]  // [blockCount * 256]: CharClass raw values
    /// Extra flags per scalar: bit 0 = `\w` (letter, mark, number, connector punctuation), bit 1 = punctuation
    /// (general category P), bit 2 = mark (M).
    private let flagBlockIndex: [UInt16]
    private let flagBlocks: [UInt8]

    private init() {
        var index = [UInt16](repeating: 0, count: 0x1100)
        var blocks: [UInt8] = []
        var seen: [[UInt8]: UInt16] = [:]
        var flagIndex = [UInt16](repeating: 0, count: 0x1100)
        var flagBlocks: [UInt8] = []
        var flagSeen: [[UInt8]: UInt16] = [:]
        var block = [UInt8](repeating: 0, count: 256)
        var flagBlock = [UInt8](repeating: 0, count: 256)
        for high in 0..<0x1100 {
            for low in 0..<256 {
                let value = UInt32(high << 8 | low)
                guard let scalar = Unicode.Scalar(value) else {
                    block[low] = CharClass.other.rawValue
                    flagBlock[low] = 0
                    continue
                }
                let (charClass, flags) = Self.classify(scalar)
                block[low] = charClass.rawValue
                flagBlock[low] = flags
            }
            if let existing = seen[block] {
                index[high] = existing
            } else {
                let number = UInt16(seen.count)
                seen[block] = number
                index[high] = number
                blocks.append(contentsOf: block)
            }
            if let existing = flagSeen[flagBlock] {
                flagIndex[high] = existing
            } else {
                let number = UInt16(flagSeen.count)
                flagSeen[flagBlock] = number
                flagIndex[high] = number
                flagBlocks.append(contentsOf: flagBlock)
            }
        }
        self.blockIndex = index
        self.blocks = blocks
        self.flagBlockIndex = flagIndex
        self.flagBlocks = flagBlocks
    }

    private static func classify(_ scalar: Unicode.Scalar) -> (CharClass, UInt8) {
        let properties = scalar.properties
        var flags: UInt8 = 0
        let charClass: CharClass
        switch properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter:
            charClass = .letter
            flags |= 1
        case .decimalNumber, .letterNumber, .otherNumber:
            charClass = .number
            flags |= 1
        case .nonspacingMark, .spacingMark, .enclosingMark:
            charClass = properties.isWhitespace ? .whitespace : .other
            flags |= 1 | 4
        case .connectorPunctuation:
            charClass = .other
            flags |= 1 | 2
        case .dashPunctuation, .openPunctuation, .closePunctuation, .initialPunctuation, .finalPunctuation,
            .otherPunctuation:
            charClass = properties.isWhitespace ? .whitespace : .other
            flags |= 2
        default:
            charClass = properties.isWhitespace ? .whitespace : .other
        }
        if properties.isAlphabetic { flags |= 1 }
        return (charClass, flags)
    }

    @inline(__always)
    func charClass(_ value: UInt32) -> CharClass {
        guard value < 0x110000 else { return .other }
        let block = Int(blockIndex[Int(value >> 8)])
        return CharClass(rawValue: blocks[block << 8 | Int(value & 0xFF)]) ?? .other
    }

    @inline(__always)
    private func flags(_ value: UInt32) -> UInt8 {
        guard value < 0x110000 else { return 0 }
        let block = Int(flagBlockIndex[Int(value >> 8)])
        return flagBlocks[block << 8 | Int(value & 0xFF)]
    }

    /// `\w` as the Rust `regex` crate defines it (approximately: alphabetic, marks, numbers, connector punctuation).
    func isWordCharacter(_ value: UInt32) -> Bool { flags(value) & 1 != 0 }
    /// General category P (what Rust's `char::is_ascii_punctuation` and the `Punctuation` pre-tokenizer test).
    func isPunctuation(_ value: UInt32) -> Bool {
        flags(value) & 2 != 0 || (value < 0x80 && Self.asciiPunctuation(UInt8(value)))
    }

    private static func asciiPunctuation(_ byte: UInt8) -> Bool {
        (0x21...0x2F).contains(byte) || (0x3A...0x40).contains(byte) || (0x5B...0x60).contains(byte)
            || (0x7B...0x7E).contains(byte)
    }
}

/// Decodes one scalar from valid UTF-8 at `index`; returns the scalar value and its byte length.
@inline(__always)
func decodeScalar(_ bytes: UnsafeBufferPointer<UInt8>, _ index: Int) -> (UInt32, Int) {
    let b0 = UInt32(bytes[index])
    if b0 < 0x80 { return (b0, 1) }
    if b0 < 0xE0 {
        return ((b0 & 0x1F) << 6 | UInt32(bytes[index + 1] & 0x3F), 2)
    }
    if b0 < 0xF0 {
        return ((b0 & 0x0F) << 12 | UInt32(bytes[index + 1] & 0x3F) << 6 | UInt32(bytes[index + 2] & 0x3F), 3)
    }
    return (
        (b0 & 0x07) << 18 | UInt32(bytes[index + 1] & 0x3F) << 12 | UInt32(bytes[index + 2] & 0x3F) << 6
            | UInt32(bytes[index + 3] & 0x3F), 4
    )
}

/// Whether a scalar is White_Space (Rust's `char::is_whitespace`, Oniguruma's `\s`).
@inline(__always)
func isWhitespaceScalar(_ value: UInt32) -> Bool {
    UnicodeClassTable.shared.charClass(value) == .whitespace
}
