/// Small helpers over UTF-8 byte arrays. Cuts made at the start of an ASCII tag or of a stop string fall on
/// character boundaries because the input is valid UTF-8.
enum ByteSearch {
    /// First index where `needle` occurs in `haystack` at or after `start`.
    static func firstIndex(of needle: [UInt8], in haystack: [UInt8], from start: Int = 0) -> Int? {
        guard !needle.isEmpty, haystack.count >= needle.count else { return nil }
        var index = max(0, start)
        let last = haystack.count - needle.count
        let first = needle[0]
        while index <= last {
            if haystack[index] == first {
                var matched = true
                for offset in 1..<needle.count where haystack[index + offset] != needle[offset] {
                    matched = false
                    break
                }
                if matched { return index }
            }
            index += 1
        }
        return nil
    }

    /// Length of the longest suffix of `haystack` that is a proper prefix of `needle`.
    static func partialSuffixLength(of haystack: [UInt8], prefixOf needle: [UInt8]) -> Int {
        var length = min(needle.count - 1, haystack.count)
        while length > 0 {
            let start = haystack.count - length
            var matched = true
            for offset in 0..<length where haystack[start + offset] != needle[offset] {
                matched = false
                break
            }
            if matched { return length }
            length -= 1
        }
        return 0
    }

    static func isWhitespace(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 }
}
