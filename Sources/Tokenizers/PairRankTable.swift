/// Open-addressing hash table from a merge pair `(leftId, rightId)` to `(rank, mergedId)`.
///
/// The BPE inner loop does one lookup per adjacent pair, so this avoids `Dictionary`'s SipHash and boxing: keys and
/// values are two flat `[UInt64]` arrays, linear probing, multiplicative hashing. Immutable after construction.
struct PairRankTable: Sendable {
    private static let emptyKey = UInt64.max
    private var keys: [UInt64]  // [capacity]
    private var values: [UInt64]  // [capacity]: rank << 32 | mergedId
    private let mask: Int

    init(expectedCount: Int) {
        var capacity = 16
        while capacity < expectedCount * 2 { capacity <<= 1 }
        keys = [UInt64](repeating: Self.emptyKey, count: capacity)
        values = [UInt64](repeating: 0, count: capacity)
        mask = capacity - 1
    }

    @inline(__always)
    private static func slot(_ key: UInt64, _ mask: Int) -> Int {
        Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> 29) & mask
    }

    /// Inserts or replaces (a later merge of the same pair wins, as in `tokenizers`' HashMap collect).
    mutating func insert(left: UInt32, right: UInt32, rank: UInt32, merged: UInt32) {
        let key = UInt64(left) << 32 | UInt64(right)
        var index = Self.slot(key, mask)
        while keys[index] != Self.emptyKey && keys[index] != key { index = (index + 1) & mask }
        keys[index] = key
        values[index] = UInt64(rank) << 32 | UInt64(merged)
    }

    /// `rank << 32 | mergedId`, or `UInt64.max` when the pair does not merge.
    @inline(__always)
    func lookup(_ left: UInt32, _ right: UInt32) -> UInt64 {
        let key = UInt64(left) << 32 | UInt64(right)
        return keys.withUnsafeBufferPointer { keyBuffer in
            var index = Self.slot(key, mask)
            while true {
                let stored = keyBuffer[index]
                if stored == key { return values[index] }
                if stored == Self.emptyKey { return UInt64.max }
                index = (index + 1) & mask
            }
        }
    }
}
