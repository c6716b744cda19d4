/// GPT-2's reversible byte <-> printable character mapping (`bytes_to_unicode` in `tokenizers`' byte_level.rs).
///
/// Printable Latin-1 bytes map to themselves; the other 68 bytes map to U+0100 upward in byte order. The BPE
/// vocabulary of a byte-level tokenizer is written in these characters, so at load we map each vocabulary entry
/// back to raw bytes and the encoder never builds the mapped strings.
public enum ByteLevelAlphabet {
    /// `[256]`: byte -> character.
    static let byteToScalar: [Unicode.Scalar] = {
        var table = [Unicode.Scalar](repeating: " ", count: 256)
        var extra: UInt32 = 0
        for byte in 0..<256 {
            let printable = (0x21...0x7E).contains(byte) || (0xA1...0xAC).contains(byte) || (0xAE...0xFF).contains(byte)
            if printable {
                table[byte] = Unicode.Scalar(UInt8(byte))
            } else {
                table[byte] = Unicode.Scalar(256 + extra) ?? " "
                extra += 1
            }
        }
        return table
    }()

    /// Character -> byte, or nil when the character is not part of the alphabet.
    static func byte(for scalar: Unicode.Scalar) -> UInt8? {
        let value = scalar.value
        if (0x21...0x7E).contains(value) || (0xA1...0xAC).contains(value) || (0xAE...0xFF).contains(value) {
            return UInt8(value)
        }
        guard value >= 256 && value < 256 + 68 else { return nil }
        return scalarToByteExtra[Int(value - 256)]
    }

    private static let scalarToByteExtra: [UInt8] = {
        var result: [UInt8] = []
        for byte in 0..<256 {
            let printable = (0x21...0x7E).contains(byte) || (0xA1...0xAC).contains(byte) || (0xAE...0xFF).contains(byte)
            if !printable { result.append(UInt8(byte)) }
        }
        return result
    }()

    /// Raw bytes of a token written in the alphabet, or nil if some character is outside it.
    public static func decode(_ token: String) -> [UInt8]? {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(token.unicodeScalars.count)
        for scalar in token.unicodeScalars {
            guard let byte = byte(for: scalar) else { return nil }
            bytes.append(byte)
        }
        return bytes
    }

    /// The alphabet spelling of raw bytes.
    public static func encode(_ bytes: some Sequence<UInt8>) -> String {
        var result = String.UnicodeScalarView()
        for byte in bytes { result.append(byteToScalar[Int(byte)]) }
        return String(result)
    }
}
