/// Per-call cache from a pre-tokenized piece (its bytes) to its BPE ids, for long inputs where words repeat.
///
/// Open addressing with linear probing; keys and ids live in two flat arenas, so lookups never allocate. It stops
/// accepting entries when half full (no eviction: a cache miss only costs the merge it would have saved).
/// Owned by one encode call, so it needs no lock (`tokenizers` shares one behind an `RwLock` instead).
struct WordCache {
    static let maxKeyLength = 48

    private struct Entry {
        var hash: UInt64 = 0
        var keyOffset: Int32 = -1  // -1: empty slot
        var keyLength: Int32 = 0
        var idsOffset: Int32 = 0
        var idsCount: Int32 = 0
    }

    private var entries: [Entry]  // [capacity]
    private var keyArena: [UInt8] = []
    private var idArena: [UInt32] = []
    private let mask: Int
    private var count = 0

    /// `inputSize`: bytes of the text being encoded (sizes the table).
    init(inputSize: Int) {
        var capacity = 1024
        while capacity < inputSize / 4 && capacity < 1 << 18 { capacity <<= 1 }
        entries = [Entry](repeating: Entry(), count: capacity)
        mask = capacity - 1
        keyArena.reserveCapacity(capacity * 4)
        idArena.reserveCapacity(capacity * 2)
    }

    @inline(__always)
    static func hash(_ key: UnsafeBufferPointer<UInt8>) -> UInt64 {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in key { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
        return hash
    }

    /// Appends the cached ids of `key` to `output` and returns true, or returns false on a miss.
    @inline(__always)
    func appendIds(of key: UnsafeBufferPointer<UInt8>, hash: UInt64, to output: inout [UInt32]) -> Bool {
        var index = Int(truncatingIfNeeded: hash >> 7) & mask
        while true {
            let entry = entries[index]
            if entry.keyOffset < 0 { return false }
            if entry.hash == hash && Int(entry.keyLength) == key.count {
                let offset = Int(entry.keyOffset)
                let equal = keyArena.withUnsafeBufferPointer { arena in
                    var same = true
                    for k in 0..<key.count where arena[offset + k] != key[k] {
                        same = false
                        break
                    }
                    return same
                }
                if equal {
                    let start = Int(entry.idsOffset)
                    output.append(contentsOf: idArena[start..<(start + Int(entry.idsCount))])
                    return true
                }
            }
            index = (index + 1) & mask
        }
    }

    @inline(__always)
    mutating func insert(_ key: UnsafeBufferPointer<UInt8>, hash: UInt64, ids: ArraySlice<UInt32>) {
        guard count * 2 < entries.count else { return }
        var index = Int(truncatingIfNeeded: hash >> 7) & mask
        while entries[index].keyOffset >= 0 { index = (index + 1) & mask }
        entries[index] = Entry(
            hash: hash, keyOffset: Int32(keyArena.count), keyLength: Int32(key.count), idsOffset: Int32(idArena.count),
            idsCount: Int32(ids.count))
        keyArena.append(contentsOf: key)
        idArena.append(contentsOf: ids)
        count += 1
    }
}

