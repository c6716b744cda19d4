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

/// Finds stop strings in generated text across token boundaries (§6.5). Text that could still be the beginning of a
/// stop string is held back until resolved.
public struct StopStringMatcher: Sendable {
    private let stops: [[UInt8]]
    private var held: [UInt8] = []
    public private(set) var matched = false
    /// The stop string that matched (the earliest in the output), nil before a match.
    public private(set) var matchedStop: String?

    public init(stops: [String]) { self.stops = stops.map { Array($0.utf8) }.filter { !$0.isEmpty } }

    /// Appends a piece; returns the bytes that can be released. After a match, the output ends right before the
    /// earliest match and `matched` is true.
    public mutating func append(_ piece: [UInt8]) -> [UInt8] {
        guard !matched else { return [] }
        if stops.isEmpty { return piece }
        held += piece
        var earliest: Int?
        var earliestStop: [UInt8] = []
        for stop in stops {
            if let index = ByteSearch.firstIndex(of: stop, in: held), index < (earliest ?? Int.max) {
                earliest = index
                earliestStop = stop
            }
        }
        if let earliest {
            matched = true
            matchedStop = String(decoding: earliestStop, as: UTF8.self)
            let released = Array(held[..<earliest])
            held = []
            return released
        }
        var holdCount = 0
        for stop in stops { holdCount = max(holdCount, ByteSearch.partialSuffixLength(of: held, prefixOf: stop)) }
        let released = Array(held[..<(held.count - holdCount)])
        held.removeFirst(held.count - holdCount)
        return released
    }

    /// End of generation without a match: everything held is real output.
    public mutating func flush() -> [UInt8] {
        defer { held = [] }
        return matched ? [] : held
    }
}
